//! Timeouts, half-close, line limits and stalled peers, against real misbehaving servers on
//! 127.0.0.1: every failure is a typed error, and no byte is lost or reordered.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alore_socket_host::{Buffering, ConnectOptions, IoErrorKind};

use crate::common::*;

/// The timeout of waits that must time out (the peer is held silent): short, to keep the
/// tests quick. Waits that must succeed get [`LONG`] instead, since a loaded machine can
/// take longer than this to run the peer's next step.
const SHORT: u32 = 200;
/// The timeout of waits that must succeed: the tests' patience, not a speed requirement.
const LONG: u32 = PATIENCE.as_millis() as u32;

#[test]
fn set_deadline_bounds_a_whole_line_a_peer_trickles_and_consumes_nothing() {
    // A byte every 50 ms: no single wait reaches set-timeout, but the line takes too long.
    let (stop, stopped) = mpsc::channel::<()>();
    let server = Server::start(move |mut s| {
        for byte in b"trickled" {
            s.write_all(&[*byte]).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        stopped.recv().unwrap();
        s.write_all(b"\n").unwrap();
        let _ = stopped.recv(); // silent until the test is done
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.set_timeout(Some(LONG)).unwrap();
    socket.set_deadline(Some(SHORT)).unwrap();
    let started = Instant::now();
    assert_eq!(io_kind(socket.read_ln()), IoErrorKind::TimedOut);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(SHORT.into()), "{waited:?}");
    assert!(waited < PATIENCE, "{waited:?}");
    // Nothing was consumed; without the deadline the line arrives whole.
    socket.set_deadline(None).unwrap();
    stop.send(()).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"trickled");
    // A deadline that has passed fails the next call that must wait.
    socket.set_deadline(Some(0)).unwrap();
    assert_eq!(io_kind(socket.read(Some(1))), IoErrorKind::TimedOut);
    drop(stop);
    server.join();
}

#[test]
fn a_timed_out_read_consumes_nothing() {
    let (go_on, wait) = mpsc::channel::<()>();
    let server = Server::start(move |mut s| {
        s.write_all(b"ab").unwrap();
        wait.recv().unwrap();
        s.write_all(b"cde\nrest of the line").unwrap();
        wait.recv().unwrap();
        s.write_all(b"\n").unwrap();
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.set_timeout(Some(SHORT)).unwrap();
    assert_eq!(io_kind(socket.read(Some(5))), IoErrorKind::TimedOut);
    go_on.send(()).unwrap();
    socket.set_timeout(Some(LONG)).unwrap();
    assert_eq!(
        socket.read(Some(5)).unwrap(),
        b"abcde",
        "the first two bytes were kept"
    );
    assert_eq!(socket.read(Some(1)).unwrap(), b"\n");
    // Gather the rest of the line (a read that times out keeps what it gathered) before the
    // silence that follows it.
    socket.set_timeout(Some(SHORT)).unwrap();
    while !socket.peek().unwrap().ends_with(b"line") {
        assert_eq!(io_kind(socket.read(Some(u32::MAX))), IoErrorKind::TimedOut);
    }
    assert_eq!(
        io_kind(socket.read_ln()),
        IoErrorKind::TimedOut,
        "half a line, then silence"
    );
    go_on.send(()).unwrap();
    socket.set_timeout(Some(LONG)).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"rest of the line");
    server.join();
}

#[test]
fn a_server_that_never_writes_times_eof_out() {
    let (server, done) = silent_server();
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.set_timeout(Some(SHORT)).unwrap();
    let started = Instant::now();
    assert_eq!(io_kind(socket.eof()), IoErrorKind::TimedOut);
    assert!(
        started.elapsed() >= Duration::from_millis(SHORT.into()),
        "it did wait"
    );
    socket.set_timeout(None).unwrap();
    done.send(()).unwrap();
    server.join();
    assert!(socket.eof().unwrap());
}

#[test]
fn a_peer_that_stops_reading_times_writes_out_and_nothing_is_lost() {
    const SIZE: usize = 64 << 20;
    let (server, go_on) = reader_held_back();
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.set_timeout(Some(SHORT)).unwrap();
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    assert_eq!(io_kind(socket.write(&data)), IoErrorKind::TimedOut);
    assert_eq!(
        io_kind(socket.write_ln(b"after")),
        IoErrorKind::TimedOut,
        "queued behind"
    );
    go_on.send(()).unwrap();
    socket.set_timeout(None).unwrap();
    socket.flush().unwrap();
    socket.close().unwrap();
    let got = server.join();
    assert_eq!(got.len(), SIZE + 6);
    assert!(got[..SIZE] == data[..], "every byte, in order");
    assert_eq!(&got[SIZE..], b"after\n");
}

/// A peer that reads nothing until the returned sender sends, then reads to the end and
/// returns what came.
fn reader_held_back() -> (Server<Vec<u8>>, mpsc::Sender<()>) {
    let (go_on, wait) = mpsc::channel::<()>();
    let server = Server::start(move |mut s| {
        wait.recv().unwrap();
        read_to_end(&mut s)
    });
    (server, go_on)
}

/// A loopback listener whose backlog is full: its next SYNs get no answer.
fn unanswering() -> (socket2::Socket, socket2::Socket, u16) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let filler = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    filler
        .connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .unwrap();
    (listener, filler, port)
}

#[test]
fn a_destination_that_never_answers_times_connect_out() {
    let (_listener, _filler, port) = unanswering();
    let options = ConnectOptions {
        buffering: None,
        timeout_ms: Some(SHORT),
    };
    let started = Instant::now();
    assert_eq!(
        io_kind(loopback().connect_with("127.0.0.1", port, options)),
        IoErrorKind::TimedOut
    );
    assert!(started.elapsed() < PATIENCE);
}

#[test]
fn connect_with_options_sets_the_buffering() {
    let server = Server::start(|mut s| {
        let early = arrived_within(&mut s, QUIET);
        (early, read_to_end(&mut s))
    });
    let options = ConnectOptions {
        buffering: Some(Buffering::Buffered),
        timeout_ms: Some(5_000),
    };
    let socket = loopback()
        .connect_with("localhost", server.port, options)
        .unwrap();
    socket.write_ln(b"held").unwrap();
    std::thread::sleep(QUIET * 2);
    socket.close().unwrap();
    assert_eq!(server.join(), (b"".to_vec(), b"held\n".to_vec()));
}

#[test]
fn shutdown_output_sends_fin_and_reads_go_on() {
    let server = Server::start(|mut s| {
        let request = read_to_end(&mut s);
        s.write_all(b"response to ").unwrap();
        s.write_all(&request).unwrap();
    });
    let socket = loopback()
        .connect("127.0.0.1", server.port, Some(Buffering::Buffered))
        .unwrap();
    socket.write(b"request").unwrap();
    socket.shutdown_output().unwrap();
    assert_eq!(io_kind(socket.write(b"more")), IoErrorKind::Closed);
    assert_eq!(socket.read(None).unwrap(), b"response to request");
    server.join();
}

#[test]
fn the_line_limit_can_be_lowered_and_the_stream_goes_on() {
    let server = Server::start(|mut s| s.write_all(b"short\nmuch too long\nnext\n").unwrap());
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert!(socket.set_max_line_length(0).unwrap_err().is_value_error());
    socket.set_max_line_length(8).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"short");
    assert_eq!(io_kind(socket.read_ln()), IoErrorKind::LimitExceeded);
    assert_eq!(
        socket.read_ln().unwrap(),
        b" long",
        "the rest of the long line"
    );
    assert_eq!(socket.read_ln().unwrap(), b"next");
    server.join();
}

