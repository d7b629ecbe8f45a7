//! Nothing lost, end to end: random payloads (0 to 4 MiB) written in random chunks with
//! `write` and `write-ln` in a random buffering mode, echoed by a real server, and read back
//! with a random mix of `read(n)`, `read-ln` and `peek`: every byte arrives, once, in order.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::OnceLock;
use std::thread;

use alore_socket_host::blocking::Instance;
use alore_socket_host::{Buffering, IoErrorKind};
use proptest::prelude::*;

use crate::common::*;

/// A server on 127.0.0.1 that, for every connection, reads to the end and sends it all back
/// (reading first means neither side can block the other with full buffers).
fn echo_after_end() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut all = Vec::new();
                    if stream.read_to_end(&mut all).is_ok() {
                        let _ = stream.write_all(&all);
                    }
                });
            }
        });
        port
    })
}

fn shared() -> &'static Instance {
    static INSTANCE: OnceLock<Instance> = OnceLock::new();
    INSTANCE.get_or_init(loopback)
}

/// `len` bytes from `seed`, one in eight a line ending, so lines are frequent.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 16 {
                0 => b'\n',
                1 => b'\r',
                _ => (x >> 8) as u8,
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
enum ReadOp {
    Count(u32),
    Line,
    Peek,
}

fn read_op() -> impl Strategy<Value = ReadOp> {
    prop_oneof![
        (0u32..70_000).prop_map(ReadOp::Count),
        Just(ReadOp::Line),
        Just(ReadOp::Peek)
    ]
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![5 => 0usize..1024, 4 => 1024usize..65536, 1 => 65536usize..(4 << 20)]
}

fn mode() -> impl Strategy<Value = Buffering> {
    prop_oneof![
        Just(Buffering::Unbuffered),
        Just(Buffering::LineBuffered),
        Just(Buffering::Buffered)
    ]
}

/// What `read-ln` returns from `data[at..]`, and where the next line starts.
fn next_line(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    if at == data.len() {
        return None;
    }
    let rest = &data[at..];
    Some(match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
        Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (&rest[..i], at + i + 2),
        Some(i) => (&rest[..i], at + i + 1),
        None => (rest, data.len()),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_byte_arrives_once_in_order(
        seed in any::<u64>(),
        len in size(),
        chunks in prop::collection::vec((1usize..300_000, any::<bool>()), 1..12),
        mode in mode(),
        reads in prop::collection::vec(read_op(), 1..60),
    ) {
        let data = payload(seed, len);
        let socket = shared().connect("127.0.0.1", echo_after_end(), Some(mode)).unwrap();
        socket.set_max_line_length(u32::MAX).unwrap();
        let mut expected = Vec::new();
        let mut rest = &data[..];
        for &(size, line) in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, after) = rest.split_at(size.min(rest.len()));
            if line {
                socket.write_ln(chunk).unwrap();
                expected.extend_from_slice(chunk);
                expected.push(b'\n');
            } else {
                socket.write(chunk).unwrap();
                expected.extend_from_slice(chunk);
            }
            rest = after;
        }
        socket.shutdown_output().unwrap();

        let mut at = 0;
        for op in reads {
            match op {
                ReadOp::Count(n) => {
                    let got = socket.read(Some(n)).unwrap();
                    let end = (at + n as usize).min(expected.len());
                    prop_assert!(got == expected[at..end], "read({}) at {}", n, at);
                    at = end;
                }
                ReadOp::Peek => {
                    let got = socket.peek().unwrap();
                    prop_assert!(expected[at..].starts_with(&got), "peek at {}", at);
                }
                ReadOp::Line => match next_line(&expected, at) {
                    Some((line, next)) => {
                        let got = socket.read_ln().unwrap();
                        prop_assert!(got == line, "read-ln at {}", at);
                        at = next;
                    }
                    None => prop_assert_eq!(io_kind(socket.read_ln()), IoErrorKind::EndOfStream),
                },
            }
        }
        let tail = socket.read(None).unwrap();
        prop_assert!(tail == expected[at..], "the rest, {} bytes from {}", tail.len(), at);
    }
}
