//! When each buffering mode puts bytes on the wire, as the server sees it.

use std::sync::mpsc;

use alore_socket_host::Buffering;
use alore_socket_host::blocking::Socket;

use crate::common::*;

/// One call on the socket under test.
type Step = Box<dyn Fn(&Socket)>;

/// Runs `steps` on a client socket in `mode`, in lockstep with the server: after each step
/// returns, the server records what arrived before the next step starts. One entry per step.
fn wire_after_each(mode: Option<Buffering>, steps: Vec<Step>) -> Vec<Vec<u8>> {
    let (step_done, step_seen) = mpsc::channel::<()>();
    let (observed, observation) = mpsc::channel::<Vec<u8>>();
    let server = Server::start(move |mut s| {
        while step_seen.recv().is_ok() {
            observed.send(arrived_within(&mut s, QUIET)).unwrap();
        }
    });
    let socket = loopback().connect("127.0.0.1", server.port, mode).unwrap();
    let mut seen = Vec::new();
    for step in steps {
        step(&socket);
        step_done.send(()).unwrap();
        seen.push(observation.recv().unwrap());
    }
    drop(step_done);
    server.join();
    seen
}

#[test]
fn unbuffered_the_default_sends_every_write_at_once() {
    let seen = wire_after_each(
        None,
        vec![
            Box::new(|s| s.write(b"abc").unwrap()),
            Box::new(|s| s.write_ln(b"def").unwrap()),
            Box::new(|s| s.write(&[b'x'; 100_000]).unwrap()),
        ],
    );
    same(&seen[0], b"abc");
    same(&seen[1], b"def\n");
    assert_eq!(
        seen[2].len(),
        100_000,
        "a write far over WASI's 4096-byte blocking limit"
    );
}

#[test]
fn line_buffered_sends_on_line_feed_full_buffer_and_flush() {
    let mut long = vec![b'a'; 250];
    long.push(b'\n');
    long.extend_from_slice(&[b'b'; 10]);
    let seen = wire_after_each(
        Some(Buffering::LineBuffered),
        vec![
            Box::new(|s| s.write(b"abc").unwrap()),
            Box::new(|s| s.write(b"x\ry").unwrap()),
            Box::new(|s| s.write(b"ghi\njk").unwrap()),
            Box::new(|s| s.write_ln(b"").unwrap()),
            Box::new(|s| s.write(&[b'd'; 600]).unwrap()),
            Box::new(|s| s.flush().unwrap()),
            Box::new(move |s| s.write(&long).unwrap()),
            Box::new(|s| s.close().unwrap()),
        ],
    );
    same(&seen[0], b""); // held
    same(&seen[1], b""); // CR does not send
    same(&seen[2], b"abcx\ryghi\njk"); // LF sends the whole buffer
    same(&seen[3], b"\n"); // write-ln sends
    same(&seen[4], &[b'd'; 512]); // two full buffers; 88 bytes held
    same(&seen[5], &[b'd'; 88]);
    assert_eq!(
        seen[6].len(),
        256,
        "the LF was in the part a full buffer sent"
    );
    same(&seen[7], &[b'b'; 5]); // close flushes
}

#[test]
fn buffered_sends_only_full_buffers_flush_and_close() {
    let seen = wire_after_each(
        Some(Buffering::Buffered),
        vec![
            Box::new(|s| s.write_ln(b"line").unwrap()),
            Box::new(|s| s.write(&[b'x'; 8000]).unwrap()),
            Box::new(|s| s.write(&[b'y'; 200]).unwrap()),
            Box::new(|s| s.flush().unwrap()),
            Box::new(|s| s.write(b"tail").unwrap()),
            Box::new(|s| s.close().unwrap()),
        ],
    );
    same(&seen[0], b"");
    same(&seen[1], b"");
    assert_eq!(seen[2].len(), 8192, "a full buffer goes");
    assert_eq!(seen[3].len(), 5 + 8000 + 200 - 8192);
    same(&seen[4], b"");
    same(&seen[5], b"tail");
}

#[test]
fn reading_does_not_flush() {
    // Alore: with a buffer, a request/response exchange needs an explicit flush. Every read
    // that goes to the network (read(n), read-ln, eof) leaves written bytes where they are.
    // (Unbuffered writes are on the wire before `write` returns: nothing to hold.)
    for mode in [Buffering::LineBuffered, Buffering::Buffered] {
        let (step_done, step_seen) = mpsc::channel::<()>();
        let (observed, observation) = mpsc::channel::<Vec<u8>>();
        let server = Server::start(move |mut s| {
            use std::io::Write;
            s.write_all(b"ab\nline\n").unwrap();
            while step_seen.recv().is_ok() {
                observed.send(arrived_within(&mut s, QUIET)).unwrap();
                // Something for the next read to wait for; after the last step the client may
                // already have closed, and this write then fails.
                let _ = s.write_all(b"more\n");
            }
        });
        let socket = loopback()
            .connect("127.0.0.1", server.port, Some(mode))
            .unwrap();
        socket.write(b"held, no line feed").unwrap();
        let step = |name: &str, result: bool| {
            assert!(result, "{mode:?}: {name}");
            step_done.send(()).unwrap();
            let seen = observation.recv().unwrap();
            assert!(seen.is_empty(), "{mode:?}: {name} flushed {seen:?}");
        };
        step("read(2)", socket.read(Some(2)).unwrap() == b"ab");
        step("read-ln", socket.read_ln().unwrap() == b"");
        step("read-ln", socket.read_ln().unwrap() == b"line");
        step("eof", !socket.eof().unwrap());
        socket.flush().unwrap();
        drop(step_done);
        drop(socket);
        server.join();
    }
}

/// The bytes a held write leaves on the wire once it is flushed: nothing was lost by the
/// reads that did not flush it.
#[test]
fn held_bytes_arrive_whole_after_reads() {
    for mode in [Buffering::LineBuffered, Buffering::Buffered] {
        let server = Server::start(|mut s| {
            use std::io::Write;
            s.write_all(b"reply\n").unwrap();
            read_to_end(&mut s)
        });
        let socket = loopback()
            .connect("127.0.0.1", server.port, Some(mode))
            .unwrap();
        socket.write(b"held").unwrap();
        assert_eq!(socket.read_ln().unwrap(), b"reply");
        socket.close().unwrap();
        same(&server.join(), b"held");
    }
}

#[test]
fn dropping_a_socket_flushes_it() {
    for mode in [Buffering::LineBuffered, Buffering::Buffered] {
        let server = Server::start(|mut s| read_to_end(&mut s));
        let socket = loopback()
            .connect("127.0.0.1", server.port, Some(mode))
            .unwrap();
        socket.write(b"no newline, never flushed").unwrap();
        drop(socket);
        assert_eq!(server.join(), b"no newline, never flushed", "{mode:?}");
    }
}
