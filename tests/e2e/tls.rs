//! `start-tls`: the component's TLS build against real TLS servers on loopback, with a CA and
//! certificates each test run makes (rcgen), verified by the host (rustls, through wasi:tls).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::{Arc, OnceLock};

use alore_socket_host::blocking::Instance;
use alore_socket_host::{Allow, Buffering, Edition, IoErrorKind, Policy};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::common::*;

/// A certificate authority and server certificates it signed.
pub struct Pki {
    pub ca_pem: String,
    /// For "localhost" and "tls.test", valid now.
    pub good: Arc<ServerConfig>,
    /// The same names, expired in 2021.
    pub expired: Arc<ServerConfig>,
    /// Signed by another CA, which nobody trusts.
    pub untrusted: Arc<ServerConfig>,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn server_config(issuer: &CertifiedIssuer<'static, KeyPair>, expired: bool) -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "tls.test".to_owned()]).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.signed_by(&key, issuer).unwrap();
    let chain = vec![
        cert.der().clone(),
        CertificateDer::from(issuer.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Arc::new(
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ours = ca("alore-socket test CA");
        let theirs = ca("nobody's CA");
        Pki {
            ca_pem: ours.pem(),
            good: server_config(&ours, false),
            expired: server_config(&ours, true),
            untrusted: server_config(&theirs, false),
        }
    })
}

/// TLS allowed, trusting the test CA, connections to every port of 127.0.0.1, and the test
/// names ("localhost").
pub fn tls_policy() -> Policy {
    with_test_names(Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST)))
        .allow_tls(true)
        .tls_root_pem(pki().ca_pem.as_bytes(), "the test CA")
        .unwrap()
}

pub type Tls = StreamOwned<ServerConnection, TcpStream>;

/// A TLS server: the handshake done on the accepted connection, then `script`.
pub fn tls_server<T: Send + 'static>(
    config: &Arc<ServerConfig>,
    script: impl FnOnce(&mut Tls) -> T + Send + 'static,
) -> Server<T> {
    let config = Arc::clone(config);
    Server::start(move |s| {
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), s);
        let result = script(&mut tls);
        tls.conn.send_close_notify();
        let _ = tls.flush();
        result
    })
}

/// A TLS server that first says `ready` in plaintext, waits for `STARTTLS`, says `go ahead`
/// (and `extra`, in the same write), then runs `script` over TLS.
fn starttls_server<T: Send + 'static>(
    extra: &'static [u8],
    script: impl FnOnce(&mut Tls) -> T + Send + 'static,
) -> Server<T> {
    let config = Arc::clone(&pki().good);
    Server::start(move |mut s| {
        s.write_all(b"220 ready\r\n").unwrap();
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "STARTTLS\r\n");
        s.write_all(&[&b"220 go ahead\r\n"[..], extra].concat())
            .unwrap();
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), s);
        let result = script(&mut tls);
        tls.conn.send_close_notify();
        let _ = tls.flush();
        result
    })
}

pub fn read_line(tls: &mut Tls) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while tls.read(&mut byte).unwrap() == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    String::from_utf8(line).unwrap()
}

fn tls_instance() -> Instance {
    instance(tls_policy())
}

fn message(e: &alore_socket_host::Error) -> String {
    e.to_string()
}

#[test]
fn lines_go_over_tls_in_every_buffering_mode() {
    let instance = tls_instance();
    for mode in MODES {
        let server = tls_server(&pki().good, |tls| {
            let line = read_line(tls);
            tls.write_all(format!("echo: {line}").as_bytes()).unwrap();
            tls.write_all(b"second\r\n").unwrap();
            line
        });
        let socket = instance
            .connect("localhost", server.port, Some(mode))
            .unwrap();
        socket.start_tls(None).unwrap();
        socket.write_ln(b"hello over TLS").unwrap();
        socket.flush().unwrap();
        assert_eq!(
            socket.read_ln().unwrap(),
            b"echo: hello over TLS",
            "{mode:?}"
        );
        assert_eq!(socket.read_ln().unwrap(), b"second", "{mode:?}");
        assert_eq!(
            io_kind(socket.read_ln()),
            IoErrorKind::EndOfStream,
            "{mode:?}: close_notify is the end"
        );
        assert_eq!(server.join(), "hello over TLS\n", "{mode:?}");
    }
}

