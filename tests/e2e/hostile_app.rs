//! An application cannot make the host hold more than its policy allows: `test-hog` (in
//! `tests/consumer`) makes sockets, pollables and TLS handshakes with huge server names in a
//! loop, with raw WASI calls, as a hostile application plugged into the component could. The
//! host's own peak memory stays within a stated bound, and the host serves a connection after.

use std::net::Ipv4Addr;

use alore_socket_host::{Allow, Error, Policy, Stdio};
use alore_socket_wasm_build::build_wasm;

use crate::common::*;
use crate::compose::args;

/// Set in the child process the test runs its body in: the peak memory it checks is the
/// whole process's, which tests running beside it would raise.
const CHILD_ENV: &str = "ALORE_SOCKET_TEST_HOG_CHILD";

/// The policy's limits in this test: small, so that the hog meets each.
const MAX_SOCKETS: usize = 32;
const MAX_HANDLES: usize = 512;
const MEMORY_LIMIT: usize = 64 << 20;
/// Each handshake's server name: half the guest's memory, so one fits and the guest can
/// make as many as it has sockets. Before the host bounded names it kept every one.
const NAME_SIZE: usize = 32 << 20;
/// How far the host's peak memory may rise over what it used before the hog ran: the
/// guest's memory (the limit), one server name copied out of it at a time, and room for the
/// allocator and the compiled code. Without the bounds, one run of the hog's handshakes alone
/// kept 31 names: about 1 GiB.
const PEAK_RISE_BOUND: usize = 192 << 20;

/// A line of `/proc/self/status`, in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

fn run(hog: &[u8], policy: &Policy, words: &[&str]) -> Result<String, Error> {
    let mut argv = vec!["test-hog"];
    argv.extend_from_slice(words);
    let out = alore_socket_host::blocking::run_command(
        runtime(),
        hog,
        policy,
        &args(&argv),
        Stdio::Capture { stdin: Vec::new() },
    )?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.code,
        0,
        "{words:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text.trim().to_owned())
}

#[test]
fn an_application_cannot_grow_the_host_past_its_policy_and_the_host_serves_after() {
    const NAME: &str = "hostile_app::an_application_cannot_grow_the_host_past_its_policy_and_the_host_serves_after";
    if !in_own_process(NAME, CHILD_ENV) {
        return;
    }
    let hog = std::fs::read(build_wasm("alore-socket-test-consumer", "test-hog").unwrap()).unwrap();
    let port = holding_server();
    let denied = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(port))
        .memory_limit(MEMORY_LIMIT)
        .max_sockets(MAX_SOCKETS)
        .max_handles(MAX_HANDLES);

    // TLS not allowed: wasi:tls is not linked, and the application is refused before it runs.
    let refused = run(&hog, &denied, &["tcp", "1"]).unwrap_err();
    let message = refused.to_string();
    assert!(matches!(refused, Error::Denied(_)), "{message}");
    assert!(
        message.contains("wasi:tls") && message.contains("does not allow TLS"),
        "{message}"
    );

    // Reverse lookups switch UDP on: the hog's UDP sockets count too.
    let policy = denied
        .allow_tls(true)
        .allow_reverse_lookup(true)
        .host_name(None);
    run(&hog, &policy, &["tcp", "0"]).unwrap(); // compiled once, before the baseline
    let before = status_bytes("VmRSS");
    let sockets = format!("made {MAX_SOCKETS}, then: ");
    let size = NAME_SIZE.to_string();
    let port = port.to_string();
    for _round in 0..3 {
        for what in ["tcp", "udp"] {
            let said = run(&hog, &policy, &[what, "100000"]).unwrap();
            assert!(
                said.starts_with(&sockets) && said.contains("new-socket-limit"),
                "{what}: {said}"
            );
        }
        let trapped = run(&hog, &policy, &["pollables", "1000000"]).unwrap_err();
        assert!(
            trapped
                .to_string()
                .contains("resource table has no free keys"),
            "pollables: {trapped}"
        );
        // Every socket but none holds a handshake: the socket limit stops it first.
        let said = run(&hog, &policy, &["tls-names", "1000", &port, &size]).unwrap();
        assert!(
            said.starts_with(&sockets) && said.contains("new-socket-limit"),
            "{said}"
        );
    }
    let peak = status_bytes("VmHWM");
    println!(
        "host memory: {} MiB before, peak {} MiB (rise {} MiB, bound {} MiB)",
        before >> 20,
        peak >> 20,
        peak.saturating_sub(before) >> 20,
        PEAK_RISE_BOUND >> 20
    );
    assert!(
        peak.saturating_sub(before) < PEAK_RISE_BOUND,
        "the host's peak rose {} MiB",
        peak.saturating_sub(before) >> 20
    );

    // The host goes on: a normal connection through the component.
    let server = line_echo_server("");
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.write_ln(b"still here").unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"still here");
}

#[test]
fn a_grant_for_one_family_never_lets_the_other_through_in_any_form() {
    use std::net::Ipv6Addr;
    let hog = std::fs::read(build_wasm("alore-socket-test-consumer", "test-hog").unwrap()).unwrap();
    let port4 = holding_server_on(Ipv4Addr::LOCALHOST.into());
    let port6 = holding_server_on(Ipv6Addr::LOCALHOST.into());
    let connect = |policy: &Policy, address: &str, port: u16| {
        run(&hog, policy, &["connect", address, &port.to_string()]).unwrap()
    };
    // IPv4 granted: its IPv6 forms are not a way around the rule.
    // (The hog imports wasi:tls for another command: TLS is allowed, and irrelevant here.)
    let v4 = Policy::deny_all()
        .allow_tls(true)
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(port4));
    assert_eq!(connect(&v4, "127.0.0.1", port4), "connected");
    // wasmtime refuses the mapped and compatible forms on an IPv6 socket (invalid-argument);
    // the policy refuses the rest before any packet.
    for (other, refused) in [
        ("::1", "PermissionDenied"),
        ("::127.0.0.1", "InvalidInput"),
        ("::ffff:127.0.0.1", "InvalidInput"),
        ("64:ff9b::7f00:1", "PermissionDenied"),
    ] {
        assert_eq!(
            connect(&v4, other, port4),
            refused,
            "{other} under an IPv4 grant"
        );
    }
    assert_eq!(connect(&v4, "::1", port6), "PermissionDenied");
    // IPv6 granted, every address of it: no IPv4 address, mapped or not.
    let v6 = Policy::deny_all()
        .allow_tls(true)
        .allow("::/0".parse().unwrap());
    assert_eq!(connect(&v6, "::1", port6), "connected");
    assert_eq!(connect(&v6, "127.0.0.1", port4), "PermissionDenied");
    assert_eq!(connect(&v6, "::ffff:127.0.0.1", port4), "InvalidInput");
}
