//! The cluster path, for real: Debian's containerd, started here as root with its own config,
//! state and socket under a temporary directory, imports images that `alore-socket image`
//! made and runs them with `containerd-shim-alore-v1` (`shim/`, built here) against servers
//! on 127.0.0.1 (`ctr run --net-host`: the container shares this machine's loopback). It stops
//! what it started, by PID.
//!
//! Where containerd, ctr or runc is missing, or the test does not run as root, it says
//! SKIPPED on stderr; on CI (`CI` set) it fails instead: `.ci/run` installs them.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long containerd may take to answer on its socket after it starts.
const STARTUP: Duration = Duration::from_secs(30);
/// How long a detached container may take to listen (the shim compiles the component first:
/// seconds in a debug build).
const LISTENING: Duration = Duration::from_secs(120);
/// The longest a one-shot container may run, from `ctr run` to its exit (a debug build of the
/// shim compiles the component first: seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// The containerd namespace the test's images and containers live in, with the test
/// process's ID after it: the shim keeps its containers' state under
/// `/run/containerd/alore/NAMESPACE`, outside the test's directory.
const NAMESPACE: &str = "alore-socket-test";
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// A containerd of the test's own; stopped, by PID, when dropped.
struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
    shim: PathBuf,
    namespace: String,
}

