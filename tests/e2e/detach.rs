//! `detach`: a connection's own WASI streams handed to the consumer, composed as users run it.

use std::io::Write;
use std::net::Ipv4Addr;

use alore_socket_host::{Allow, Policy, Stdio};

use crate::common::*;
use crate::compose::{args, composed};

/// What the server sends after its first line: every byte value, in a length that is no
/// multiple of any buffer, so a lost, doubled or reordered byte shows.
pub fn body() -> Vec<u8> {
    (0..300_007u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A server for `test-consumer detach`: sends `ready` a moment late (so the component has
/// waited on its streams before it detaches them), then the body at once (much of it is read
/// ahead by `read-ln` and comes back as `buffered`), reads `hello\nworld\n`, and closes.
pub fn server() -> Server<Vec<u8>> {
    Server::start(|mut s| {
        std::thread::sleep(QUIET);
        s.write_all(b"ready\n").unwrap();
        s.write_all(&body()).unwrap();
        let got = read_n(&mut s, 12);
        drop(s);
        got
    })
}

/// Every order of dropping the socket (`s`), its input (`i`), output (`o`) and connection
/// (`c`) after a detach: the 24 permutations of `sioc`.
pub fn orders() -> Vec<String> {
    fn permute(done: String, left: &str, all: &mut Vec<String>) {
        if left.is_empty() {
            all.push(done);
            return;
        }
        for (i, part) in left.char_indices() {
            let rest = format!("{}{}", &left[..i], &left[i + 1..]);
            permute(format!("{done}{part}"), &rest, all);
        }
    }
    let mut all = Vec::new();
    permute(String::new(), "sioc", &mut all);
    all
}

#[test]
fn detach_hands_over_every_byte_in_order_and_only_a_connection_dropped_before_its_streams_traps() {
    let app = composed("test-consumer");
    let orders = orders();
    assert_eq!(orders.len(), 24);
    for order in orders {
        let server = server();
        let policy = Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port));
        let port = server.port.to_string();
        let result = alore_socket_host::blocking::run_command(
            runtime(),
            &app,
            &policy,
            &args(&["test-consumer", "detach", &port, &order]),
            Stdio::Capture { stdin: vec![] },
        );
        // The connection (the streams' parent) dropped before a stream: the one order WASI
        // forbids, and wasmtime traps in the consumer. The component itself never traps: it
        // holds nothing of a detached connection.
        let c = order.find('c').unwrap();
        let forbidden = c < order.find('i').unwrap() || c < order.find('o').unwrap();
        match result {
            Ok(out) => {
                assert!(!forbidden, "{order}: ran without the trap WASI promises");
                assert_eq!(
                    out.code,
                    0,
                    "{order}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                same(&out.stdout, &body());
            }
            Err(e) => {
                let e = e.to_string();
                assert!(forbidden, "{order}: {e}");
                assert!(e.contains("resource has children"), "{order}: {e}");
                assert!(
                    e.contains("test_consumer"),
                    "the consumer's trap: {order}: {e}"
                );
            }
        }
        assert_eq!(server.join(), b"hello\nworld\n", "{order}");
    }
}
