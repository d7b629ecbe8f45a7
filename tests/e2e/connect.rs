//! Connecting: by address and by name, failures, argument checks and the network policy.

use std::io::Write;
use std::net::Ipv4Addr;

use alore_socket_host::{Allow, Buffering, IoErrorKind, Policy};

use crate::common::*;

#[test]
fn connects_by_address_and_reports_both_ends() {
    let server = Server::start(|s| {
        (
            s.peer_addr().unwrap().port(),
            s.local_addr().unwrap().port(),
        )
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert_eq!(socket.remote_address().unwrap(), "127.0.0.1");
    assert_eq!(socket.remote_port().unwrap(), server.port);
    assert_eq!(socket.local_address().unwrap(), "127.0.0.1");
    let local_port = socket.local_port().unwrap();
    let (peer_port, server_port) = server.join();
    assert_eq!(
        local_port, peer_port,
        "our local port is the server's remote port"
    );
    assert_ne!(local_port, server_port);
}

#[test]
fn connects_by_name() {
    let server = Server::start(|mut s| {
        s.write_all(b"hi\n").unwrap();
        read_n(&mut s, 3)
    });
    let socket = loopback().connect("localhost", server.port, None).unwrap();
    assert_eq!(socket.remote_address().unwrap(), "127.0.0.1");
    assert_eq!(socket.read_ln().unwrap(), b"hi");
    socket.write_ln(b"yo").unwrap();
    assert_eq!(server.join(), b"yo\n");
}

#[test]
fn refused_connection_is_connection_refused() {
    let closed = closed_port();
    let port = closed.port();
    let result = loopback().connect("127.0.0.1", port, None);
    assert_eq!(io_kind(result), IoErrorKind::ConnectionRefused);
    let result = loopback().connect("localhost", port, None);
    assert_eq!(
        io_kind(result),
        IoErrorKind::ConnectionRefused,
        "the last failure is reported"
    );
}

#[test]
fn unknown_names_are_name_errors() {
    // Unknown to the tests' lookup table, so answered without any DNS query.
    for name in ["xxx.yyy", "xxx.yyy.zzz", "no-such-host.invalid"] {
        let error = loopback().connect(name, 80, None).map(drop).unwrap_err();
        assert!(error.is_name_error(), "{name}: {error}");
        let error = loopback().get_host_by_name(name).unwrap_err();
        assert!(error.is_name_error(), "{name}: {error}");
    }
}

#[test]
fn malformed_arguments_are_value_errors_before_any_traffic() {
    // No network at all: any traffic would fail with access-denied or a name-error instead.
    let sealed = instance(Policy::deny_all());
    let long = "a".repeat(254);
    for destination in [
        "",
        " ",
        "local host",
        "a\0b",
        "tab\there",
        "new\nline",
        "del\u{7f}",
        &long,
    ] {
        let error = sealed.connect(destination, 80, None).map(drop).unwrap_err();
        assert!(error.is_value_error(), "{destination:?}: {error}");
        let error = sealed.get_host_by_name(destination).unwrap_err();
        assert!(error.is_value_error(), "{destination:?}: {error}");
    }
    let error = sealed.connect("127.0.0.1", 0, None).map(drop).unwrap_err();
    assert!(error.is_value_error(), "port 0: {error}");
}

#[test]
fn the_policy_denies_addresses_and_names_that_resolve_to_them() {
    let server = Server::start(|mut s| read_to_end(&mut s));
    let other = Allow::host(Ipv4Addr::new(127, 0, 0, 2));
    let elsewhere = instance(with_test_names(Policy::deny_all().allow(other)));
    assert_eq!(
        io_kind(elsewhere.connect("127.0.0.1", server.port, None)),
        IoErrorKind::AccessDenied
    );
    assert_eq!(
        io_kind(elsewhere.connect("localhost", server.port, None)),
        IoErrorKind::AccessDenied
    );
    let wrong_port = Allow::host(Ipv4Addr::LOCALHOST).port(server.port.wrapping_add(1).max(1));
    let strict = instance(Policy::deny_all().allow(wrong_port));
    assert_eq!(
        io_kind(strict.connect("127.0.0.1", server.port, None)),
        IoErrorKind::AccessDenied
    );
    let nothing = instance(Policy::deny_all());
    assert_eq!(
        io_kind(nothing.connect("127.0.0.1", server.port, None)),
        IoErrorKind::AccessDenied
    );
    // The allowed port works, and the server saw only that one connection.
    let exact =
        instance(Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port)));
    exact
        .connect("127.0.0.1", server.port, None)
        .unwrap()
        .write(b"ok")
        .unwrap();
    assert_eq!(server.join(), b"ok");
}