impl Containerd {
    /// containerd started, with the shim built; `None` (SKIPPED) where it cannot run.
    fn start() -> Option<Containerd> {
        let missing: Vec<&str> = ["containerd", "ctr", "runc"]
            .into_iter()
            .filter(|tool| Command::new(tool).arg("--version").output().is_err())
            .collect();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
        if !missing.is_empty() || !root {
            let why = if root {
                format!("{} not installed", missing.join(", "))
            } else {
                "not root".to_owned()
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "the containerd test must run on CI, and cannot: {why}"
            );
            // Past libtest's capture, so that it shows.
            let _ = writeln!(std::io::stderr(), "SKIPPED the containerd test: {why}");
            return None;
        }
        let shim = build_shim();
        let dir = tempfile::Builder::new()
            .prefix("alore-containerd-")
            .tempdir()
            .unwrap();
        let d = dir.path().display();
        let config = format!(
            "version = 2\n\
             root = \"{d}/root\"\n\
             state = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/debug.sock\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let namespace = format!("{NAMESPACE}-{}", std::process::id());
        let containerd = Containerd {
            child,
            dir,
            shim,
            namespace,
        };
        let start = Instant::now();
        while !containerd.ctr(&["version"]).status.success() {
            assert!(
                start.elapsed() < STARTUP,
                "containerd did not start: {}",
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(containerd)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    fn ctr_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", &self.namespace])
            .args(args);
        command
    }

    fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `alore-socket POLICY… image APP -o TARBALL --name NAME`, imported.
    fn image(&self, policy: &[&str], app: &str, tarball: &Path, name: &str) {
        let mut args = policy.to_vec();
        args.extend([
            "image",
            app,
            "-o",
            tarball.to_str().unwrap(),
            "--name",
            name,
        ]);
        alore_socket(&args);
        self.import(tarball);
    }

    /// `ctr image import` of `tarball`.
    fn import(&self, tarball: &Path) {
        let out = self.ctr(&["image", "import", tarball.to_str().unwrap()]);
        assert!(out.status.success(), "import: {}", text(&out.stderr));
    }

    /// `ctr run --rm --net-host` of `image` with the shim, `args` its process (the entrypoint
    /// first). No stdin: runwasi's library opens the stdin FIFO for reading and writing, so a
    /// container never sees the end of it (docs/cluster.md).
    fn run(&self, image: &str, id: &str, args: &[&str]) -> Output {
        let shim = self.shim.to_str().unwrap();
        let mut run = vec!["run", "--rm", "--net-host", "--runtime", shim, image, id];
        run.extend(args);
        let child = self
            .ctr_command(&run)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.within(RUN_TIMEOUT, child, id)
    }

    /// `child`'s output, or a failure (with containerd's log) when it runs past `limit`.
    fn within(&self, limit: Duration, mut child: Child, what: &str) -> Output {
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "{what} ran past {limit:?}: {}{}\n{}",
                    text(&out.stdout),
                    text(&out.stderr),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // A failed test can leave a container running: kill it and delete it, so that its
        // shim exits and its rootfs is unmounted.
        let tasks = text(&self.ctr(&["task", "ls", "-q"]).stdout);
        for id in tasks.split_whitespace() {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", id]);
            let _ = self.ctr(&["task", "delete", "-f", id]);
        }
        let containers = text(&self.ctr(&["container", "ls", "-q"]).stdout);
        for id in containers.split_whitespace() {
            let _ = self.ctr(&["container", "delete", id]);
        }
        // SIGTERM, so that containerd shuts down cleanly; then wait for it.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(Path::new("/run/containerd/alore").join(&self.namespace));
        // Whatever is still mounted under the directory (a rootfs, the snapshotter's) goes
        // before the directory does.
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        for point in mounts
            .lines()
            .filter_map(|line| line.split(' ').nth(1))
            .filter(|point| point.starts_with(&dir))
        {
            let _ = Command::new("umount").arg("-l").arg(point).status();
        }
    }
}

/// Build the shim (its own workspace and lock) into the workspace's target directory, where
/// it shares what it can with the host's build; its path.
fn build_shim() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(WORKSPACE).join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--locked", "--manifest-path"])
        .arg(Path::new(WORKSPACE).join("shim/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success(), "the shim's build failed");
    target.join("debug/containerd-shim-alore-v1")
}

fn alore_socket(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_alore-socket"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "alore-socket {args:?}: {}",
        text(&out.stderr)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An HTTP/1.0 server on 127.0.0.1 that answers every request with `body`; its port, and a
/// channel that gets a message per request served.
fn http_server(body: &'static [u8]) -> (u16, std::sync::mpsc::Receiver<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (served, requests) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nServer: test\r\n\r\n");
            let _ = stream.write_all(body);
            let _ = served.send(());
        }
    });
    (port, requests)
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn containerd_runs_images_under_the_policy_they_carry() {
    let Some(containerd) = Containerd::start() else {
        return;
    };
    let dir = containerd.dir.path().to_owned();
    let http_get =
        alore_socket_wasm_build::build_wasm("alore-socket-http-get", "http-get").unwrap();
    let http_get = http_get.to_str().unwrap();
    let (port, served) = http_server(b"through the shim\n");
    let url = format!("http://127.0.0.1:{port}/");

    // Allowed: the page comes back, and so does the exit status.
    let allowed = dir.join("allowed.tar");
    let rule = format!("127.0.0.1:{port}");
    containerd.image(
        &["--allow", &rule],
        http_get,
        &allowed,
        "localhost/http-get:allowed",
    );
    let started = Instant::now();
    let out = containerd.run(
        "localhost/http-get:allowed",
        "allowed",
        &["/app.wasm", &url],
    );
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stderr),
        containerd.log()
    );
    assert_eq!(text(&out.stdout), "HTTP/1.0 200 OK\nthrough the shim\n");
    assert_eq!(served.recv_timeout(Duration::from_secs(5)), Ok(()));
    eprintln!("a container of http-get, from ctr run to its exit: {took:?}");

    // The same app, allowed another port: denied by the sandbox, saying so; status 1.
    let other = format!("127.0.0.1:{}", free_port());
    let denied = dir.join("denied.tar");
    containerd.image(
        &["--allow", &other],
        http_get,
        &denied,
        "localhost/http-get:denied",
    );
    let out = containerd.run("localhost/http-get:denied", "denied", &["/app.wasm", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("AccessDenied") && stderr.contains("network policy"),
        "{stderr}"
    );

    // An image without a policy, as another tool writes one: no network at all.
    let foreign = dir.join("foreign.tar");
    without_policy(&allowed, &foreign, "localhost/http-get:foreign");
    containerd.import(&foreign);
    let out = containerd.run(
        "localhost/http-get:foreign",
        "foreign",
        &["/app.wasm", &url],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("AccessDenied") && stderr.contains("network policy"),
        "{stderr}"
    );
    // Neither denied container reached the server.
    assert!(served.try_recv().is_err());

    // A WASI 0.3 server in a container: it serves a client on 127.0.0.1 until
    // `ctr task kill` stops it.
    let echo_server = alore_socket_wasm_build::build_wasm(
        "alore-socket-echo-server-p3",
        "alore_socket_echo_server_p3",
    )
    .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let image = dir.join("echo.tar");
    containerd.image(
        &["--allow-listen", &listen, "--allow", "127.0.0.0/8"],
        echo_server.to_str().unwrap(),
        &image,
        "localhost/echo-server:1",
    );
    let shim = containerd.shim.to_str().unwrap();
    let port_text = port.to_string();
    let run = containerd
        .ctr_command(&[
            "run",
            "--rm",
            "--net-host",
            "--runtime",
            shim,
            "localhost/echo-server:1",
            "echo",
            "/app.wasm",
            &port_text,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut stream = loop {
        match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            Ok(stream) => break stream,
            Err(e) => {
                assert!(
                    started.elapsed() < LISTENING,
                    "the server never listened: {e}\n{}",
                    containerd.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    eprintln!(
        "a WASI 0.3 server, from ctr run to listening: {:?}",
        started.elapsed()
    );
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(b"ping\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).unwrap();
    assert_eq!(reply, "ping\n");
    let out = containerd.ctr(&["task", "kill", "echo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Ended as SIGTERM ends a process: 128 + 15, which `ctr run` passes on.
    let out = containerd.within(STARTUP, run, "the server after ctr task kill");
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
}

/// The plain image at `ours` with its policy file taken out (as another tool would write an
/// image of the same app): a new layout at `out` named `name`, made with the system's tar.
fn without_policy(ours: &Path, out: &Path, name: &str) {
    use sha2::{Digest, Sha256};
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let tar = |args: &[&std::ffi::OsStr]| {
        let status = Command::new("tar").args(args).status().unwrap();
        assert!(status.success(), "tar {args:?}");
    };
    std::fs::create_dir_all(&layout).unwrap();
    tar(&[
        "-xf".as_ref(),
        ours.as_os_str(),
        "-C".as_ref(),
        layout.as_os_str(),
    ]);
    let blob = |digest: &serde_json::Value| {
        layout
            .join("blobs/sha256")
            .join(&digest.as_str().unwrap()["sha256:".len()..])
    };
    let json = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let mut index = json(layout.join("index.json"));
    let mut manifest = json(blob(&index["manifests"][0]["digest"]));
    let mut config = json(blob(&manifest["config"]["digest"]));
    tar(&[
        "-xf".as_ref(),
        blob(&manifest["layers"][0]["digest"]).as_os_str(),
        "-C".as_ref(),
        rootfs.as_os_str(),
    ]);
    assert!(rootfs.join("alore-socket/policy.json").is_file());
    let layer = work.path().join("layer.tar");
    tar(&[
        "-cf".as_ref(),
        layer.as_os_str(),
        "-C".as_ref(),
        rootfs.as_os_str(),
        "app.wasm".as_ref(),
    ]);
    let add = |bytes: Vec<u8>, media_type: &str| {
        let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
        std::fs::write(blob(&serde_json::Value::from(digest.clone())), &bytes).unwrap();
        serde_json::json!({ "mediaType": media_type, "digest": digest, "size": bytes.len() })
    };
    let layer = add(
        std::fs::read(layer).unwrap(),
        "application/vnd.oci.image.layer.v1.tar",
    );
    config["rootfs"]["diff_ids"] = serde_json::json!([layer["digest"]]);
    config["config"].as_object_mut().unwrap().remove("Labels");
    manifest["config"] = add(
        config.to_string().into_bytes(),
        "application/vnd.oci.image.config.v1+json",
    );
    manifest["layers"] = serde_json::json!([layer]);
    manifest.as_object_mut().unwrap().remove("annotations");
    let mut entry = add(
        manifest.to_string().into_bytes(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    entry["annotations"] = serde_json::json!({ "io.containerd.image.name": name });
    index["manifests"] = serde_json::json!([entry]);
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    tar(&[
        "-cf".as_ref(),
        out.as_os_str(),
        "-C".as_ref(),
        layout.as_os_str(),
        "oci-layout".as_ref(),
        "index.json".as_ref(),
        "blobs".as_ref(),
    ]);
}
