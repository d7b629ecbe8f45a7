//! `test-hog WHAT COUNT [PORT SIZE]`: a `wasi:cli/command` that tries, with raw WASI calls,
//! to make the host hold more than its policy allows, as a hostile application plugged into
//! the component could. It keeps everything it makes until it stops, and prints one line:
//! how many it made and how it stopped.
//!
//! - `tcp COUNT`, `udp COUNT`: sockets.
//! - `pollables COUNT`: pollables on a clock (past the handle limit: a trap).
//! - `connect ADDRESS PORT`: one TCP connection through Rust's `std::net` (raw `wasi:sockets`),
//!   to any address of either family: `connected`, or the error's kind.
//! - `lookup-connect NAME PORT`: look NAME up and connect to its first answer, through Rust's
//!   `std::net` (raw `wasi:sockets`): `connected to ADDRESS`, or where and how it failed.
//! - `tls-names COUNT PORT SIZE`: TLS handshakes over connections to `127.0.0.1:PORT`, each
//!   with a server name of SIZE bytes, never finished.

use std::process::ExitCode;

wit_bindgen::generate!({
    path: ["../../guest/wit/deps/io.wit", "../../guest/wit/deps/tls.wit"],
    inline: "package alore:test-hog; world hog { import wasi:tls/types@0.2.0-draft; }",
    world: "alore:test-hog/hog",
    features: ["tls"],
    with: {
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:tls/types@0.2.0-draft": generate,
    },
});

use wasi::tls::types::ClientHandshake;
use wasip2::clocks::monotonic_clock;
use wasip2::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasip2::sockets::{instance_network, tcp_create_socket, udp_create_socket};

/// Make up to `count` things with `make`, keeping them; how many, and the error that stopped it.
fn hog<T>(count: usize, mut make: impl FnMut() -> Result<T, String>) -> (Vec<T>, String) {
    let mut kept = Vec::new();
    while kept.len() < count {
        match make() {
            Ok(thing) => kept.push(thing),
            Err(e) => return (kept, e),
        }
    }
    (kept, "no error".into())
}

fn code(e: ErrorCode) -> String {
    format!("{e:?}")
}

fn tls_names(count: usize, port: u16, size: usize) -> (usize, String) {
    let network = instance_network::instance_network();
    let name = "a".repeat(size);
    let (kept, stopped) = hog(count, || {
        let socket = tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4).map_err(code)?;
        let address = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port,
            address: (127, 0, 0, 1),
        });
        socket.start_connect(&network, address).map_err(code)?;
        socket.subscribe().block();
        let (input, output) = socket.finish_connect().map_err(code)?;
        Ok((ClientHandshake::new(&name, input, output), socket))
    });
    (kept.len(), stopped)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let number = |text: &str| text.parse::<usize>().unwrap_or(0);
    let (made, stopped) = match args.as_slice() {
        [_, what, count] if what == "tcp" => {
            let (kept, e) = hog(number(count), || {
                tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4).map_err(code)
            });
            (kept.len(), e)
        }
        [_, what, count] if what == "udp" => {
            let (kept, e) = hog(number(count), || {
                udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4).map_err(code)
            });
            (kept.len(), e)
        }
        [_, what, count] if what == "pollables" => {
            let (kept, e) = hog(number(count), || {
                Ok::<_, String>(monotonic_clock::subscribe_duration(1 << 40))
            });
            (kept.len(), e)
        }
        [_, what, address, port] if what == "connect" => {
            let Ok(address) = address.parse::<std::net::IpAddr>() else {
                eprintln!("not an address: {address}");
                return ExitCode::from(2);
            };
            let port = u16::try_from(number(port)).unwrap_or(0);
            match std::net::TcpStream::connect((address, port)) {
                Ok(_) => println!("connected"),
                Err(e) => println!("{:?}", e.kind()),
            }
            return ExitCode::SUCCESS;
        }
        [_, what, name, port] if what == "lookup-connect" => {
            use std::net::ToSocketAddrs;
            let port = u16::try_from(number(port)).unwrap_or(0);
            let first = match (name.as_str(), port).to_socket_addrs() {
                Ok(mut answers) => answers.next(),
                Err(e) => {
                    println!("lookup: {:?}", e.kind());
                    return ExitCode::SUCCESS;
                }
            };
            let Some(first) = first else {
                println!("lookup: no answer");
                return ExitCode::SUCCESS;
            };
            match std::net::TcpStream::connect(first) {
                Ok(_) => println!("connected to {}", first.ip()),
                Err(e) => println!("connect: {:?}", e.kind()),
            }
            return ExitCode::SUCCESS;
        }
        [_, what, count, port, size] if what == "tls-names" => {
            let port = u16::try_from(number(port)).unwrap_or(0);
            tls_names(number(count), port, number(size))
        }
        _ => {
            eprintln!(
                "usage: test-hog tcp|udp|pollables COUNT | connect ADDRESS PORT \
                 | lookup-connect NAME PORT | tls-names COUNT PORT SIZE"
            );
            return ExitCode::from(2);
        }
    };
    println!("made {made}, then: {stopped}");
    ExitCode::SUCCESS
}