#[test]
fn without_lookups_names_fail_and_addresses_still_connect() {
    let server = Server::start(|mut s| read_to_end(&mut s));
    let no_lookups = instance(Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST)));
    let error = no_lookups
        .connect("localhost", server.port, None)
        .map(drop)
        .unwrap_err();
    assert!(error.is_name_error(), "{error}");
    assert!(
        no_lookups
            .get_host_by_name("localhost")
            .unwrap_err()
            .is_name_error()
    );
    assert_eq!(
        no_lookups.get_host_by_name("127.0.0.1").unwrap(),
        "127.0.0.1"
    );
    let socket = no_lookups
        .connect("127.0.0.1", server.port, Some(Buffering::Buffered))
        .unwrap();
    socket.write(b"by address").unwrap();
    socket.close().unwrap();
    assert_eq!(server.join(), b"by address");
}

#[test]
fn many_sockets_in_one_instance() {
    let instance = loopback();
    let servers: Vec<_> = (0..8u8)
        .map(|i| {
            Server::start(move |mut s| {
                s.write_all(&[b'0' + i, b'\n']).unwrap();
                read_n(&mut s, 2)
            })
        })
        .collect();
    let sockets: Vec<_> = servers
        .iter()
        .map(|s| instance.connect("127.0.0.1", s.port, None).unwrap())
        .collect();
    for (i, socket) in sockets.iter().enumerate().rev() {
        assert_eq!(socket.read_ln().unwrap(), [b'0' + i as u8]);
        socket.write_ln(b"k").unwrap();
    }
    for server in servers {
        assert_eq!(server.join(), b"k\n");
    }
}

/// An instance whose lookups know `name` as these addresses, in this order, and that may
/// connect to every port of 127.0.0.1 and 127.0.0.2 but to nothing of 127.0.0.3.
fn several_addresses(name: &str, addresses: &[[u8; 4]]) -> alore_socket_host::blocking::Instance {
    let table: alore_socket_host::LookupTable = addresses
        .iter()
        .map(|&octets| (name, std::net::IpAddr::from(octets)))
        .collect();
    instance(
        Policy::deny_all()
            .allow(Allow::host(Ipv4Addr::LOCALHOST))
            .allow(Allow::host(Ipv4Addr::new(127, 0, 0, 2)))
            .allow_lookup(true)
            .lookup_table(table),
    )
}

#[test]
fn each_address_of_a_name_is_tried_in_turn() {
    // The server listens on 127.0.0.1 only: 127.0.0.2 refuses, 127.0.0.3 is denied.
    let server = Server::start(|mut s| {
        use std::io::Write;
        s.write_all(b"reached\n").unwrap();
        s.peer_addr().unwrap()
    });
    let instance = several_addresses(
        "multi.test",
        &[[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 1]],
    );
    let socket = instance.connect("multi.test", server.port, None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"reached");
    assert_eq!(socket.remote_address().unwrap(), "127.0.0.1");
    server.join();
}

#[test]
fn when_every_address_fails_the_last_failure_is_reported() {
    let port = closed_port();
    let refused_last = several_addresses("refused-last.test", &[[127, 0, 0, 3], [127, 0, 0, 2]]);
    assert_eq!(
        io_kind(refused_last.connect("refused-last.test", port.port(), None)),
        IoErrorKind::ConnectionRefused
    );
    let denied_last = several_addresses("denied-last.test", &[[127, 0, 0, 2], [127, 0, 0, 3]]);
    assert_eq!(
        io_kind(denied_last.connect("denied-last.test", port.port(), None)),
        IoErrorKind::AccessDenied
    );
}
