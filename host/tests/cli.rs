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
        let out = alore_socket()
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("alore-socket: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
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
    let mut server = Killed(
        alore_socket()
            .args(["serve", "0"])
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
    for (destination, buffering) in [("127.0.0.1", "unbuffered"), ("localhost", "buffered")] {
        let mut client = alore_socket()
            .args([
                "connect",
                destination,
                &port.to_string(),
                "--buffering",
                buffering,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        client
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello\nworld\n")
            .unwrap();
        let out = client.wait_with_output().unwrap();
        assert!(out.status.success(), "{destination}");
        assert_eq!(text(&out.stdout), "hello\nworld\n", "{destination}");
    }
}
