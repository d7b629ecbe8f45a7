//! IPv6 beside IPv4, in both editions: connect by literal and by name (Happy Eyeballs), the
//! address getters in RFC 5952 text, the three lookups, and server sockets on `::1` and `::`.
//! Every server is on `::1` or 127.0.0.1; names come from `Policy::lookup_table`.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream};

use alore_socket_host::{Allow, ConnectOptions, LookupTable, Policy};

use crate::common::*;

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Names of one family, of both (either first), for the tests' lookups.
fn names() -> LookupTable {
    [
        ("v6-only.test", V6),
        ("v4-only.test", V4),
        ("v6-first.test", V6),
        ("v6-first.test", V4),
        ("v4-first.test", V4),
        ("v4-first.test", V6),
    ]
    .into_iter()
    .collect()
}

/// Both loopbacks allowed, every port, and the names above.
fn both_loopbacks() -> alore_socket_host::blocking::Instance {
    instance(
        Policy::deny_all()
            .allow(Allow::host(V4))
            .allow(Allow::host(V6))
            .allow_listen(Allow::host(V6))
            .allow_listen(Allow::host(Ipv6Addr::UNSPECIFIED))
            .allow_lookup(true)
            .lookup_table(names()),
    )
}

/// A server on `ip` that sends its peer's address as a line, then echoes one line.
fn greeter(ip: IpAddr) -> Server<()> {
    Server::start_on(ip, |stream| {
        let peer = stream.peer_addr().unwrap().ip();
        let mut writer = stream.try_clone().unwrap();
        writer.write_all(format!("{peer}\n").as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        writer.write_all(line.as_bytes()).unwrap();
    })
}

#[test]
fn an_ipv6_literal_connects_and_the_addresses_are_rfc_5952_text() {
    let server = greeter(V6);
    let instance = both_loopbacks();
    let socket = instance.connect("::1", server.port, None).unwrap();
    assert_eq!(
        socket.read_ln().unwrap(),
        b"::1",
        "the server saw an IPv6 peer"
    );
    assert_eq!(socket.remote_address().unwrap(), "::1");
    assert_eq!(socket.remote_port().unwrap(), server.port);
    assert_eq!(socket.local_address().unwrap(), "::1");
    socket.write_ln(b"over six").unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"over six");
    socket.close().unwrap();
    server.join();
    // The long form is the same address, written the standard way.
    let server = greeter(V6);
    let socket = instance
        .connect("0:0:0:0:0:0:0:1", server.port, None)
        .unwrap();
    assert_eq!(socket.remote_address().unwrap(), "::1");
    drop(socket);
    drop(server);
}

#[test]
fn a_mapped_literal_is_its_ipv4_address() {
    let server = greeter(V4);
    let instance = both_loopbacks();
    let socket = instance
        .connect("::ffff:127.0.0.1", server.port, None)
        .unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"127.0.0.1");
    assert_eq!(socket.remote_address().unwrap(), "127.0.0.1");
    drop(socket);
    drop(server);
    assert_eq!(
        instance.get_host_by_name("::ffff:127.0.0.1").unwrap(),
        "127.0.0.1"
    );
}

#[test]
fn zone_indices_are_value_errors_before_any_traffic() {
    let sealed = instance(Policy::deny_all());
    let error = sealed
        .connect("fe80::1%eth0", 80, None)
        .map(drop)
        .unwrap_err();
    assert!(
        error.is_value_error() && error.to_string().contains("zone"),
        "{error}"
    );
    let error = sealed.get_host_by_address("fe80::1%1").unwrap_err();
    assert!(error.is_value_error(), "{error}");
    let error = sealed.listen(0, Some("fe80::1%lo")).map(drop).unwrap_err();
    assert!(error.is_value_error(), "{error}");
}

#[test]
fn a_name_of_one_family_connects_over_it() {
    let instance = both_loopbacks();
    for (name, ip, seen) in [
        ("v6-only.test", V6, "::1"),
        ("v4-only.test", V4, "127.0.0.1"),
    ] {
        let server = greeter(ip);
        let socket = instance.connect(name, server.port, None).unwrap();
        assert_eq!(socket.read_ln().unwrap(), seen.as_bytes(), "{name}");
        assert_eq!(socket.remote_address().unwrap(), seen, "{name}");
        drop(socket);
        drop(server);
    }
}

