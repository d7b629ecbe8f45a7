//! Server sockets: listening, accepting, closing, re-binding, and the policy on both.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

use alore_socket_host::{Allow, Buffering, IoErrorKind, Policy};

use crate::common::*;

#[test]
fn listens_accepts_and_talks_both_ways() {
    let instance = listening();
    let server = instance.listen(0, Some("127.0.0.1")).unwrap();
    let port = server.local_port().unwrap();
    assert_ne!(port, 0, "the port the system picked");
    assert_eq!(server.local_address().unwrap(), "127.0.0.1");
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let accepted = server.accept(Some(Buffering::LineBuffered)).unwrap();
    assert_eq!(accepted.local_port().unwrap(), port);
    assert_eq!(
        accepted.remote_port().unwrap(),
        client.local_addr().unwrap().port()
    );
    assert_eq!(accepted.remote_address().unwrap(), "127.0.0.1");
    client.write_all(b"ping\n").unwrap();
    assert_eq!(accepted.read_ln().unwrap(), b"ping");
    accepted.write(b"pong").unwrap();
    accepted.write_ln(b"!").unwrap();
    assert_eq!(
        read_n(&mut client, 6),
        b"pong!\n",
        "line-buffered, as asked"
    );
}

#[test]
fn the_default_address_is_every_interface() {
    let server = listening().listen(0, None).unwrap();
    assert_eq!(server.local_address().unwrap(), "0.0.0.0");
}

#[test]
fn a_malformed_address_is_a_value_error() {
    let instance = listening();
    for bad in ["localhost", "127.1", "::1%lo", "[::1]", "", "1.2.3.256"] {
        let error = instance.listen(0, Some(bad)).map(drop).unwrap_err();
        assert!(error.is_value_error(), "{bad:?}: {error}");
    }
}

#[test]
fn a_busy_port_is_an_io_error() {
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = busy.local_addr().unwrap().port();
    let error = listening()
        .listen(port, Some("127.0.0.1"))
        .map(drop)
        .unwrap_err();
    assert_eq!(error.io_kind(), Some(ADDRESS_IN_USE), "{error}");
    assert!(error.to_string().contains("EADDRINUSE"), "{error}");
}

#[test]
fn the_port_can_be_bound_again_right_after_close_and_accepted_sockets_live_on() {
    let instance = listening();
    let server = instance.listen(0, Some("127.0.0.1")).unwrap();
    let port = server.local_port().unwrap();
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let accepted = server.accept(None).unwrap();
    server.close().unwrap();
    server.close().unwrap();
    assert_eq!(io_kind(server.accept(None)), IoErrorKind::Closed);
    assert_eq!(io_kind(server.local_port()), IoErrorKind::Closed);
    assert_eq!(io_kind(server.local_address()), IoErrorKind::Closed);
    let again = instance.listen(port, Some("127.0.0.1")).unwrap();
    assert_eq!(again.local_port().unwrap(), port);
    accepted.write_ln(b"still here").unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(read_n(&mut client, 11), b"still here\n");
}

#[test]
fn clients_wait_in_the_backlog_until_accepted() {
    let server = listening().listen(0, Some("127.0.0.1")).unwrap();
    let port = server.local_port().unwrap();
    let mut clients: Vec<TcpStream> = (0..5u8)
        .map(|i| {
            let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            client.write_all(&[b'a' + i, b'\n']).unwrap();
            client
        })
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        let accepted = server.accept(None).unwrap();
        assert_eq!(accepted.read_ln().unwrap(), [b'a' + i as u8]);
        accepted.close().unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
}

#[test]
fn the_policy_decides_where_one_may_listen() {
    let nothing = instance(Policy::deny_all());
    assert_eq!(
        io_kind(nothing.listen(0, Some("127.0.0.1"))),
        IoErrorKind::AccessDenied
    );
    let connect_only = instance(Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST)));
    assert_eq!(
        io_kind(connect_only.listen(0, None)),
        IoErrorKind::AccessDenied
    );
    let free = free_port();
    let other_port = Allow::host(Ipv4Addr::LOCALHOST).port(if free == 1 { 2 } else { free - 1 });
    let elsewhere = instance(Policy::deny_all().allow_listen(other_port));
    assert_eq!(
        io_kind(elsewhere.listen(free, Some("127.0.0.1"))),
        IoErrorKind::AccessDenied
    );
    let loopback_only = instance(Policy::deny_all().allow_listen(Allow::host(Ipv4Addr::LOCALHOST)));
    assert_eq!(
        io_kind(loopback_only.listen(0, None)),
        IoErrorKind::AccessDenied,
        "not 0.0.0.0"
    );
    loopback_only.listen(0, Some("127.0.0.1")).unwrap();
}

