//! The component used as users use it: plugged into their own components (the graph
//! `wac plug` builds) and run as a `wasi:cli/command` under the host's policy.

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::sync::OnceLock;

use alore_socket_host::{Allow, Policy, Stdio};
use alore_socket_wasm_build::build_wasm;

use crate::common::*;

/// An example component of `examples/` (or the test consumer), built once per test process.
pub fn example_bytes(artifact: &'static str) -> &'static [u8] {
    example(artifact)
}

fn example(artifact: &'static str) -> &'static [u8] {
    static LINE_CLIENT: OnceLock<Vec<u8>> = OnceLock::new();
    static HTTP_GET: OnceLock<Vec<u8>> = OnceLock::new();
    static TEST_CONSUMER: OnceLock<Vec<u8>> = OnceLock::new();
    let (cell, package) = match artifact {
        "line-client" => (&LINE_CLIENT, "alore-socket-line-client"),
        "http-get" => (&HTTP_GET, "alore-socket-http-get"),
        "test-consumer" => (&TEST_CONSUMER, "alore-socket-test-consumer"),
        other => panic!("no example {other}"),
    };
    cell.get_or_init(|| std::fs::read(build_wasm(package, artifact).unwrap()).unwrap())
}

/// An example plugged with the component, as `wac plug` would.
pub fn composed(artifact: &'static str) -> Vec<u8> {
    runtime()
        .compose(example(artifact), &Policy::deny_all())
        .unwrap()
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_composed_component_imports_only_standard_wasi() {
    for artifact in ["line-client", "http-get", "test-consumer"] {
        let app = composed(artifact);
        let imports = runtime().imports(Some(&app)).unwrap();
        assert!(!imports.is_empty());
        for import in &imports {
            assert!(
                import.starts_with("wasi:") && import.contains("@0.2."),
                "{artifact}: {import}"
            );
        }
        let before = runtime().imports(Some(example(artifact))).unwrap();
        assert!(
            before.iter().any(|i| i.starts_with("alore:socket/socket@")),
            "{artifact}: {before:?}"
        );
    }
}

#[test]
fn line_client_runs_composed_against_a_real_server() {
    let server = line_echo_server("echo: ");
    let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
    let port = server.port.to_string();
    let stdin = b"one\ntwo\n".to_vec();
    let out = alore_socket_host::blocking::run_command(
        runtime(),
        &composed("line-client"),
        &policy,
        &args(&["line-client", "127.0.0.1", &port]),
        Stdio::Capture { stdin },
    )
    .unwrap();
    assert_eq!(out.code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: one\necho: two\n"
    );
    server.join();
}

#[test]
fn http_get_runs_composed_against_a_real_server() {
    let server = Server::start(|mut s| {
        let mut request = Vec::new();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            request.push(line.clone());
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\nfrom the server\n")
            .unwrap();
        request
    });
    let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}/greeting");
    let out = alore_socket_host::blocking::run_command(
        runtime(),
        &composed("http-get"),
        &policy,
        &args(&["http-get", &url]),
        Stdio::Capture { stdin: vec![] },
    )
    .unwrap();
    assert_eq!(out.code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HTTP/1.0 200 OK\nhello\nfrom the server\n"
    );
    let request = server.join();
    assert_eq!(request[0], "GET /greeting HTTP/1.0\r\n");
    assert_eq!(
        request[1],
        format!("Host: 127.0.0.1:{port}\r\n"),
        "RFC 9110 §7.2"
    );
}

#[test]
fn http_get_moves_a_large_binary_body_through_detach_byte_for_byte() {
    // The head is read with read-ln, the body from the detached stream.
    let body = binary_body(5_000_011, 31);
    let server = http_server(body.clone());
    let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
    let url = format!("http://127.0.0.1:{}/blob", server.port);
    let out = http_get(&composed("http-get"), &policy, &url);
    assert_fetched(&out.stdout, &out.stderr, out.code == 0, &body);
    server.join();
}

#[test]
fn the_policy_holds_inside_a_composition() {
    let server = Server::start(|mut s| read_to_end(&mut s));
    let port = server.port.to_string();
    let out = alore_socket_host::blocking::run_command(
        runtime(),
        &composed("line-client"),
        &Policy::deny_all(),
        &args(&["line-client", "127.0.0.1", &port]),
        Stdio::Capture {
            stdin: b"x\n".to_vec(),
        },
    )
    .unwrap();
    assert_eq!(out.code, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("EACCES"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Let the server go: connect once ourselves.
    drop(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, server.port)).unwrap());
    assert_eq!(server.join(), b"");
}

#[test]
fn a_composed_command_waiting_on_a_silent_peer_is_stopped_at_its_deadline() {
    use std::time::{Duration, Instant};
    const DEADLINE: Duration = Duration::from_millis(300);
    let (server, release) = silent_server();
    let policy = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port))
        .call_deadline(Some(DEADLINE));
    let port = server.port.to_string();
    // Compiled (and cached) first, so that the clock below times only the run.
    let app = composed("line-client");
    runtime().compile(&app).unwrap();
    let started = Instant::now();
    let error = alore_socket_host::blocking::run_command(
        runtime(),
        &app,
        &policy,
        &args(&["line-client", "127.0.0.1", &port]),
        Stdio::Capture {
            stdin: b"hello?\n".to_vec(),
        },
    )
    .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(error, alore_socket_host::Error::Deadline(d) if d == DEADLINE),
        "{error}"
    );
    assert!(waited >= DEADLINE && waited < PATIENCE, "{waited:?}");
    drop(release);
    server.join();
}

#[test]
fn consumers_of_every_earlier_contract_version_still_plug_in() {
    // line-client as if built against an earlier alore:socket: the same bytes with every name
    // of the contract's version rewritten (the names are the same length, so the binary stays
    // valid). Each version since 0.1.1 only adds, so a consumer of any must compose and run.
    let current = example("line-client");
    let new = &b"alore:socket/socket@0.1.3"[..];
    for version in ["0.1.1", "0.1.2"] {
        let old = format!("alore:socket/socket@{version}");
        let mut app = current.to_vec();
        let mut rewritten = 0;
        for at in 0..app.len().saturating_sub(new.len()) {
            if &app[at..at + new.len()] == new {
                app[at..at + new.len()].copy_from_slice(old.as_bytes());
                rewritten += 1;
            }
        }
        assert!(rewritten > 0, "line-client names the contract's version");
        let before = runtime().imports(Some(&app)).unwrap();
        assert!(before.contains(&old), "{before:?}");
        let server = line_echo_server("");
        let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
        let port = server.port.to_string();
        let composed = runtime().compose(&app, &Policy::deny_all()).unwrap();
        let line = format!("from {version}\n");
        let out = alore_socket_host::blocking::run_command(
            runtime(),
            &composed,
            &policy,
            &args(&["line-client", "127.0.0.1", &port]),
            Stdio::Capture {
                stdin: line.clone().into_bytes(),
            },
        )
        .unwrap();
        assert_eq!(out.code, 0, "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), line);
        server.join();
    }
}
