//! Alore's `test/libs/test-socket-1.alo` as Alore ran it: server socket and client
//! socket in the same component instance, one call after another, with the buffering modes
//! really passed. Alore's fixed port 5000 becomes a port the system picks, bound again for
//! the second pass. The name tests  are in `alore_suite.rs`.

use alore_socket_host::blocking::{Instance, ServerSocket};

use crate::common::*;

fn server(instance: &Instance, port: u16) -> (ServerSocket, u16) {
    let server = instance.listen(port, None).unwrap();
    let port = server.local_port().unwrap();
    (server, port)
}

/// `testConnectMethodsAndCommunication`.
#[test]
fn connect_methods_and_communication() {
    let instance = listening();
    let mut port = 0;
    for destination in ["127.0.0.1", "localhost"] {
        let (srv, bound) = server(&instance, port);
        port = bound;
        let cli = instance.connect(destination, port, None).unwrap();
        let srvs = srv.accept(None).unwrap();
        for _ in 0..2 {
            cli.write_ln(b"foo bar").unwrap();
            assert_eq!(srvs.read_ln().unwrap(), b"foo bar");
            srvs.write_ln(b"bar zar").unwrap();
            assert_eq!(cli.read_ln().unwrap(), b"bar zar");
        }
        cli.close().unwrap();
        srvs.close().unwrap();
        cli.close().unwrap();
        srvs.close().unwrap();
        srv.close().unwrap();
        srv.close().unwrap();
    }
}

/// `testReadAndWrite`.
#[test]
fn read_and_write() {
    let instance = listening();
    let (srv, port) = server(&instance, 0);
    let cli = instance.connect("127.0.0.1", port, None).unwrap();
    let srvs = srv.accept(None).unwrap();
    cli.write(b"foo ").unwrap();
    cli.write(b"bar").unwrap();
    assert_eq!(srvs.read(Some(2)).unwrap(), b"fo");
    assert_eq!(srvs.read(Some(5)).unwrap(), b"o bar");
    cli.close().unwrap();
    assert!(srvs.eof().unwrap());
}

/// `testEof`.
#[test]
fn eof() {
    let instance = listening();
    let (srv, port) = server(&instance, 0);
    let cli = instance.connect("127.0.0.1", port, None).unwrap();
    let srvs = srv.accept(None).unwrap();
    cli.write(b"foo").unwrap();
    assert!(!srvs.eof().unwrap());
    assert_eq!(srvs.read(Some(3)).unwrap(), b"foo");
    cli.close().unwrap();
    assert!(srvs.eof().unwrap());
}

/// `testAddressAndPortInfo`.
#[test]
fn address_and_port_info() {
    let instance = listening();
    let (srv, port) = server(&instance, 0);
    let cli = instance.connect("127.0.0.1", port, None).unwrap();
    let srvs = srv.accept(None).unwrap();
    assert_eq!(cli.remote_address().unwrap(), "127.0.0.1");
    assert_eq!(cli.remote_port().unwrap(), port);
    assert_eq!(cli.local_address().unwrap(), "127.0.0.1");
    assert_ne!(cli.local_port().unwrap(), port);
    assert_eq!(cli.local_port().unwrap(), srvs.remote_port().unwrap());
    assert_eq!(srvs.remote_address().unwrap(), "127.0.0.1");
    assert_eq!(srvs.local_port().unwrap(), port);
    assert_eq!(srvs.local_address().unwrap(), "127.0.0.1");
}

/// `testSocketErrors`: a second server socket on a busy port is an `IoError`.
#[test]
fn socket_errors() {
    let instance = listening();
    let (_srv, port) = server(&instance, 0);
    let error = instance.listen(port, None).map(drop).unwrap_err();
    assert_eq!(error.io_kind(), Some(ADDRESS_IN_USE), "{error}");
    assert!(
        instance
            .connect("xxx.yyy.zzz", port, None)
            .map(drop)
            .unwrap_err()
            .is_name_error()
    );
}

/// `testBufferingModes`, each mode on both sides for real.
#[test]
fn buffering_modes() {
    let instance = listening();
    for mode in MODES {
        let (srv, port) = server(&instance, 0);
        let cli = instance.connect("127.0.0.1", port, Some(mode)).unwrap();
        let srvs = srv.accept(Some(mode)).unwrap();
        srvs.write_ln(b"hello").unwrap();
        srvs.close().unwrap();
        assert_eq!(cli.read_ln().unwrap(), b"hello", "{mode:?}");
    }
}

/// `testListeningToSpecificInterface`.
#[test]
fn listening_to_specific_interface() {
    let instance = listening();
    let srv = instance.listen(0, Some("127.0.0.1")).unwrap();
    let port = srv.local_port().unwrap();
    let cli = instance.connect("127.0.0.1", port, None).unwrap();
    let srvs = srv.accept(None).unwrap();
    cli.write_ln(b"foo").unwrap();
    assert_eq!(srvs.read_ln().unwrap(), b"foo");
}