/// A client on 127.0.0.1 that connects from the given source port.
fn connect_from(source_port: u16, to: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, source_port)).into())
        .unwrap();
    socket
        .connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, to)).into())
        .unwrap();
    socket.into()
}

#[test]
fn accepted_peers_are_checked_like_outgoing_connections() {
    let allowed_source = free_port();
    let policy = Policy::deny_all()
        .allow_listen(Allow::host(Ipv4Addr::LOCALHOST))
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(allowed_source));
    let server = instance(policy).listen(0, Some("127.0.0.1")).unwrap();
    let port = server.local_port().unwrap();
    // First in the queue, from a port the policy does not allow: the host turns it away.
    let mut denied = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let mut allowed = connect_from(allowed_source, port);
    allowed.write_all(b"let me in\n").unwrap();
    let accepted = server.accept(None).unwrap();
    assert_eq!(accepted.remote_port().unwrap(), allowed_source);
    assert_eq!(accepted.read_ln().unwrap(), b"let me in");
    // The host resets a denied peer: its read ends at once with a reset (or the end of the
    // stream), not after our patience with silence.
    denied.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0; 1];
    match denied.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the denied peer was not turned away: {other:?}"),
    }
    drop(allowed);
}

/// Connect to `port` and reset the connection at once (SO_LINGER 0: an RST right after the
/// handshake), before the server has accepted it.
pub fn connect_and_reset(port: u16) {
    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    socket2::SockRef::from(&client)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(client);
}

#[test]
fn a_peer_gone_before_it_is_accepted_is_connection_reset_and_the_listener_goes_on() {
    let server = listening().listen(0, Some("127.0.0.1")).unwrap();
    let port = server.local_port().unwrap();
    connect_and_reset(port);
    // Let the RST land before the accept.
    std::thread::sleep(QUIET);
    let error = server.accept(None).map(drop).unwrap_err();
    assert_eq!(
        error.io_kind(),
        Some(IoErrorKind::ConnectionReset),
        "{error}"
    );
    assert!(!error.to_string().contains("invalid-state"), "{error}");
    // The listener goes on: the next peer is accepted and talks.
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    client.write_all(b"next\n").unwrap();
    let accepted = server.accept(None).unwrap();
    assert_eq!(accepted.read_ln().unwrap(), b"next");
    assert_eq!(
        accepted.remote_port().unwrap(),
        client.local_addr().unwrap().port()
    );
}

#[test]
fn an_accepted_socket_keeps_its_addresses_after_its_peer_resets() {
    let server = listening().listen(0, Some("127.0.0.1")).unwrap();
    let port = server.local_port().unwrap();
    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let client_port = client.local_addr().unwrap().port();
    let accepted = server.accept(None).unwrap();
    socket2::SockRef::from(&client)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(client);
    match accepted.eof() {
        Ok(true) => {}
        Err(e) if e.io_kind() == Some(IoErrorKind::ConnectionReset) => {}
        other => panic!("the reset ends the stream: {other:?}"),
    }
    assert_eq!(accepted.remote_address().unwrap(), "127.0.0.1");
    assert_eq!(accepted.remote_port().unwrap(), client_port);
    assert_eq!(accepted.local_port().unwrap(), port);
}

#[test]
fn the_constructor_and_the_portable_listen_make_the_same_server_socket() {
    let instance = listening();
    for server in [
        instance.listen(0, Some("127.0.0.1")).unwrap(),
        instance.server_socket(0, Some("127.0.0.1")).unwrap(),
    ] {
        let port = server.local_port().unwrap();
        let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        client.write_all(b"either\n").unwrap();
        assert_eq!(server.accept(None).unwrap().read_ln().unwrap(), b"either");
    }
    let error = instance
        .server_socket(0, Some("localhost"))
        .map(drop)
        .unwrap_err();
    assert!(error.is_value_error(), "{error}");
}
