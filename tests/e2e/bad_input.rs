//! Every kind of bad input, in one table: each gives its documented error, never a trap, and
//! the instance goes on working after each.

use std::net::Ipv4Addr;

use alore_socket_host::{Allow, Error, IoErrorKind, Policy};

use crate::common::*;

/// What a call came to, in the terms the WIT documents.
#[derive(Debug, PartialEq)]
enum Outcome {
    Value,
    Name,
    Io(IoErrorKind),
    Ok(Vec<u8>),
}

fn outcome<T: Into<Vec<u8>>>(result: Result<T, Error>) -> Outcome {
    match result {
        Ok(value) => Outcome::Ok(value.into()),
        Err(e) if e.is_value_error() => Outcome::Value,
        Err(e) if e.is_name_error() => Outcome::Name,
        Err(e) => Outcome::Io(
            e.io_kind()
                .unwrap_or_else(|| panic!("not a contract error: {e}")),
        ),
    }
}

#[test]
fn bad_input_gives_the_documented_errors() {
    let instance = instance(with_test_names(
        Policy::deny_all()
            .allow(Allow::host(Ipv4Addr::LOCALHOST))
            .allow_listen(Allow::host(Ipv4Addr::LOCALHOST)),
    ));
    let closed_port = closed_port();
    let port = closed_port.port();
    let connect =
        |name: &str, port: u16| outcome(instance.connect(name, port, None).map(|_| Vec::new()));
    let lookup = |name: &str| outcome(instance.get_host_by_name(name));
    let reverse = |address: &str| outcome(instance.get_host_by_address(address));
    let listen = |address: &str| outcome(instance.listen(0, Some(address)).map(|_| Vec::new()));
    let long_label = format!("{}.com", "x".repeat(64));
    let too_long = "a".repeat(254);

    let server = Server::start(|mut s| {
        use std::io::Write;
        s.write_all(b"short").unwrap();
    });
    let socket = instance.connect("127.0.0.1", server.port, None).unwrap();
    server.join();
    let closed = instance.connect("127.0.0.1", port, None);

    let table: Vec<(&str, Outcome, Outcome)> = vec![
        ("connect: empty name", connect("", port), Outcome::Value),
        (
            "connect: 254-byte name",
            connect(&too_long, port),
            Outcome::Value,
        ),
        (
            "connect: a 64-byte label",
            connect(&long_label, port),
            Outcome::Value,
        ),
        (
            "connect: an empty label",
            connect("a..b", port),
            Outcome::Value,
        ),
        ("connect: NUL", connect("a\0b", port), Outcome::Value),
        ("connect: a space", connect("a b", port), Outcome::Value),
        ("connect: port 0", connect("127.0.0.1", 0), Outcome::Value),
        (
            "connect: non-ASCII goes to the resolver",
            connect("bücher.invalid", port),
            Outcome::Name,
        ),
        (
            "connect: a trailing dot is allowed",
            connect("no-such-host.invalid.", port),
            Outcome::Name,
        ),
        (
            "connect: nobody listening",
            connect("127.0.0.1", port),
            Outcome::Io(IoErrorKind::ConnectionRefused),
        ),
        ("get-host-by-name: empty", lookup(""), Outcome::Value),
        (
            "get-host-by-name: a 64-byte label",
            lookup(&long_label),
            Outcome::Value,
        ),
        (
            "get-host-by-name: an IPv6 literal",
            lookup("::1"),
            Outcome::Ok(b"::1".to_vec()),
        ),
        (
            "get-host-by-name: an IPv6 zone",
            lookup("fe80::1%eth0"),
            Outcome::Value,
        ),
        (
            "get-host-by-name: dotted decimal",
            lookup("10.0.0.1"),
            Outcome::Ok(b"10.0.0.1".to_vec()),
        ),
        (
            "get-host-by-address: 1.2.3",
            reverse("1.2.3"),
            Outcome::Value,
        ),
        (
            "get-host-by-address: 01.2.3.4",
            reverse("01.2.3.4"),
            Outcome::Value,
        ),
        (
            "get-host-by-address: 1.2.3.4.5",
            reverse("1.2.3.4.5"),
            Outcome::Value,
        ),
        (
            "get-host-by-address: ::1, with no hosts file or resolver",
            reverse("::1"),
            Outcome::Name,
        ),
        (
            "get-host-by-address: an IPv6 zone",
            reverse("fe80::1%1"),
            Outcome::Value,
        ),
        (
            "get-host-by-address: localhost",
            reverse("localhost"),
            Outcome::Value,
        ),
        (
            "server-socket: localhost",
            listen("localhost"),
            Outcome::Value,
        ),
        ("server-socket: 1.2.3", listen("1.2.3"), Outcome::Value),
        (
            "read(0)",
            outcome(socket.read(Some(0))),
            Outcome::Ok(Vec::new()),
        ),
        (
            "read(4294967295) on a short stream",
            outcome(socket.read(Some(u32::MAX))),
            Outcome::Ok(b"short".to_vec()),
        ),
        (
            "set-max-line-length(0)",
            outcome(socket.set_max_line_length(0).map(|()| Vec::new())),
            Outcome::Value,
        ),
        (
            "read-ln at the end",
            outcome(socket.read_ln()),
            Outcome::Io(IoErrorKind::EndOfStream),
        ),
        (
            "close",
            outcome(socket.close().map(|()| Vec::new())),
            Outcome::Ok(Vec::new()),
        ),
        (
            "read after close",
            outcome(socket.read(Some(1))),
            Outcome::Io(IoErrorKind::Closed),
        ),
        (
            "read(0) after close",
            outcome(socket.read(Some(0))),
            Outcome::Io(IoErrorKind::Closed),
        ),
        (
            "write after close",
            outcome(socket.write(b"x").map(|()| Vec::new())),
            Outcome::Io(IoErrorKind::Closed),
        ),
        (
            "set-timeout after close",
            outcome(socket.set_timeout(Some(1)).map(|()| Vec::new())),
            Outcome::Io(IoErrorKind::Closed),
        ),
        (
            "shutdown-output after close",
            outcome(socket.shutdown_output().map(|()| Vec::new())),
            Outcome::Io(IoErrorKind::Closed),
        ),
        (
            "a failed connect leaves no socket",
            outcome(closed.map(|_| Vec::new())),
            Outcome::Io(IoErrorKind::ConnectionRefused),
        ),
    ];
    let wrong: Vec<String> = table
        .into_iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what}: got {got:?}, want {want:?}"))
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // After all of that, the instance still works.
    assert_eq!(instance.get_host_by_name("127.0.0.1").unwrap(), "127.0.0.1");
}