#[test]
fn eight_mebibytes_go_both_ways_over_tls_every_byte_once_in_order() {
    const SIZE: usize = 8 << 20;
    let pattern = |seed| seeded_bytes(SIZE, seed);
    let server = tls_server(&pki().good, move |tls| {
        let mut got = vec![0u8; SIZE];
        tls.read_exact(&mut got).unwrap();
        tls.write_all(&pattern(7)).unwrap();
        got
    });
    let instance = tls_instance();
    let socket = instance
        .connect("localhost", server.port, Some(Buffering::Buffered))
        .unwrap();
    socket.start_tls(None).unwrap();
    for chunk in pattern(13).chunks(100_003) {
        socket.write(chunk).unwrap();
    }
    socket.flush().unwrap();
    let back = socket.read(Some(SIZE as u32)).unwrap();
    same(&back, &pattern(7));
    same(&server.join(), &pattern(13));
}

#[test]
fn read_ln_joins_lines_across_tls_records() {
    let server = tls_server(&pki().good, |tls| {
        // Each write and flush is a TLS record of its own.
        for piece in [&b"ab"[..], b"c\r", b"\nde", b"f", b"\n", b"last"] {
            tls.write_all(piece).unwrap();
            tls.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let instance = tls_instance();
    let socket = instance.connect("localhost", server.port, None).unwrap();
    socket.start_tls(None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"abc");
    assert_eq!(socket.read_ln().unwrap(), b"def");
    assert_eq!(socket.read_ln().unwrap(), b"last");
    server.join();
}

#[test]
fn a_starttls_exchange_goes_from_plaintext_lines_to_tls_lines() {
    let server = starttls_server(b"", |tls| {
        let line = read_line(tls);
        tls.write_all(b"250 hello, TLS\r\n").unwrap();
        line
    });
    let instance = tls_instance();
    let socket = instance
        .connect("localhost", server.port, Some(Buffering::LineBuffered))
        .unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"220 ready");
    socket.write_ln(b"STARTTLS\r").unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"220 go ahead");
    socket.start_tls(None).unwrap();
    socket.write_ln(b"EHLO client\r").unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"250 hello, TLS");
    assert_eq!(server.join(), "EHLO client\r\n");
}

#[test]
fn starttls_is_refused_while_pipelined_plaintext_is_unread_and_the_socket_goes_on() {
    let server = Server::start(|mut s| {
        s.write_all(b"220 go ahead\r\nINJECTED\r\n").unwrap();
        read_to_end(&mut s)
    });
    let instance = tls_instance();
    let socket = instance.connect("localhost", server.port, None).unwrap();
    // Both lines arrived in one segment: read-ln takes the first, the second waits unread.
    assert_eq!(socket.read_ln().unwrap(), b"220 go ahead");
    let error = socket.start_tls(None).unwrap_err();
    assert!(error.is_value_error(), "{error}");
    assert!(message(&error).contains("unread"), "{error}");
    // Still plaintext, and nothing was lost or sent.
    assert_eq!(socket.read_ln().unwrap(), b"INJECTED");
    socket.write_ln(b"QUIT").unwrap();
    socket.close().unwrap();
    assert_eq!(server.join(), b"QUIT\n");
}

/// A start-tls against `server` that must fail: the error, after checking that it is one line
/// beginning "TLS:" and that the socket is closed afterwards.
fn failed_handshake(
    instance: &Instance,
    port: u16,
    name: Option<&str>,
) -> alore_socket_host::Error {
    let socket = instance.connect("localhost", port, None).unwrap();
    socket.set_timeout(Some(2_000)).unwrap();
    let error = socket.start_tls(name).unwrap_err();
    let text = message(&error);
    assert!(text.contains("TLS:") && !text.contains('\n'), "{text}");
    assert_eq!(io_kind(socket.read(Some(1))), IoErrorKind::Closed, "{text}");
    error
}

#[test]
fn certificates_that_do_not_verify_fail_the_handshake_and_close_the_socket() {
    let instance = tls_instance();
    for (case, config, name, expect) in [
        ("untrusted CA", &pki().untrusted, None, "UnknownIssuer"),
        ("expired", &pki().expired, None, "expired"),
        (
            "another name",
            &pki().good,
            Some("other.test"),
            "not valid for name",
        ),
    ] {
        let server = tls_server(config, |tls| {
            let _ = tls.conn.complete_io(&mut tls.sock);
        });
        let error = failed_handshake(&instance, server.port, name);
        assert_eq!(error.io_kind(), Some(IoErrorKind::Other), "{case}: {error}");
        assert!(message(&error).contains(expect), "{case}: {error}");
        server.join();
    }
}

