//! Reading: counts, lines split across packets, the end of the stream, `read()` closing.

use std::io::Write;

use alore_socket_host::{Buffering, IoErrorKind};

use crate::common::*;

#[test]
fn read_n_waits_for_n_bytes_across_packets() {
    let server = Server::start(|mut s| dribble(&mut s, &[b"ab", b"cde", b"fgh"]));
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert_eq!(socket.read(Some(5)).unwrap(), b"abcde");
    assert_eq!(socket.read(Some(0)).unwrap(), b"");
    assert_eq!(
        socket.read(Some(100)).unwrap(),
        b"fgh",
        "short only at the end"
    );
    assert_eq!(
        socket.read(Some(100)).unwrap(),
        b"",
        "the end is not an error"
    );
    assert_eq!(socket.read(Some(u32::MAX)).unwrap(), b"");
    server.join();
}

#[test]
fn line_endings_split_across_packets() {
    for mode in MODES {
        let server = Server::start(|mut s| {
            dribble(
                &mut s,
                &[
                    b"l1\nl2\r",
                    b"\nl3\r",
                    b"\n",
                    b"l4\r",
                    b"l5",
                    b"\n\n\r\r\nlast",
                ],
            )
        });
        let socket = loopback()
            .connect("127.0.0.1", server.port, Some(mode))
            .unwrap();
        let mut lines = Vec::new();
        while !socket.eof().unwrap() {
            lines.push(socket.read_ln().unwrap());
        }
        let expected: [&[u8]; 9] = [b"l1", b"l2", b"l3", b"l4", b"l5", b"", b"", b"", b"last"];
        assert_eq!(lines, expected, "{mode:?}");
        assert_eq!(io_kind(socket.read_ln()), IoErrorKind::EndOfStream);
        server.join();
    }
}

#[test]
fn a_trailing_cr_waits_for_what_follows() {
    // "a\r" arrives alone; its LF comes later. A read-ln that did not wait for it would
    // return "a" at the CR and then an empty line for the LF.
    let server = Server::start(|mut s| dribble(&mut s, &[b"a\r", b"\nb\r"]));
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"a");
    assert_eq!(
        socket.read_ln().unwrap(),
        b"b",
        "CR LF split across packets is one line ending; a last CR ends its line at the end"
    );
    assert_eq!(io_kind(socket.read_ln()), IoErrorKind::EndOfStream);
    server.join();
}

#[test]
fn read_lines_reads_to_the_end_then_closes() {
    let server = Server::start(|mut s| dribble(&mut s, &[b"a\nb\r\nc\rd", b"e\n\nf"]));
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    let lines = socket.read_lines().unwrap();
    let expected: [&[u8]; 6] = [b"a", b"b", b"c", b"de", b"", b"f"];
    assert_eq!(lines, expected);
    assert_eq!(io_kind(socket.peek()), IoErrorKind::Closed);
    server.join();
}

#[test]
fn read_all_returns_everything_and_closes() {
    let server = Server::start(|mut s| {
        s.write_all(b"head\n").unwrap();
        dribble(&mut s, &[b"cd", b"efg"]);
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"head");
    assert_eq!(socket.read(None).unwrap(), b"cdefg");
    assert_eq!(io_kind(socket.eof()), IoErrorKind::Closed);
    assert_eq!(io_kind(socket.write(b"x")), IoErrorKind::Closed);
    server.join();
}

#[test]
fn peek_and_eof() {
    let server = Server::start(|mut s| {
        s.write_all(b"one\ntwo").unwrap();
        read_to_end(&mut s)
    });
    let socket = loopback()
        .connect("127.0.0.1", server.port, Some(Buffering::LineBuffered))
        .unwrap();
    assert_eq!(socket.peek().unwrap(), b"", "peek never reads");
    assert!(!socket.eof().unwrap(), "eof waits for data");
    assert_eq!(socket.peek().unwrap(), b"one\ntwo");
    assert_eq!(socket.read_ln().unwrap(), b"one");
    assert_eq!(socket.peek().unwrap(), b"two");
    socket.close().unwrap();
    server.join();
}

#[test]
fn eight_mebibytes_each_way_arrive_whole_and_in_order() {
    const SIZE: usize = 8 << 20;
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let expected = data.clone();
    let server = Server::start(move |mut s| {
        let got = read_n(&mut s, SIZE);
        s.write_all(&got).unwrap();
        got == expected
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.write(&data).unwrap();
    let mut back = Vec::with_capacity(SIZE);
    while back.len() < SIZE {
        back.extend(socket.read(Some(65536)).unwrap());
    }
    assert!(server.join(), "the server got every byte in order");
    assert!(back == data, "and so did we");
}

#[test]
fn a_line_over_one_mebibyte_is_refused_and_the_stream_goes_on() {
    const LIMIT: usize = 1 << 20;
    let server = Server::start(|mut s| {
        let mut data = vec![b'x'; LIMIT];
        data.push(b'\n');
        data.extend(vec![b'y'; LIMIT + 10]);
        data.extend_from_slice(b"\nafter\n");
        s.write_all(&data).unwrap();
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    assert_eq!(
        socket.read_ln().unwrap().len(),
        LIMIT,
        "exactly the limit is fine"
    );
    assert_eq!(io_kind(socket.read_ln()), IoErrorKind::LimitExceeded);
    assert_eq!(
        socket.read_ln().unwrap(),
        [b'y'; 10],
        "the rest of the long line"
    );
    assert_eq!(socket.read_ln().unwrap(), b"after");
    server.join();
}

#[test]
fn every_byte_value_passes_unchanged() {
    // Data is bytes, not text (docs/semantics.md, "Data, arguments and ports").
    let all: Vec<u8> = (0..=255).collect();
    let expected = all.clone();
    let server = Server::start(move |mut s| {
        let got = read_n(&mut s, 256);
        s.write_all(&got).unwrap();
        got == expected
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.write(&all).unwrap();
    same(&socket.read(Some(256)).unwrap(), &all);
    assert!(server.join());
}

#[test]
fn read_lines_closes_the_socket_when_it_fails() {
    // The server leaves our byte unread and closes: its kernel answers with RST.
    let server = Server::start(|mut s| {
        s.write_all(b"a\nb\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.write(b"unread").unwrap();
    server.join();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(io_kind(socket.read_lines()), IoErrorKind::ConnectionReset);
    assert_eq!(
        io_kind(socket.peek()),
        IoErrorKind::Closed,
        "closed all the same"
    );
}
