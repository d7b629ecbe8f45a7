//! The WASI 0.3 edition (`alore:socket@0.2.0`): what the contract says it is, and what it buys
//! — many connections served at once by one instance — through a composed application run
//! by the host, against real peers on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use alore_socket_host::{Allow, Edition, Policy, Stdio, blocking};

use crate::common::*;

/// How many clients the echo server holds at once: the thousand connections one instance is
/// promised.
const CLIENTS: usize = 1000;

fn echo_server_p3() -> Vec<u8> {
    let path = alore_socket_wasm_build::build_wasm(
        "alore-socket-echo-server-p3",
        "alore_socket_echo_server_p3",
    )
    .unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn the_wasi_0_3_edition_exports_the_0_2_0_contract_and_imports_wasi_0_3() {
    // Both builds: the standard one, and the TLS build a policy that allows TLS runs, which
    // adds `wasi:tls` 0.3's draft and nothing else.
    for (policy, tls) in [
        (Policy::deny_all(), false),
        (crate::tls::tls_policy(), true),
    ] {
        let wasm = runtime().component(Edition::Wasi03, &policy).unwrap();
        let imports = runtime().imports(Some(&wasm)).unwrap();
        assert!(
            imports.iter().any(|i| i == "wasi:sockets/types@0.3.0"),
            "{imports:?}"
        );
        assert_eq!(
            imports.iter().any(|i| i == "wasi:tls/client@0.3.0-draft"),
            tls,
            "{imports:?}"
        );
        check_imports(&imports);
    }
    let composed = runtime()
        .compose(&echo_server_p3(), &Policy::deny_all())
        .unwrap();
    let composed_imports = runtime().imports(Some(&composed)).unwrap();
    assert!(
        !composed_imports.iter().any(|i| i.starts_with("alore:")),
        "the app's contract imports are satisfied by the WASI 0.3 edition: {composed_imports:?}"
    );
}

/// Every import is WASI 0.3, or WASI 0.2 cli/io from Rust's standard library.
fn check_imports(imports: &[String]) {
    for import in imports {
        let (interface, version) = import.split_once('@').unwrap_or((import, ""));
        assert!(
            interface.starts_with("wasi:"),
            "a non-WASI import: {import}"
        );
        // Rust's standard library for wasm32-wasip2 brings WASI 0.2's stdio, exit, environment
        // and terminal interfaces (its panic output and libc's start-up); everything the
        // edition does goes through WASI 0.3.
        let from_std = interface.starts_with("wasi:cli/") || interface.starts_with("wasi:io/");
        assert!(
            version.starts_with("0.3.") || (from_std && version.starts_with("0.2.")),
            "{import}"
        );
    }
}

/// Connect, retrying while the server is not listening yet.
fn connect_when_listening(port: u16) -> TcpStream {
    let started = Instant::now();
    loop {
        match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            Ok(stream) => return stream,
            Err(e) if started.elapsed() < PATIENCE * 6 => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the server never listened: {e}"),
        }
    }
}

#[test]
fn one_instance_of_the_wasi_0_3_edition_serves_a_thousand_clients_at_once() {
    // Each client is a descriptor here and one in the host: raise the limit for both.
    let wanted = (CLIENTS as u64) * 2 + 256;
    let limit = rlimit::increase_nofile_limit(wanted).expect("raise RLIMIT_NOFILE");
    assert!(
        limit >= wanted,
        "this machine allows only {limit} descriptors"
    );
    let port = free_port();
    let policy = Policy::deny_all()
        .allow_listen(Allow::host(Ipv4Addr::LOCALHOST).port(port))
        .allow(Allow::host(Ipv4Addr::LOCALHOST))
        .max_sockets(CLIENTS + 16);
    let composed = runtime().compose(&echo_server_p3(), &policy).unwrap();
    let args = [
        "echo-server-p3".to_owned(),
        port.to_string(),
        CLIENTS.to_string(),
    ];
    let server = std::thread::spawn(move || {
        let stdio = Stdio::Capture { stdin: Vec::new() };
        blocking::run_command(runtime(), &composed, &policy, &args, stdio)
    });
    // Every client connects first and stays connected: a server that served one connection
    // at a time would never answer the second.
    let mut clients: Vec<TcpStream> = Vec::with_capacity(CLIENTS);
    clients.push(connect_when_listening(port));
    for _ in 1..CLIENTS {
        clients.push(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap());
    }
    for client in &clients {
        client.set_read_timeout(Some(PATIENCE * 3)).unwrap();
    }
    // In reverse order of connecting, so the last accepted answers first.
    for (i, client) in clients.iter_mut().enumerate().rev() {
        writeln!(client, "client {i} says {}", "x".repeat(i % 97)).unwrap();
    }
    for (i, client) in clients.iter().enumerate().rev() {
        let mut line = String::new();
        BufReader::new(client).read_line(&mut line).unwrap();
        assert_eq!(line, format!("client {i} says {}\n", "x".repeat(i % 97)));
    }
    drop(clients);
    let out = server.join().unwrap().unwrap();
    assert_eq!(out.code, 0, "{}", String::from_utf8_lossy(&out.stderr));
}

