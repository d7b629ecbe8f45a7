//! The contract from other languages: `examples/python-echo` (componentize-py) and
//! `examples/js-echo` (ComponentizeJS), built with their pinned tools, plugged with the
//! component and run under the host's policy against real servers on loopback. Each
//! exchanges lines, reads with a timeout, listens and accepts, and meets the contract's
//! errors as its language's exceptions, kind and message intact.
//!
//! The tools are installed by the tests themselves: componentize-py into a virtual
//! environment under `target/`, ComponentizeJS from `tests/node`'s lock file. Where Python or
//! Node is missing the tests say SKIPPED on stderr; on CI (`CI` set) they fail instead.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use alore_socket_host::{Allow, CommandOutput, Policy, Stdio};

use crate::common::*;
use crate::node::{NODE_DIR, npm_packages};

/// The componentize-py the Python example is built with.
const COMPONENTIZE_PY: &str = "0.25.1";
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

/// A language's example, built once per test process; `None` when its toolchain is missing
/// (off CI only).
#[derive(Clone, Copy)]
enum Language {
    Python,
    JavaScript,
}

impl Language {
    const ALL: [Language; 2] = [Language::Python, Language::JavaScript];

    fn name(self) -> &'static str {
        match self {
            Language::Python => "python-echo",
            Language::JavaScript => "js-echo",
        }
    }

    /// The example plugged with the component, or `None` (with a SKIPPED line) when the
    /// language's toolchain is not on this machine.
    fn composed(self) -> Option<&'static [u8]> {
        static PYTHON: OnceLock<Option<Vec<u8>>> = OnceLock::new();
        static JAVASCRIPT: OnceLock<Option<Vec<u8>>> = OnceLock::new();
        let (cell, tool) = match self {
            Language::Python => (&PYTHON, "python3"),
            Language::JavaScript => (&JAVASCRIPT, "node"),
        };
        cell.get_or_init(|| {
            if Command::new(tool).arg("--version").output().is_err() {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{tool} is missing on CI: the {} tests must run there",
                    self.name()
                );
                // Written past libtest's capture (which takes only `print!`s), so it shows.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {} tests: {tool} is not installed",
                    self.name()
                );
                return None;
            }
            let app = match self {
                Language::Python => build_python(),
                Language::JavaScript => build_javascript(),
            };
            let composed = runtime().compose(&app, &Policy::deny_all()).unwrap();
            // Compiled once here, so that each test's run does not pay for it.
            runtime().compile(&composed).unwrap();
            Some(composed)
        })
        .as_deref()
    }

    /// Run the example with `args` and `stdin` under `policy`.
    fn run(self, policy: &Policy, args: &[&str], stdin: &[u8]) -> Option<CommandOutput> {
        let app = self.composed()?;
        let argv: Vec<String> = std::iter::once(self.name())
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect();
        let stdio = Stdio::Capture {
            stdin: stdin.to_vec(),
        };
        Some(
            alore_socket_host::blocking::run_command(runtime(), app, policy, &argv, stdio).unwrap(),
        )
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

fn succeed(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// componentize-py, pinned, in a virtual environment of its own under `target/`.
fn componentize_py() -> PathBuf {
    let venv = target_dir().join(format!("tools/componentize-py-{COMPONENTIZE_PY}"));
    let tool = venv.join("bin/componentize-py");
    if !tool.exists() {
        succeed(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        );
        succeed(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("componentize-py=={COMPONENTIZE_PY}")),
            "pip install componentize-py",
        );
    }
    tool
}

/// The Python example `name` (`examples/NAME`: `app.py` and its `wit/`), built with
/// componentize-py.
fn build_python_example(name: &str) -> Vec<u8> {
    let example = Path::new(EXAMPLES).join(name);
    let out = target_dir().join(format!("{name}.wasm"));
    succeed(
        Command::new(componentize_py())
            .current_dir(&example)
            .args(["-d", "wit", "-w", "app", "componentize", "app", "-o"])
            .arg(&out),
        "componentize-py",
    );
    std::fs::read(out).unwrap()
}

fn build_python() -> Vec<u8> {
    build_python_example("python-echo")
}

fn build_javascript() -> Vec<u8> {
    npm_packages();
    let example = Path::new(EXAMPLES).join("js-echo");
    let out = target_dir().join("js-echo.wasm");
    succeed(
        Command::new("node")
            .current_dir(NODE_DIR)
            .arg("componentize.mjs")
            .arg(example.join("app.js"))
            .arg(example.join("wit"))
            .arg("app")
            .arg(&out),
        "componentize.mjs",
    );
    std::fs::read(out).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn each_language_exchanges_lines_composed() {
    for language in Language::ALL {
        let server = line_echo_server("echo: ");
        let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
        let port = server.port.to_string();
        let Some(out) = language.run(&policy, &["127.0.0.1", &port], b"one\ntwo\n") else {
            continue;
        };
        let name = language.name();
        assert_eq!(out.code, 0, "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "echo: one\necho: two\n", "{name}");
        server.join();
    }
}

#[test]
fn each_language_listens_and_accepts_one_connection() {
    for language in Language::ALL {
        if language.composed().is_none() {
            continue;
        }
        let port = free_port();
        let policy = Policy::deny_all()
            .allow_listen(Allow::host(Ipv4Addr::LOCALHOST).port(port))
            .allow(Allow::host(Ipv4Addr::LOCALHOST));
        let listening = std::thread::spawn(move || {
            let port = port.to_string();
            language.run(&policy, &["--listen", &port], b"").unwrap()
        });
        // The component listens once it has started: try until it does.
        let started = Instant::now();
        let mut client = loop {
            match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
                Ok(client) => break client,
                Err(e) => {
                    assert!(started.elapsed() < PATIENCE, "never listened: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        client.write_all(b"first\nsecond\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut echoed = String::new();
        client.read_to_string(&mut echoed).unwrap();
        let name = language.name();
        assert_eq!(echoed, "first\nsecond\n", "{name}");
        let out = listening.join().unwrap();
        assert_eq!(out.code, 0, "{name}: {}", text(&out.stderr));
    }
}

/// The one line a failed run printed, after checking that it failed.
fn failure(language: Language, out: CommandOutput) -> String {
    let name = language.name();
    let stderr = text(&out.stderr);
    assert_eq!(out.code, 1, "{name}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
    stderr.trim_end().to_owned()
}

#[test]
fn contract_errors_arrive_as_each_languages_exceptions() {
    for language in Language::ALL {
        let name = language.name();
        // The policy says no: access-denied, with the component's own message.
        let server = Server::start(|mut s| read_to_end(&mut s));
        let port = server.port.to_string();
        let Some(out) = language.run(&Policy::deny_all(), &["127.0.0.1", &port], b"x\n") else {
            continue;
        };
        assert_eq!(
            failure(language, out),
            format!(
                "{name}: IoError (access-denied): Permission denied by the host's network \
                 policy [EACCES]: no address rule allows 127.0.0.1:{port}, and no lookup of \
                 an allowed name here answered it"
            )
        );
        drop(TcpStream::connect((Ipv4Addr::LOCALHOST, server.port)).unwrap());
        server.join();
        // A name the lookups do not know: name-error.
        let policy = with_test_names(Policy::deny_all());
        let out = language
            .run(&policy, &["unknown.test", "80"], b"x\n")
            .unwrap();
        assert_eq!(
            failure(language, out),
            format!("{name}: NameError: Unknown host")
        );
        // A malformed name: value-error, before any lookup.
        let out = language.run(&policy, &["a b", "80"], b"x\n").unwrap();
        assert_eq!(
            failure(language, out),
            format!("{name}: ValueError: Host name contains a space, NUL or control character")
        );
    }
}

#[test]
fn each_language_reads_with_a_timeout() {
    for language in Language::ALL {
        if language.composed().is_none() {
            continue;
        }
        let (server, release) = silent_server();
        let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
        let port = server.port.to_string();
        let out = language
            .run(&policy, &["127.0.0.1", &port], b"hello?\n")
            .unwrap();
        let line = failure(language, out);
        assert!(
            line.starts_with(&format!("{}: IoError (timed-out): ", language.name())),
            "{line}"
        );
        drop(release);
        server.join();
    }
}

/// `examples/python-p3`, built with componentize-py and plugged with the WASI 0.3 edition;
/// `None` (with a SKIPPED line) when Python is missing, off CI only.
fn python_p3() -> Option<&'static [u8]> {
    static COMPOSED: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    COMPOSED
        .get_or_init(|| {
            if Command::new("python3").arg("--version").output().is_err() {
                assert!(std::env::var_os("CI").is_none(), "python3 is missing on CI");
                let _ = writeln!(std::io::stderr(), "SKIPPED python-p3: python3 is missing");
                return None;
            }
            let app = build_python_example("python-p3");
            Some(runtime().compose(&app, &Policy::deny_all()).unwrap())
        })
        .as_deref()
}

#[test]
fn python_asyncio_reads_from_many_servers_at_once_through_the_wasi_0_3_edition() {
    const SERVERS: usize = 5;
    let Some(app) = python_p3() else { return };
    // Each server sends only once every server has its connection: a client that connected
    // to one at a time would get nothing from the first (which gives up waiting), and fail.
    let connected = std::sync::Arc::new((std::sync::Mutex::new(0), std::sync::Condvar::new()));
    let servers: Vec<_> = (0..SERVERS)
        .map(|i| {
            let connected = std::sync::Arc::clone(&connected);
            Server::start(move |mut peer| {
                let (count, changed) = &*connected;
                let mut count = count.lock().unwrap();
                *count += 1;
                changed.notify_all();
                let (count, _) = changed
                    .wait_timeout_while(count, PATIENCE, |count| *count < SERVERS)
                    .unwrap();
                if *count == SERVERS {
                    let lines: String = (0..100 + i).map(|j| format!("line {j}\n")).collect();
                    peer.write_all(lines.as_bytes()).unwrap();
                }
            })
        })
        .collect();
    let ports: Vec<String> = servers.iter().map(|s| s.port.to_string()).collect();
    let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST));
    let argv: Vec<String> = std::iter::once("python-p3".to_owned())
        .chain(ports.iter().cloned())
        .collect();
    let stdio = Stdio::Capture { stdin: Vec::new() };
    let out =
        alore_socket_host::blocking::run_command(runtime(), app, &policy, &argv, stdio).unwrap();
    assert_eq!(out.code, 0, "{}", text(&out.stderr));
    let expected: String = ports
        .iter()
        .enumerate()
        .map(|(i, port)| format!("{port}: {} lines, the last 'line {}'\n", 100 + i, 99 + i))
        .collect();
    assert_eq!(text(&out.stdout), expected);
    for server in servers {
        server.join();
    }
}