#[test]
fn lookups_answer_alores_way_and_every_address_in_order() {
    let instance = both_loopbacks();
    // Alore's meaning: the first IPv4 address, whatever the resolver put first.
    assert_eq!(
        instance.get_host_by_name("v6-first.test").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        instance.get_host_by_name("v4-first.test").unwrap(),
        "127.0.0.1"
    );
    // IPv6 only when there is no IPv4 address.
    assert_eq!(instance.get_host_by_name("v6-only.test").unwrap(), "::1");
    assert_eq!(instance.get_host_by_name("::1").unwrap(), "::1");
    assert_eq!(
        instance.get_host_addresses("v6-first.test").unwrap(),
        ["::1", "127.0.0.1"]
    );
    assert_eq!(
        instance.get_host_addresses("v4-first.test").unwrap(),
        ["127.0.0.1", "::1"]
    );
    assert_eq!(
        instance.get_host_addresses("2001:db8::5").unwrap(),
        ["2001:db8::5"]
    );
    let error = instance.get_host_addresses("no-such.test").unwrap_err();
    assert!(error.is_name_error(), "{error}");
}

/// A listener on `[::1]:port` that takes no more connections: its accept queue (backlog 0)
/// holds one that is never accepted, so Linux drops every later SYN and a connect there
/// hangs, as to a host that has gone dark. Kept while the value lives.
struct Dark {
    _listener: socket2::Socket,
    _queued: TcpStream,
}

impl Dark {
    fn on(port: u16) -> Option<Self> {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        listener.set_only_v6(true).unwrap();
        listener
            .bind(&std::net::SocketAddr::new(V6, port).into())
            .ok()?;
        listener.listen(0).unwrap();
        let queued = TcpStream::connect((V6, port)).unwrap();
        Some(Dark {
            _listener: listener,
            _queued: queued,
        })
    }
}

#[test]
fn happy_eyeballs_connects_past_a_dark_first_family_within_the_connect_timeout() {
    // The name's first address (IPv6) never answers; its IPv4 address serves on the same
    // port. Tried one after the other, the first attempt would use up the whole timeout
    // and the connect would fail with timed-out; raced (RFC 8305), IPv4 connects.
    let (server, _dark) = loop {
        let server = greeter(V4);
        if let Some(dark) = Dark::on(server.port) {
            break (server, dark);
        }
    };
    let instance = both_loopbacks();
    let options = ConnectOptions {
        timeout_ms: Some(3_000),
        ..ConnectOptions::default()
    };
    let socket = instance
        .connect_with("v6-first.test", server.port, options)
        .unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"127.0.0.1");
    assert_eq!(socket.remote_address().unwrap(), "127.0.0.1");
    socket.write_ln(b"ok").unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"ok");
    drop(socket);
    server.join();
}

#[test]
fn when_both_families_fail_the_last_failure_is_reported() {
    use alore_socket_host::IoErrorKind::{AccessDenied, ConnectionRefused};
    let port = closed_port();
    // v4-first.test: 127.0.0.1 is tried first and refused, then ::1: refused too, or denied
    // by a policy that allows only IPv4. The last failure is the one reported.
    for (instance, last) in [
        (both_loopbacks(), ConnectionRefused),
        (instance_v4_only(), AccessDenied),
    ] {
        let error = instance
            .connect("v4-first.test", port.port(), None)
            .map(drop)
            .unwrap_err();
        assert_eq!(error.io_kind(), Some(last), "{error}");
    }
}

fn instance_v4_only() -> alore_socket_host::blocking::Instance {
    instance(
        Policy::deny_all()
            .allow(Allow::host(V4))
            .allow_lookup(true)
            .lookup_table(names()),
    )
}