/// The WASI 0.3 test consumer (`tests/consumer-p3`), composed with the edition.
pub fn consumer_p3() -> Vec<u8> {
    consumer_p3_for(&Policy::deny_all())
}

/// The consumer, plugged into the build of the WASI 0.3 edition `policy` runs.
fn consumer_p3_for(policy: &Policy) -> Vec<u8> {
    let path = alore_socket_wasm_build::build_wasm(
        "alore-socket-test-consumer-p3",
        "alore_socket_test_consumer_p3",
    )
    .unwrap();
    let app = std::fs::read(path).unwrap();
    runtime().compose(&app, policy).unwrap()
}

/// Run the consumer's `command` against a server on `port`; its one line of output.
fn consume(command: &[&str], port: u16) -> String {
    let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(port));
    consume_under(&policy, command, port)
}

/// [`consume`] under `policy`.
fn consume_under(policy: &Policy, command: &[&str], port: u16) -> String {
    let mut args = vec![
        "consumer-p3".to_owned(),
        command[0].to_owned(),
        port.to_string(),
    ];
    args.extend(command[1..].iter().map(|a| a.to_string()));
    let stdio = Stdio::Capture { stdin: Vec::new() };
    let out =
        blocking::run_command(runtime(), &consumer_p3_for(policy), policy, &args, stdio).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.code,
        0,
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim_end().to_owned()
}

/// The bytes the consumer's `send` sends, and what it checks received bytes against.
pub fn pattern(n: u64) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// FNV-1a, as the consumer computes it.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How much the stream tests move: more than the host's buffers, an odd size.
const BULK: u64 = (8 << 20) + 12_345;

#[test]
fn receive_hands_out_every_byte_once_and_in_order_and_the_end() {
    let body = pattern(BULK);
    let expected = fnv(&body);
    let server = Server::start(move |mut peer| {
        // The first line and the start of the body come together: some of the body is
        // already buffered when `receive` is called.
        let mut first = b"first line\n".to_vec();
        first.extend_from_slice(&body[..1000]);
        peer.write_all(&first).unwrap();
        std::thread::sleep(QUIET);
        peer.write_all(&body[1000..]).unwrap();
    });
    let line = consume(&["receive"], server.port);
    server.join();
    let (prefix, rest) = line.split_once(" buffered ").expect(&line);
    assert_eq!(prefix, "first \"first line\"", "{line}");
    assert!(
        rest.contains(&format!("bytes {BULK} fnv {expected:016x} end ok;")),
        "{line}"
    );
    assert!(
        rest.ends_with(
            "then io-error IoErrorKind::Closed: The socket's input was handed out by receive"
        ),
        "{line}"
    );
}

#[test]
fn receive_over_tls_hands_out_every_cleartext_byte_once_and_in_order_and_the_end() {
    let body = pattern(BULK);
    let expected = fnv(&body);
    let server = crate::tls::tls_server(&crate::tls::pki().good, move |tls| {
        tls.write_all(b"first line\n").unwrap();
        tls.write_all(&body[..1000]).unwrap();
        tls.flush().unwrap();
        std::thread::sleep(QUIET);
        tls.write_all(&body[1000..]).unwrap();
        // tls_server then sends close_notify: the clean end.
    });
    let policy = crate::tls::tls_policy().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
    let line = consume_under(&policy, &["tls-receive"], server.port);
    server.join();
    assert!(
        line.contains(&format!("bytes {BULK} fnv {expected:016x} end ok;")),
        "{line}"
    );
}

#[test]
fn ten_thousand_round_trips_over_tls_each_get_their_echo() {
    let server = crate::tls::tls_server(&crate::tls::pki().good, |tls| {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(tls);
        let (mut lines, mut line) = (0, String::new());
        while matches!(reader.read_line(&mut line), Ok(n) if n > 0) && line == "ping\n" {
            reader.get_mut().write_all(b"ping\n").unwrap();
            reader.get_mut().flush().unwrap();
            lines += 1;
            line.clear();
        }
        lines
    });
    let policy = crate::tls::tls_policy().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
    let line = consume_under(&policy, &["tls-pings", "10000"], server.port);
    assert_eq!(line, "10000 round trips");
    assert_eq!(server.join(), 10_000);
}

