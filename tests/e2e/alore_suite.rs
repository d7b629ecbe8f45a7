//! Alore's own `test/libs/test-socket-1.alo` assertion by assertion. The server
//! side, which Alore wrote with `serversocket`, is a native listener here; where a test reads
//! on the server side, it is run in both directions so that the component does the reading
//! too. Tests 9-11 run against a test `/etc` and a DNS server on 127.0.0.1, never this
//! machine's resolver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

use alore_socket_host::Policy;

use crate::common::*;
use crate::dns_server::{Behaviour, DnsServer};

fn listen(address: Ipv4Addr, port: u16) -> (TcpListener, u16) {
    let listener = TcpListener::bind((address, port)).expect("listen");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

fn native_read_ln(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line.trim_end_matches(['\r', '\n']).to_owned()
}

/// `testConnectMethodsAndCommunication`: connect before accept, two line exchanges each
/// way, double closes, and the port bound again at once for the second pass (which really
/// connects by name here; Alore's loop variable went unused).
#[test]
fn connect_methods_and_communication() {
    let instance = loopback();
    let mut port = 0;
    for destination in ["127.0.0.1", "localhost"] {
        let (listener, bound) = listen(Ipv4Addr::UNSPECIFIED, port);
        port = bound;
        let client = instance.connect(destination, port, None).unwrap();
        let server = accept(&listener);
        let mut reader = BufReader::new(server.try_clone().unwrap());
        let mut writer = server;
        for _ in 0..2 {
            client.write_ln(b"foo bar").unwrap();
            assert_eq!(native_read_ln(&mut reader), "foo bar");
            writer.write_all(b"bar zar\n").unwrap();
            assert_eq!(client.read_ln().unwrap(), b"bar zar");
        }
        client.close().unwrap();
        drop(writer);
        client.close().unwrap();
        drop(listener);
    }
}

/// `testReadAndWrite`: `read(2)` then `read(5)` spanning two writes; `eof()` after the peer
/// closed.
#[test]
fn read_and_write() {
    // The component writes, the server reads.
    let server = Server::start(|mut s| {
        let first = read_n(&mut s, 2);
        let second = read_n(&mut s, 5);
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        (first, second, rest.is_empty())
    });
    let client = loopback().connect("127.0.0.1", server.port, None).unwrap();
    client.write(b"foo ").unwrap();
    client.write(b"bar").unwrap();
    client.close().unwrap();
    assert_eq!(server.join(), (b"fo".to_vec(), b"o bar".to_vec(), true));

    // The server writes, the component reads.
    let server = Server::start(|mut s| dribble(&mut s, &[b"foo ", b"bar"]));
    let client = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert_eq!(client.read(Some(2)).unwrap(), b"fo");
    assert_eq!(client.read(Some(5)).unwrap(), b"o bar");
    server.join();
    assert!(client.eof().unwrap());
}

/// `testEof`: `eof()` blocks until data comes (false), then is true after the peer closed.
#[test]
fn eof() {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let server = Server::start(move |mut s| {
        std::thread::sleep(QUIET);
        s.write_all(b"foo").unwrap();
        wait.recv().unwrap();
    });
    let client = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert!(!client.eof().unwrap());
    assert_eq!(client.read(Some(3)).unwrap(), b"foo");
    release.send(()).unwrap();
    server.join();
    assert!(client.eof().unwrap());
}

/// `testAddressAndPortInfo`.
#[test]
fn address_and_port_info() {
    let (listener, port) = listen(Ipv4Addr::UNSPECIFIED, 0);
    let client = loopback().connect("127.0.0.1", port, None).unwrap();
    let server = accept(&listener);
    assert_eq!(client.remote_address().unwrap(), "127.0.0.1");
    assert_eq!(client.remote_port().unwrap(), port);
    assert_eq!(client.local_address().unwrap(), "127.0.0.1");
    let local_port = client.local_port().unwrap();
    assert_ne!(local_port, port);
    assert_eq!(local_port, server.peer_addr().unwrap().port());
    assert_eq!(server.peer_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(server.local_addr().unwrap().port(), port);
}

/// `testSocketErrors`: the `NameError` check Alore left commented out ("may cause a long
/// delay"; the tests' own lookup table answers it at once), and a server socket on a port a
/// native server holds is an `IoError`.
#[test]
fn socket_errors() {
    let (_listener, port) = listen(Ipv4Addr::LOCALHOST, 0);
    let error = loopback().connect("xxx.yyy.zzz", port, None).unwrap_err();
    assert!(error.is_name_error(), "{error}");
    let error = listening().listen(port, None).map(drop).unwrap_err();
    assert_eq!(error.io_kind(), Some(ADDRESS_IN_USE), "{error}");
    assert!(error.to_string().contains("EADDRINUSE"), "{error}");
}

/// `testBufferingModes`, with the modes really passed (Alore had them commented out): data
/// sent before the peer closed is still read.
#[test]
fn buffering_modes() {
    for mode in MODES {
        let (listener, port) = listen(Ipv4Addr::UNSPECIFIED, 0);
        let client = loopback().connect("127.0.0.1", port, Some(mode)).unwrap();
        let mut server = accept(&listener);
        server.write_all(b"hello\n").unwrap();
        drop(server);
        assert_eq!(client.read_ln().unwrap(), b"hello", "{mode:?}");
    }
}

/// `testListeningToSpecificInterface`: the component as the client of a native server
/// on 127.0.0.1, and the component's server socket on 127.0.0.1 with a native client.
#[test]
fn listening_to_specific_interface() {
    let (listener, port) = listen(Ipv4Addr::LOCALHOST, 0);
    let client = loopback().connect("127.0.0.1", port, None).unwrap();
    let mut reader = BufReader::new(accept(&listener));
    client.write_ln(b"foo").unwrap();
    assert_eq!(native_read_ln(&mut reader), "foo");

    let server = listening().listen(0, Some("127.0.0.1")).unwrap();
    let port = server.local_port().unwrap();
    let mut native = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let accepted = server.accept(None).unwrap();
    native.write_all(b"bar\n").unwrap();
    assert_eq!(accepted.read_ln().unwrap(), b"bar");
}

/// `testGetHostByName`.
#[test]
fn get_host_by_name() {
    let instance = loopback();
    assert_eq!(instance.get_host_by_name("localhost").unwrap(), "127.0.0.1");
    assert!(
        instance
            .get_host_by_name("xxx.yyy")
            .unwrap_err()
            .is_name_error()
    );
}

/// `testGetHostByAddress`: a non-empty name for 127.0.0.1; "localhost" is a
/// `ValueError`.
#[test]
fn get_host_by_address() {
    let server = DnsServer::start(Behaviour::NoSuchName);
    let etc = tempfile::tempdir().unwrap();
    std::fs::write(etc.path().join("hosts"), "127.0.0.1 localhost\n").unwrap();
    let policy = Policy::deny_all()
        .allow_reverse_lookup(true)
        .etc_from(etc.path())
        .resolver(server.address);
    let instance = instance(policy);
    assert!(
        !instance
            .get_host_by_address("127.0.0.1")
            .unwrap()
            .is_empty()
    );
    assert!(
        instance
            .get_host_by_address("localhost")
            .unwrap_err()
            .is_value_error()
    );
    // `testGetHostByAddressWithInvalidHost`, which Alore skipped: an address without
    // a name is a `NameError`.
    assert!(
        instance
            .get_host_by_address("1.2.3.4")
            .unwrap_err()
            .is_name_error()
    );
}

/// `testGetHostName`: a non-empty name, this machine's own.
#[test]
fn get_host_name() {
    let name = instance(
        Policy::deny_all()
            .allow_reverse_lookup(true)
            .etc_from(tempfile::tempdir().unwrap().path()),
    )
    .get_host_name()
    .unwrap();
    assert!(!name.is_empty());
}