#[test]
fn server_sockets_listen_on_ipv6_and_accept_ipv6_peers() {
    let instance = both_loopbacks();
    for address in ["::1", "::"] {
        let server = instance.listen(0, Some(address)).unwrap();
        assert_eq!(server.local_address().unwrap(), address);
        let port = server.local_port().unwrap();
        let client = std::thread::spawn(move || {
            let mut stream = TcpStream::connect((V6, port)).unwrap();
            stream.write_all(b"hello six\n").unwrap();
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line).unwrap();
            line
        });
        let peer = server.accept(None).unwrap();
        assert_eq!(peer.remote_address().unwrap(), "::1", "{address}");
        assert_eq!(peer.read_ln().unwrap(), b"hello six");
        peer.write_ln(b"back").unwrap();
        peer.close().unwrap();
        assert_eq!(client.join().unwrap(), "back\n");
        server.close().unwrap();
    }
}

#[test]
fn a_server_socket_on_ipv6_any_takes_no_ipv4_peers() {
    // wasmtime makes every IPv6 socket IPv6-only (WASI's rule): `::` is every IPv6 address
    // and no IPv4 one, as an IPv6 policy rule is. Listen on 0.0.0.0 too for IPv4 peers.
    let instance = both_loopbacks();
    let server = instance.listen(0, Some("::")).unwrap();
    let port = server.local_port().unwrap();
    let error = TcpStream::connect((V4, port)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    server.close().unwrap();
}

#[test]
fn eight_mebibytes_go_both_ways_over_ipv6_in_every_buffering_mode() {
    use alore_socket_host::Buffering;
    const SIZE: usize = 8 << 20;
    let pattern = |seed| seeded_bytes(SIZE, seed);
    let instance = both_loopbacks();
    for mode in [
        Buffering::Unbuffered,
        Buffering::LineBuffered,
        Buffering::Buffered,
    ] {
        let server = Server::start_on(V6, move |mut s| {
            use std::io::Read;
            let mut got = vec![0u8; SIZE];
            s.read_exact(&mut got).unwrap();
            s.write_all(&pattern(7)).unwrap();
            got
        });
        let socket = instance.connect("::1", server.port, Some(mode)).unwrap();
        for chunk in pattern(13).chunks(100_003) {
            socket.write(chunk).unwrap();
        }
        socket.flush().unwrap();
        let back = socket.read(Some(SIZE as u32)).unwrap();
        assert!(back == pattern(7), "{mode:?}: the bytes back differ");
        assert!(
            server.join() == pattern(13),
            "{mode:?}: the bytes sent differ"
        );
        // Lines over IPv6 too.
        let server = Server::start_on(V6, |s| {
            let mut writer = s.try_clone().unwrap();
            for line in BufReader::new(s).lines() {
                writer
                    .write_all(format!("{}\n", line.unwrap()).as_bytes())
                    .unwrap();
            }
        });
        let socket = instance.connect("::1", server.port, Some(mode)).unwrap();
        for i in 0..100 {
            socket.write_ln(format!("line {i}").as_bytes()).unwrap();
            socket.flush().unwrap();
            assert_eq!(socket.read_ln().unwrap(), format!("line {i}").as_bytes());
        }
        socket.close().unwrap();
        server.join();
    }
}

#[test]
fn the_policy_denies_ipv6_it_was_not_given_in_any_form() {
    let server = greeter(V4);
    // IPv6 granted, IPv4 not: the mapped form of 127.0.0.1 is 127.0.0.1, and is denied.
    let six = instance(Policy::deny_all().allow(Allow::host(V6)));
    for destination in ["127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1"] {
        let error = six
            .connect(destination, server.port, None)
            .map(drop)
            .unwrap_err();
        assert_eq!(
            error.io_kind(),
            Some(alore_socket_host::IoErrorKind::AccessDenied),
            "{destination}: {error}"
        );
    }
    // IPv4 granted: ::1 is not 127.0.0.1.
    let four = instance(Policy::deny_all().allow(Allow::host(V4)));
    let error = four
        .connect("::1", server.port, None)
        .map(drop)
        .unwrap_err();
    assert_eq!(
        error.io_kind(),
        Some(alore_socket_host::IoErrorKind::AccessDenied),
        "{error}"
    );
    let socket = four.connect("::ffff:127.0.0.1", server.port, None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"127.0.0.1");
    drop(socket);
    drop(server);
}