#[test]
fn peers_that_do_not_speak_tls_fail_the_handshake_with_one_line_errors() {
    let instance = tls_instance();
    // Plaintext where the server hello should be.
    let server = Server::start(|mut s| {
        let mut hello = [0u8; 512];
        let _ = s.read(&mut hello);
        let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
    });
    let error = failed_handshake(&instance, server.port, None);
    assert_eq!(error.io_kind(), Some(IoErrorKind::Other), "{error}");
    server.join();
    // A reset in the middle of the handshake.
    let server = Server::start(|s| {
        let mut hello = [0u8; 512];
        let _ = (&s).read(&mut hello);
        socket2::SockRef::from(&s)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
    });
    let error = failed_handshake(&instance, server.port, None);
    assert_eq!(
        error.io_kind(),
        Some(IoErrorKind::ConnectionReset),
        "as over plain TCP: {error}"
    );
    assert!(message(&error).contains("TLS: "), "{error}");
    server.join();
}

/// Make `s` reset (RST, not FIN) when it is dropped.
fn reset_on_drop(s: &TcpStream) {
    socket2::SockRef::from(s)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
}

#[test]
fn a_reset_over_tls_is_connection_reset_for_reads_and_writes_as_over_tcp() {
    let instance = tls_instance();
    let server = tls_server(&pki().good, |tls| {
        tls.write_all(b"hello\n").unwrap();
        tls.flush().unwrap();
        assert_eq!(read_line(tls), "go\n");
        reset_on_drop(&tls.sock);
    });
    let socket = instance.connect("localhost", server.port, None).unwrap();
    socket.start_tls(None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"hello");
    socket.write_ln(b"go").unwrap();
    // The reset reaches the next read; had tls_server's close_notify (sent after the script,
    // before the reset) been read first, the read is the end, and a write finds the reset:
    // the first write in the WASI 0.2 edition, whose TLS writes go to TCP within the call; in
    // the WASI 0.3 edition the host's TLS layer takes the first (its records then fail to go),
    // and the next reports it (docs/contract-0.2.md, "TLS").
    let attempts = if EDITION == Edition::Wasi03 { 2 } else { 1 };
    let error = match socket.read_ln() {
        Ok(line) => panic!("a line after the reset: {line:?}"),
        Err(e) if e.io_kind() == Some(IoErrorKind::EndOfStream) => {
            std::thread::sleep(std::time::Duration::from_millis(20));
            (0..attempts)
                .find_map(|_| {
                    let failed = socket.write_ln(b"after the reset").err();
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    failed
                })
                .expect("a write after the reset fails")
        }
        Err(e) => e,
    };
    assert_eq!(
        error.io_kind(),
        Some(IoErrorKind::ConnectionReset),
        "{error}"
    );
    server.join();
    // A write after the peer reset, with nothing read: as over TCP, the write that finds the
    // connection gone fails with connection-reset (the first may still go out).
    let server = tls_server(&pki().good, |tls| {
        tls.write_all(b"bye\n").unwrap();
        tls.flush().unwrap();
        assert_eq!(read_line(tls), "read it\n");
        reset_on_drop(&tls.sock);
    });
    let socket = instance.connect("localhost", server.port, None).unwrap();
    socket.start_tls(None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"bye");
    socket.write_ln(b"read it").unwrap();
    server.join();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let error = (0..100)
        .find_map(|_| socket.write_ln(b"into the void").err())
        .expect("a write fails once the peer has reset");
    assert_eq!(
        error.io_kind(),
        Some(IoErrorKind::ConnectionReset),
        "{error}"
    );
}

#[test]
fn a_truncated_tls_stream_fails_every_read_after_and_never_yields_the_tail() {
    let config = Arc::clone(&pki().good);
    // The peer sends a line and the start of another, then a FIN with no close_notify: a
    // truncation (an attacker who cuts the connection looks the same).
    let server = Server::start(move |s| {
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), s);
        tls.write_all(b"whole line\nunterminated tail").unwrap();
        tls.flush().unwrap();
        tls.sock.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = tls.sock.read_to_end(&mut rest);
    });
    let instance = tls_instance();
    let socket = instance
        .connect("localhost", server.port, Some(Buffering::LineBuffered))
        .unwrap();
    socket.start_tls(None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"whole line");
    let first = socket.read_ln().unwrap_err();
    assert_ne!(first.io_kind(), Some(IoErrorKind::EndOfStream), "{first}");
    assert_ne!(first.io_kind(), Some(IoErrorKind::TimedOut), "{first}");
    for again in 0..3 {
        let error = socket.read_ln().unwrap_err();
        assert_eq!(message(&error), message(&first), "read-ln #{again}");
    }
    assert_eq!(
        message(&socket.read(None).unwrap_err()),
        message(&first),
        "read()"
    );
    assert_eq!(
        message(&socket.read_lines().unwrap_err()),
        message(&first),
        "read-lines"
    );
    server.join();
}

