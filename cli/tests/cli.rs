//! The `alore-socket` command, run as a user runs it. Every connection stays on 127.0.0.1, and
//! the reverse lookups are pointed (`--resolver`) at a loopback port where nobody listens, so
//! no DNS query can reach this machine's resolver.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Output, Stdio};

fn alore_socket() -> Command {
    Command::new(env!("CARGO_BIN_EXE_alore-socket"))
}

/// A loopback `IP:PORT` where nobody listens, for `--resolver`.
fn nowhere() -> String {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

fn run(args: &[&str]) -> Output {
    alore_socket()
        .args(args)
        .output()
        .expect("alore-socket runs")
}

/// Run with `args`, feeding `stdin`; stdout and stderr are captured.
fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = alore_socket()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("alore-socket runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Run with `args`: it must fail with status `code` and one line on stderr that holds
/// `expected`, and never panic.
fn one_line_error(args: &[&str], code: i32, expected: &str) {
    let out = alore_socket()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("alore-socket: "), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_prints_a_correct_session() {
    let out = run(&["demo"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for expected in [
        "get-host-by-name(\"localhost\")                  = \"127.0.0.1\"",
        "connected 127.0.0.1:",
        "= \"hello, component\"",
        "fails: IoError (closed)",
        "= \"held until a line ends; now it does\"",
        "fails: IoError (connection-refused)",
        "fails: IoError (access-denied)",
        "fails: NameError: Unknown host",
        "fails: ValueError: Empty host name",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

/// The first name of 127.0.0.1 in this machine's hosts file, which `reverse` must find.
fn hosts_name_of_loopback() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|line| {
        let mut fields = line.split('#').next()?.split_whitespace();
        (fields.next()? == "127.0.0.1")
            .then(|| fields.next().map(str::to_owned))
            .flatten()
    })
}

#[test]
fn reverse_and_hostname_print_real_answers() {
    let resolver = nowhere();
    let out = run(&["--resolver", &resolver, "reverse", "127.0.0.1"]);
    match hosts_name_of_loopback() {
        Some(name) => assert_eq!(text(&out.stdout).trim(), name, "{}", text(&out.stderr)),
        None => assert!(
            !out.status.success(),
            "no hosts entry, and no DNS answer either"
        ),
    }
    let out = run(&["--resolver", &resolver, "hostname"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let real = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_eq!(text(&out.stdout).trim(), real.trim());
}

#[test]
fn errors_are_one_line_and_a_failing_status() {
    let port = nowhere().rsplit(':').next().unwrap().to_owned();
    for args in [
        vec!["connect", "127.0.0.1", port.as_str()],
        vec!["reverse", "localhost"],
        vec!["--no-reverse-lookup", "hostname"],
        vec!["lookup", "localhost"],
    ] {
        one_line_error(&args, 1, "");
    }
}

/// Kills the server when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_and_connect_talk_to_each_other() {
    let (_server, _log, port) = serve(&[]);
    for (destination, buffering) in [("127.0.0.1", "unbuffered"), ("localhost", "buffered")] {
        let port = port.to_string();
        let args = ["connect", destination, &port, "--buffering", buffering];
        let out = run_with_stdin(&args, b"hello\nworld\n");
        assert!(out.status.success(), "{destination}");
        assert_eq!(text(&out.stdout), "hello\nworld\n", "{destination}");
    }
}

#[test]
fn serve_and_connect_talk_over_ipv6() {
    let (_server, _log, port) = serve(&["--address", "::1"]);
    let port = port.to_string();
    let out = run_with_stdin(&["connect", "::1", &port], b"six\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "six\n");
}

/// `alore-socket serve 0 EXTRA…`, killed when the first value drops; its log (stderr) after
/// the first line, and the port that line names ("echoing lines on 127.0.0.1:PORT").
fn serve(extra: &[&str]) -> (Killed, BufReader<std::process::ChildStderr>, u16) {
    let mut server = Killed(
        alore_socket()
            .args(["serve", "0"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut log = BufReader::new(server.0.stderr.take().unwrap());
    let mut first = String::new();
    log.read_line(&mut first).unwrap();
    let port = first
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    (server, log, port)
}

/// Send a line to `port` and read the echo.
fn echoes(port: u16, line: &str) -> String {
    use std::io::Read;
    let mut client = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    client.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = vec![0; line.len() + 1];
    client.read_exact(&mut reply).unwrap();
    text(&reply)
}

#[test]
fn serve_survives_five_hundred_peers_that_reset_at_once_and_still_echoes() {
    let (server, log, port) = serve(&[]);
    // Read the log as it comes, so that a full pipe never stops the server.
    let log = std::thread::spawn(move || {
        log.lines()
            .map_while(Result::ok)
            .filter(|line| line.contains("connection-reset"))
            .count()
    });
    for _ in 0..500 {
        let client = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        socket2::SockRef::from(&client)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
    }
    assert_eq!(echoes(port, "still here"), "still here\n");
    let mut server = server;
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    drop(server); // killed: its log ends
    let resets = log.join().unwrap();
    assert!(resets > 0, "the resets were seen and survived");
}

#[test]
fn serve_drops_a_silent_peer_after_its_idle_timeout() {
    let (_server, _log, port) = serve(&["--idle-timeout", "300"]);
    let mut silent = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    use std::io::Read;
    silent
        .read_to_end(&mut rest)
        .expect("closed by the server, not by our patience");
    assert!(rest.is_empty());
    assert_eq!(echoes(port, "next"), "next\n", "the next peer is served");
}

#[test]
fn serve_drops_a_trickling_peer_and_one_that_never_reads_and_then_serves_the_next() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    const LIMIT_MS: u64 = 250;
    let limit = LIMIT_MS.to_string();
    let (_server, _log, port) = serve(&["--idle-timeout", &limit, "--timeout", &limit]);
    let connect = || std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    // A byte every 50 ms and never a line feed: each wait is short, the line never ends.
    let mut trickler = connect();
    let trickling = std::thread::spawn(move || {
        for _ in 0..200 {
            if trickler.write_all(b"x").is_err() {
                return true; // dropped by the server
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    // Whole lines, never reading the echoes: the server's reply stalls once the buffers fill.
    let mut deaf = connect();
    let flooding = std::thread::spawn(move || {
        let line = [b"y".repeat(64 << 10), b"\n".to_vec()].concat();
        for _ in 0..1024 {
            if deaf.write_all(&line).is_err() {
                return true;
            }
        }
        false
    });
    let started = Instant::now();
    assert_eq!(echoes(port, "third"), "third\n");
    let waited = started.elapsed();
    assert!(trickling.join().unwrap(), "the trickler was dropped");
    assert!(
        flooding.join().unwrap(),
        "the peer that never reads was dropped"
    );
    // Served in turn, each held the server at most its limit (plus the filling of buffers):
    // about 0.7 s on an idle machine. The bound leaves room for a loaded one (1.1 s was seen
    // with a compile running on both cores) and still fails a server that lets either peer
    // hold it: the trickler alone would hold it for its ten seconds.
    assert!(
        waited < Duration::from_secs(3),
        "the third client waited {waited:?}"
    );
    let mut rest = Vec::new();
    let _ = connect().read_to_end(&mut rest); // the server is still there
}

#[test]
fn connect_gives_up_on_a_silent_server_after_its_timeout() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let out = run_with_stdin(
        &["connect", "127.0.0.1", &port, "--timeout", "300"],
        b"anyone?\n",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed-out"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    drop(held.join());
}

/// The composed line-client, built once.
fn line_client() -> std::path::PathBuf {
    alore_socket_wasm_build::build_wasm("alore-socket-line-client", "line-client").unwrap()
}

#[test]
fn run_allows_a_service_by_name_and_not_its_address() {
    // "localhost" comes from the hosts file: no DNS query leaves the machine.
    let port = line_echo_server().to_string();
    let app = line_client();
    let app = app.to_str().unwrap();
    let rule = format!("localhost:{port}");
    let by_name = run_with_stdin(&["--allow", &rule, "run", app, "localhost", &port], b"hi\n");
    assert!(by_name.status.success(), "{}", text(&by_name.stderr));
    assert_eq!(text(&by_name.stdout), "hi\n");
    // The same service by its address: never looked up in that run, so denied, saying why.
    let by_address = run_with_stdin(&["--allow", &rule, "run", app, "127.0.0.1", &port], b"hi\n");
    assert_eq!(by_address.status.code(), Some(1));
    let stderr = text(&by_address.stderr);
    assert!(
        stderr.contains("EACCES") && stderr.contains("no lookup of an allowed name"),
        "{stderr}"
    );
    for (rule, why) in [
        ("bücher.example:443", "xn--"),
        ("a.*.example:443", "wildcard"),
        ("redis.internal:0", "port"),
    ] {
        one_line_error(&["--allow", rule, "hostname"], 2, why);
    }
}

#[test]
fn run_grants_nothing_for_reverse_lookups_unless_asked() {
    // A "resolver" that is a TCP echo server: the reverse-lookup grant lets the whole
    // composition reach the resolver's address, so line-client can reach it only with that
    // grant.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let resolver = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let port = listener.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut writer = stream.try_clone().unwrap();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = writer.write_all(format!("{line}\n").as_bytes());
            }
        }
    });
    let app = line_client();
    let app = app.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["--resolver", &resolver];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["run", app, "127.0.0.1", &port]);
        run_with_stdin(&args, b"hi\n")
    };
    let denied = run(&[]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied.stderr));
    assert!(
        text(&denied.stderr).contains("EACCES"),
        "{}",
        text(&denied.stderr)
    );
    let granted = run(&["--allow-reverse-lookup"]);
    assert!(granted.status.success(), "{}", text(&granted.stderr));
    assert_eq!(
        text(&granted.stdout),
        "hi\n",
        "the grant reaches the application"
    );
}

#[test]
fn bad_command_lines_and_components_are_one_line_errors() {
    let not_wasm = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_wasm.path(), b"#!/bin/sh\necho not a component\n").unwrap();
    let given = not_wasm.path().to_str().unwrap();
    let port = nowhere().rsplit(':').next().unwrap().to_owned();
    for (args, code, expected) in [
        (vec!["--resolver", "127.0.0.1:0", "hostname"], 2, "port 0"),
        (
            vec!["--resolver", "localhost", "hostname"],
            2,
            "not IP[:PORT]",
        ),
        (vec!["--component", given, "hostname"], 1, given),
        (vec!["connect", "0.0.0.0", port.as_str()], 1, "IoError"),
        (vec!["connect", "a b", "80"], 1, "ValueError"),
        (
            vec!["--allow", "[fe80::1%eth0]:80", "hostname"],
            2,
            "zone indices",
        ),
        (
            vec!["--allow", "[::ffff:127.0.0.1]:80", "hostname"],
            2,
            "IPv4-mapped",
        ),
        (vec!["--allow", "[::1]/129", "hostname"], 2, "prefix length"),
        (vec!["connect", "", "80"], 1, "ValueError: Empty host name"),
        (
            vec!["--tls-ca", given, "connect", "127.0.0.1", port.as_str()],
            1,
            "--tls-ca needs --allow-tls",
        ),
        (
            vec!["--allow-tls", "--tls-ca", given, "hostname"],
            1,
            "no PEM certificate",
        ),
        (
            vec![
                "connect",
                "127.0.0.1",
                port.as_str(),
                "--server-name",
                "x.test",
            ],
            2,
            "--tls",
        ),
    ] {
        one_line_error(&args, code, expected);
    }
}

#[test]
fn a_destination_with_no_route_is_unreachable() {
    // A network namespace of the test's own (`unshare -n`) has no interface up and no route,
    // so the connect fails at once with ENETUNREACH, and no packet leaves it.
    let out = Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_alore-socket"))
        .args(["--allow", "10.0.0.0/8", "connect", "10.1.2.3", "80"])
        .stdin(Stdio::null())
        .output()
        .expect("unshare runs (util-linux)");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("IoError (unreachable)"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn connect_tls_talks_lines_over_tls_trusting_tls_ca() {
    use std::sync::Arc;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["echo.test".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), ca.pem()).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap(),
    );
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), s);
        let mut line = String::new();
        BufReader::new(&mut tls).read_line(&mut line).unwrap();
        tls.write_all(format!("tls: {line}").as_bytes()).unwrap();
        tls.conn.send_close_notify();
        let _ = tls.flush();
        line
    });
    let ca_path = ca_file.path().to_str().unwrap();
    let out = run_with_stdin(
        &[
            "--tls-ca",
            ca_path,
            "connect",
            "127.0.0.1",
            &port,
            "--tls",
            "--server-name",
            "echo.test",
        ],
        b"hello\n",
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(text(&out.stdout), "tls: hello\n", "{stderr}");
    assert_eq!(server.join().unwrap(), "hello\n");
}

/// An echo server on 127.0.0.1 for the copied binary's `connect`: every line back.
fn line_echo_server() -> u16 {
    line_echo_server_on(Ipv4Addr::LOCALHOST.into())
}

/// [`line_echo_server`] on `ip` (a loopback address).
fn line_echo_server_on(ip: std::net::IpAddr) -> u16 {
    assert!(ip.is_loopback());
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    if writeln!(writer, "{line}").is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn connect_takes_an_ipv6_address() {
    let port = line_echo_server_on(std::net::Ipv6Addr::LOCALHOST.into()).to_string();
    let mut child = alore_socket()
        .args(["connect", "::1", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"six\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "six\n");
    one_line_error(&["connect", "fe80::1%lo", &port], 1, "zone indices");
}

#[test]
fn the_binary_works_alone_from_an_empty_directory_with_no_build_environment() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("alore-socket");
    std::fs::copy(env!("CARGO_BIN_EXE_alore-socket"), &binary).unwrap();
    let (home, work) = (dir.path().join("home"), dir.path().join("work"));
    std::fs::create_dir_all(&work).unwrap();
    // No PATH (so no cargo, no rustup), no CARGO_*, no source tree: only a home for the cache.
    let alone = |args: &[&str], stdin: &[u8]| {
        let mut child = Command::new(&binary)
            .args(args)
            .env_clear()
            .env("HOME", &home)
            .current_dir(&work)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the copy runs");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    };
    for round in ["compiles", "loads from the cache"] {
        let out = alone(&["demo"], b"");
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{round}: {stdout}{}",
            text(&out.stderr)
        );
        assert!(
            stdout.contains("= \"hello, component\""),
            "{round}: {stdout}"
        );
    }
    let cache = home.join(".cache/alore-socket");
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert!(
        cached
            .iter()
            .any(|e| e.file_name().to_string_lossy().ends_with(".cwasm")),
        "compiled forms are cached in the user's cache directory: {cached:?}"
    );
    let port = line_echo_server().to_string();
    let out = alone(&["connect", "127.0.0.1", &port], b"one\ntwo\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\ntwo\n");
    // The component it carries, for `wac plug`: both builds.
    for (flags, file) in [(&[][..], "plain.wasm"), (&["--allow-tls"][..], "tls.wasm")] {
        let args: Vec<&str> = ["component", "-o", file]
            .iter()
            .chain(flags)
            .copied()
            .collect();
        let out = alone(&args, b"");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let wasm = std::fs::read(work.join(file)).unwrap();
        assert!(wasm.starts_with(b"\0asm"), "{file} is wasm");
    }
    assert_ne!(
        std::fs::read(work.join("plain.wasm")).unwrap(),
        std::fs::read(work.join("tls.wasm")).unwrap(),
        "--allow-tls writes the TLS build"
    );
}