#[test]
fn a_reset_in_the_middle_of_a_received_stream_is_its_end() {
    let server = Server::start(|peer| {
        let mut peer = peer;
        peer.write_all(b"first line\n").unwrap();
        peer.write_all(&pattern(1 << 20)).unwrap();
        std::thread::sleep(QUIET);
        // SO_LINGER 0: closing sends RST instead of FIN.
        let peer = socket2::Socket::from(peer);
        peer.set_linger(Some(Duration::ZERO)).unwrap();
    });
    let line = consume(&["receive"], server.port);
    server.join();
    assert!(
        line.contains("end io-error IoErrorKind::ConnectionReset"),
        "{line}"
    );
}

#[test]
fn send_takes_a_stream_and_sends_every_byte_once_in_order_between_writes() {
    let server = Server::start(|peer| {
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut &peer, &mut got).unwrap();
        got
    });
    let line = consume(&["send", &BULK.to_string()], server.port);
    let got = server.join();
    assert_eq!(line, format!("sent {BULK}"));
    let mut expected = b"header\n".to_vec();
    expected.extend_from_slice(&pattern(BULK));
    expected.extend_from_slice(b"trailer\n");
    assert!(
        got == expected,
        "{} bytes, not the {} sent in order",
        got.len(),
        expected.len()
    );
}

#[test]
fn two_reads_at_once_on_one_socket_take_turns_first_come_first_served() {
    let server = Server::start(|mut peer| {
        std::thread::sleep(QUIET);
        peer.write_all(b"one\ntwo\n").unwrap();
        std::thread::sleep(QUIET);
    });
    let line = consume(&["two-reads"], server.port);
    server.join();
    assert_eq!(line, "first=one second=two");
}

#[test]
fn a_read_and_a_write_on_one_socket_are_in_flight_together() {
    // An echo peer: more than the two directions' buffers can hold, so a write that waited
    // for the read to end (or the reverse) would stall until the consumer's 10 s timeout.
    let server = Server::start(|peer| {
        std::io::copy(&mut &peer, &mut &peer).unwrap();
    });
    let line = consume(&["duplex", &BULK.to_string()], server.port);
    server.join();
    let expected = fnv(&pattern(BULK));
    assert_eq!(line, format!("echoed {BULK} fnv {expected:016x}"));
}

#[test]
fn the_policy_bounds_the_sockets_a_wasi_0_3_instance_holds_and_a_drop_gives_one_back() {
    const MAX: usize = 5;
    let port = holding_server();
    let policy = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(port))
        .max_sockets(MAX);
    let line = consume_under(&policy, &["sockets", "100"], port);
    assert_eq!(
        line,
        format!(
            "made {MAX}, then: io-error IoErrorKind::LimitExceeded: Too many open sockets \
             [EMFILE]; after dropping them: connected"
        )
    );
}

#[test]
fn a_socket_dropped_without_close_is_closed_at_once_when_nothing_is_buffered() {
    // The consumer waits three seconds after the drop without calling the component again;
    // the end must come well before that (and before its exit closes everything anyway).
    let server = Server::start(|peer| {
        peer.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let mut got = Vec::new();
        let ended = std::io::Read::read_to_end(&mut &peer, &mut got);
        (ended.is_ok(), got)
    });
    let line = consume(&["drop-then-wait"], server.port);
    let (ended, got) = server.join();
    assert_eq!(line, "waited");
    assert!(ended, "the drop did not close the connection within 1.5 s");
    assert_eq!(got, b"bye\n");
}

/// The store's handles in the next test: its concurrency table gets as many.
const HANDLES: usize = 2_000;

#[test]
fn calls_that_return_at_once_hold_nothing_in_the_store_after_they_return() {
    // wasmtime 48 leaks an entry of the store's concurrency table for each call from another
    // component to an async export that returns without ever waiting; the policy bounds the
    // table (four entries per handle), so a leak would trap the instance after about four
    // times HANDLES calls. The
    // edition makes such a call wait once (`settled`).
    let server = Server::start(|peer| {
        std::thread::sleep(PATIENCE * 3);
        drop(peer);
    });
    let calls = (HANDLES * 10).to_string();
    let policy = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port))
        .max_handles(HANDLES);
    let line = consume_under(&policy, &["peeks", &calls], server.port);
    assert_eq!(line, format!("peeked {calls} times"));
}
