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
    let wasm = runtime()
        .component(Edition::Wasi03, &Policy::deny_all())
        .unwrap();
    let imports = runtime().imports(Some(&wasm)).unwrap();
    assert!(
        imports.iter().any(|i| i == "wasi:sockets/types@0.3.0"),
        "{imports:?}"
    );
    for import in &imports {
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
    let composed = runtime()
        .compose(&echo_server_p3(), &Policy::deny_all())
        .unwrap();
    let composed_imports = runtime().imports(Some(&composed)).unwrap();
    assert!(
        !composed_imports.iter().any(|i| i.starts_with("alore:")),
        "the app's contract imports are satisfied by the WASI 0.3 edition: {composed_imports:?}"
    );
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