#[test]
fn a_stalled_handshake_times_out_by_set_timeout_and_closes_the_socket() {
    let (server, release) = silent_server();
    let instance = tls_instance();
    let socket = instance.connect("localhost", server.port, None).unwrap();
    socket.set_timeout(Some(300)).unwrap();
    let started = std::time::Instant::now();
    let error = socket.start_tls(None).unwrap_err();
    assert_eq!(error.io_kind(), Some(IoErrorKind::TimedOut), "{error}");
    assert!(started.elapsed() < PATIENCE);
    assert_eq!(io_kind(socket.read(Some(1))), IoErrorKind::Closed);
    drop(release);
    server.join();
}

#[test]
fn start_tls_checks_its_server_name_before_anything_is_sent() {
    let server = Server::start(|mut s| read_to_end(&mut s));
    let instance = tls_instance();
    // Connected to an address: no name to verify against.
    let socket = instance.connect("127.0.0.1", server.port, None).unwrap();
    for name in [None, Some("bad name"), Some(""), Some("127.0.0.1")] {
        let error = socket.start_tls(name).unwrap_err();
        assert!(error.is_value_error(), "{name:?}: {error}");
    }
    // Still plaintext and usable.
    socket.write_ln(b"plain").unwrap();
    socket.close().unwrap();
    assert_eq!(server.join(), b"plain\n");
}

#[test]
fn tls_denied_by_the_policy_says_so_and_leaves_the_socket_usable() {
    let server = Server::start(|mut s| read_to_end(&mut s));
    let instance = loopback();
    let socket = instance.connect("localhost", server.port, None).unwrap();
    let error = socket.start_tls(None).unwrap_err();
    assert_eq!(error.io_kind(), Some(IoErrorKind::Other), "{error}");
    assert!(
        message(&error).contains("TLS: not allowed by the host's policy"),
        "{error}"
    );
    socket.write_ln(b"still plaintext").unwrap();
    socket.close().unwrap();
    assert_eq!(server.join(), b"still plaintext\n");
}

#[test]
fn tls_does_not_start_twice_on_one_connection() {
    let server = tls_server(&pki().good, read_line);
    let instance = tls_instance();
    let socket = instance.connect("localhost", server.port, None).unwrap();
    socket.start_tls(None).unwrap();
    assert!(socket.start_tls(None).unwrap_err().is_value_error());
    socket.write_ln(b"done").unwrap();
    assert_eq!(server.join(), "done\n");
}

#[test]
fn shutdown_output_over_tls_ends_the_stream_and_reads_go_on() {
    let server = tls_server(&pki().good, |tls| {
        let line = read_line(tls);
        // The client's close_notify: the end of what it sends.
        let mut rest = Vec::new();
        tls.read_to_end(&mut rest).unwrap();
        tls.write_all(b"bye\n").unwrap();
        (line, rest)
    });
    let instance = tls_instance();
    let socket = instance.connect("localhost", server.port, None).unwrap();
    socket.start_tls(None).unwrap();
    socket.write_ln(b"last words").unwrap();
    socket.shutdown_output().unwrap();
    assert_eq!(io_kind(socket.write(b"x")), IoErrorKind::Closed);
    assert_eq!(socket.read_ln().unwrap(), b"bye");
    let (line, rest) = server.join();
    assert_eq!(line, "last words\n");
    assert!(rest.is_empty());
}

#[test]
fn tls_over_a_connection_allowed_by_name_verifies_that_name_and_no_other() {
    // The certificate names "localhost" and "tls.test": without the binding, a handshake for
    // either would pass, as a front end serving many tenants would let it.
    let policy = Policy::deny_all()
        .allow_name(alore_socket_host::AllowName::names("tls.test").unwrap())
        .lookup_table(
            [("tls.test", std::net::IpAddr::from(Ipv4Addr::LOCALHOST))]
                .into_iter()
                .collect(),
        )
        .allow_tls(true)
        .tls_root_pem(pki().ca_pem.as_bytes(), "the test CA")
        .unwrap();
    let instance = instance(policy);
    let server = tls_server(&pki().good, read_line);
    let socket = instance.connect("tls.test", server.port, None).unwrap();
    socket.start_tls(Some("tls.test")).unwrap();
    socket.write_ln(b"bound").unwrap();
    assert_eq!(server.join(), "bound\n");

    let server = tls_server(&pki().good, |tls| {
        let mut buf = [0u8; 1];
        let _ = tls.read(&mut buf);
    });
    let socket = instance.connect("tls.test", server.port, None).unwrap();
    let error = socket.start_tls(Some("localhost")).unwrap_err();
    assert_eq!(error.io_kind(), Some(IoErrorKind::Other), "{error}");
    assert!(
        message(&error).contains("\"localhost\" is refused")
            && message(&error).contains("allowed as tls.test only"),
        "{error}"
    );
    assert!(!message(&error).contains('\n'), "{error}");
    drop(socket);
    drop(server);
}
