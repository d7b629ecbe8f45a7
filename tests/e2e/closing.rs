//! Closing, the closed state, and peers that go away.

use std::io::Write;
use std::time::Duration;

use alore_socket_host::{Buffering, IoErrorKind};

use crate::common::*;

#[test]
fn close_flushes_and_a_second_close_does_nothing() {
    let server = Server::start(|mut s| read_to_end(&mut s));
    let socket = loopback()
        .connect("127.0.0.1", server.port, Some(Buffering::Buffered))
        .unwrap();
    socket.write(b"buffered").unwrap();
    socket.close().unwrap();
    socket.close().unwrap();
    assert_eq!(
        server.join(),
        b"buffered",
        "flushed, then the server saw the end"
    );
}

#[test]
fn every_operation_but_close_fails_after_close() {
    for mode in MODES {
        let server = Server::start(|mut s| {
            s.write_all(b"l1\nl2\nl3").unwrap();
            read_to_end(&mut s)
        });
        let socket = loopback()
            .connect("127.0.0.1", server.port, Some(mode))
            .unwrap();
        assert_eq!(socket.read_ln().unwrap(), b"l1");
        socket.write(b"x").unwrap();
        socket.close().unwrap();
        let closed = IoErrorKind::Closed;
        assert_eq!(
            io_kind(socket.read_ln()),
            closed,
            "{mode:?}: no stale input"
        );
        assert_eq!(io_kind(socket.read(Some(2))), closed);
        assert_eq!(io_kind(socket.read(Some(0))), closed);
        assert_eq!(io_kind(socket.read(None)), closed);
        assert_eq!(io_kind(socket.read_lines()), closed);
        assert_eq!(io_kind(socket.peek()), closed);
        assert_eq!(io_kind(socket.eof()), closed);
        assert_eq!(io_kind(socket.flush()), closed);
        assert_eq!(
            io_kind(socket.write(b"y")),
            closed,
            "{mode:?}: no silent discard"
        );
        assert_eq!(io_kind(socket.write_ln(b"y")), closed);
        assert_eq!(io_kind(socket.local_address()), closed);
        assert_eq!(io_kind(socket.local_port()), closed);
        assert_eq!(io_kind(socket.remote_address()), closed);
        assert_eq!(io_kind(socket.remote_port()), closed);
        socket.close().unwrap();
        assert_eq!(server.join(), b"x", "only what was written before close");
    }
}

#[test]
fn data_sent_before_the_peer_closed_is_still_read() {
    let server = Server::start(|mut s| {
        s.write_all(b"hello\n").unwrap();
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    server.join();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(socket.read_ln().unwrap(), b"hello");
    assert!(socket.eof().unwrap());
    assert!(socket.eof().unwrap(), "the end keeps being the end");
}

#[test]
fn a_reset_connection_is_connection_reset() {
    // A server that closes with unread data in its receive queue makes the kernel send RST.
    let server = Server::start(|mut s| {
        read_n(&mut s, 1);
        std::thread::sleep(Duration::from_millis(50));
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.write(b"12345").unwrap();
    server.join();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(io_kind(socket.read(Some(10))), IoErrorKind::ConnectionReset);
    // Open but dead: every later read fails the same way, never as the end of the stream,
    // so what came before the reset is never taken for the whole (docs/semantics.md,
    // "Failures").
    assert_eq!(io_kind(socket.read(Some(10))), IoErrorKind::ConnectionReset);
    assert_eq!(io_kind(socket.eof()), IoErrorKind::ConnectionReset);
    assert_eq!(io_kind(socket.read_ln()), IoErrorKind::ConnectionReset);
    assert_eq!(io_kind(socket.read(None)), IoErrorKind::ConnectionReset);
    // Writing to the dead connection fails too (EPIPE), within a few tries.
    let write_error = (0..10).find_map(|_| socket.write(&[0; 1024]).err());
    let kind = write_error.expect("a write fails").io_kind();
    assert_eq!(kind, Some(IoErrorKind::ConnectionReset));
    // The failed write's bytes are still queued: close's final flush fails, says so, and
    // releases the connection anyway.
    assert_eq!(io_kind(socket.close()), IoErrorKind::ConnectionReset);
    assert_eq!(io_kind(socket.peek()), IoErrorKind::Closed);
    socket.close().expect("a second close does nothing");
}

#[test]
fn writing_after_the_peer_left_fails_at_flush_when_buffered() {
    let server = Server::start(|mut s| {
        s.flush().unwrap();
    });
    let socket = loopback()
        .connect("127.0.0.1", server.port, Some(Buffering::Buffered))
        .unwrap();
    server.join();
    std::thread::sleep(Duration::from_millis(50));
    // Small writes stay in the 8192-byte buffer and never touch the network: only the flush
    // can find the peer gone (the first one may still be taken by the peer's kernel).
    let failure = (0..10).find_map(|_| {
        socket
            .write(b"late")
            .expect("a buffered write does not send");
        socket.flush().err()
    });
    assert_eq!(
        failure.and_then(|e| e.io_kind()),
        Some(IoErrorKind::ConnectionReset)
    );
}

#[test]
fn set_max_line_length_after_close_is_closed() {
    let server = Server::start(|mut s| read_to_end(&mut s));
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.close().unwrap();
    assert_eq!(io_kind(socket.set_max_line_length(10)), IoErrorKind::Closed);
    assert_eq!(
        io_kind(socket.set_max_line_length(0)),
        IoErrorKind::Closed,
        "closed first"
    );
    server.join();
}