#[test]
fn a_drip_of_one_byte_every_10_ms_is_read_whole() {
    let server = Server::start(|mut s| {
        s.set_nodelay(true).unwrap();
        for b in b"drip\r\ndrop\n" {
            s.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.set_timeout(Some(5_000)).unwrap();
    assert_eq!(
        socket.read_lines().unwrap(),
        [b"drip".to_vec(), b"drop".to_vec()]
    );
    server.join();
}

#[test]
fn a_peer_that_closes_right_after_accept_is_just_the_end() {
    let server = Server::start(drop);
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    server.join();
    assert!(socket.eof().unwrap());
    assert_eq!(io_kind(socket.read_ln()), IoErrorKind::EndOfStream);
}

#[test]
fn a_peer_that_half_closes_ends_our_reads_but_still_takes_our_writes() {
    let server = Server::start(|mut s| {
        s.write_all(b"last words\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        read_to_end(&mut s)
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"last words");
    assert!(socket.eof().unwrap());
    socket.write_ln(b"still heard").unwrap();
    socket.close().unwrap();
    assert_eq!(server.join(), b"still heard\n");
}

#[test]
fn a_flush_to_a_peer_that_stops_reading_times_out_and_keeps_every_byte() {
    const SIZE: usize = 64 << 20;
    let (server, go_on) = reader_held_back();
    let socket = loopback()
        .connect("127.0.0.1", server.port, Some(Buffering::Buffered))
        .unwrap();
    socket.set_timeout(Some(SHORT)).unwrap();
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 253) as u8).collect();
    // Whole buffers go out at once: the write fills the connection and times out.
    assert_eq!(io_kind(socket.write(&data)), IoErrorKind::TimedOut);
    assert_eq!(
        io_kind(socket.flush()),
        IoErrorKind::TimedOut,
        "still stuck"
    );
    go_on.send(()).unwrap();
    socket.set_timeout(Some(LONG)).unwrap();
    socket.flush().unwrap();
    socket.close().unwrap();
    let got = server.join();
    assert_eq!(got.len(), SIZE);
    assert!(got == data, "every byte once, in order");
}

#[test]
fn read_lines_that_times_out_closes_the_socket() {
    // read-lines closes whatever ends it (docs/failures.md says so).
    let (server, done) = silent_server();
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.set_timeout(Some(SHORT)).unwrap();
    assert_eq!(io_kind(socket.read_lines()), IoErrorKind::TimedOut);
    assert_eq!(io_kind(socket.peek()), IoErrorKind::Closed);
    socket.close().expect("closing again does nothing");
    drop(done);
    server.join();
}
