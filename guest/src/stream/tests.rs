//! The core's rules, checked natively against the fake transport (`fake.rs`), which delivers
//! scripted arrivals and records every write. Examples come from `docs/semantics.md`.

use proptest::prelude::*;

use super::fake::{Fake, Now};
use super::model::Op;
use super::*;

fn stream(mode: Buffering, arrivals: &[&[u8]]) -> (Now<Fake>, Fake) {
    let fake = Fake::delivering(arrivals.iter().map(|a| a.to_vec()));
    (Now::new(fake.clone(), mode), fake)
}

fn kind(result: Result<impl std::fmt::Debug, Error>) -> IoKind {
    match result {
        Err(Error::Io { kind, .. }) => kind,
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

// ---- writing -----------------------------------------------------------------------------

#[test]
fn unbuffered_sends_during_each_call() {
    let (mut s, wire) = stream(Buffering::Unbuffered, &[]);
    s.write(b"ab").unwrap();
    assert_eq!(wire.sent(), [b"ab".to_vec()]);
    s.write_ln(b"cd").unwrap();
    assert_eq!(wire.sent(), [b"ab".to_vec(), b"cd\n".to_vec()]);
    s.flush().unwrap();
    assert_eq!(wire.sent().len(), 2, "flush has nothing to send");
}

#[test]
fn line_buffered_sends_on_line_feed_only() {
    let (mut s, wire) = stream(Buffering::LineBuffered, &[]);
    s.write(b"abc").unwrap();
    s.write(b"x\ry").unwrap();
    assert!(wire.sent().is_empty(), "CR does not trigger a flush");
    s.write(b"ghi\njk").unwrap();
    assert_eq!(
        wire.sent(),
        [b"abcx\ryghi\njk".to_vec()],
        "the whole buffer goes"
    );
    s.write_ln(b"l").unwrap();
    assert_eq!(wire.sent()[1], b"l\n");
}

#[test]
fn line_buffered_sends_full_buffers() {
    let (mut s, wire) = stream(Buffering::LineBuffered, &[]);
    s.write(&[b'a'; 300]).unwrap();
    assert_eq!(wire.sent_bytes().len(), 256);
    let (mut s, wire) = stream(Buffering::LineBuffered, &[]);
    s.write(&[b'd'; 600]).unwrap();
    assert_eq!(wire.sent_bytes().len(), 512, "88 held");
    s.flush().unwrap();
    assert_eq!(wire.sent_bytes(), [b'd'; 600]);
}

#[test]
fn line_feed_before_a_full_buffer_flush_does_not_count() {
    // Spec: write(250×"a" + LF + 10×"b") sends 256 bytes; "bbbbb" stays buffered.
    let (mut s, wire) = stream(Buffering::LineBuffered, &[]);
    let mut data = vec![b'a'; 250];
    data.push(b'\n');
    data.extend_from_slice(&[b'b'; 10]);
    s.write(&data).unwrap();
    assert_eq!(wire.sent_bytes(), data[..256]);
    s.close().unwrap();
    assert_eq!(wire.sent_bytes(), data, "close flushes the rest");
}

#[test]
fn buffered_holds_until_full_flush_or_close() {
    let (mut s, wire) = stream(Buffering::Buffered, &[]);
    s.write_ln(b"line").unwrap();
    s.write(&[b'x'; 8000]).unwrap();
    assert!(wire.sent().is_empty());
    s.write(&[b'y'; 200]).unwrap();
    assert_eq!(wire.sent_bytes().len(), 8192);
    s.flush().unwrap();
    assert_eq!(wire.sent_bytes().len(), 5 + 8000 + 200);
    s.write(b"tail").unwrap();
    s.close().unwrap();
    assert!(wire.sent_bytes().ends_with(b"tail"));
}

#[test]
fn large_buffered_write_sends_whole_buffers_and_keeps_the_rest() {
    let (mut s, wire) = stream(Buffering::Buffered, &[]);
    s.write(b"head").unwrap();
    s.write(&[7; 3 * 8192 + 10]).unwrap();
    assert_eq!(wire.sent_bytes().len(), 3 * 8192, "14 bytes held");
    assert_eq!(s.output.output.len(), 14);
}

#[test]
fn drop_flushes() {
    let (mut s, wire) = stream(Buffering::Buffered, &[]);
    s.write(b"bye").unwrap();
    drop(s);
    assert_eq!(wire.sent_bytes(), b"bye");
    assert!(wire.0.borrow().released);
}

#[test]
fn failed_flush_keeps_the_bytes_and_close_still_releases() {
    let (mut s, wire) = stream(Buffering::Buffered, &[]);
    s.write(b"data").unwrap();
    wire.0.borrow_mut().broken = true;
    assert_eq!(kind(s.flush()), IoKind::ConnectionReset);
    assert_eq!(s.output.output, b"data");
    assert_eq!(kind(s.close()), IoKind::ConnectionReset);
    assert!(wire.0.borrow().released);
    assert_eq!(s.close(), Ok(()), "a second close does nothing");
}

// ---- reading -----------------------------------------------------------------------------

fn lines_of(mut s: Now<Fake>) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    loop {
        match s.read_ln() {
            Ok(line) => lines.push(line),
            Err(e) => {
                assert_eq!(e, Error::end_of_stream());
                return lines;
            }
        }
    }
}

#[test]
fn line_endings_lf_crlf_cr_even_split() {
    let (s, _) = stream(Buffering::Unbuffered, &[b"l1\nl2\r\nl3\r", b"\nl4"]);
    assert_eq!(lines_of(s), [&b"l1"[..], b"l2", b"l3", b"l4"]);
    let (s, _) = stream(Buffering::Unbuffered, &[b"l5\n\n\r\r\n"]);
    assert_eq!(lines_of(s), [&b"l5"[..], b"", b"", b""]);
}

#[test]
fn trailing_cr_waits_for_the_next_byte() {
    let (mut s, wire) = stream(Buffering::Unbuffered, &[b"a\rb\r"]);
    assert_eq!(s.read_ln().unwrap(), b"a");
    let reads = wire.0.borrow().asked.len();
    assert_eq!(s.read_ln().unwrap(), b"b");
    assert_eq!(
        wire.0.borrow().asked.len(),
        reads + 1,
        "it asked whether an LF follows"
    );
    assert_eq!(s.read_ln(), Err(Error::end_of_stream()));
    assert_eq!(
        s.read_ln(),
        Err(Error::end_of_stream()),
        "the error repeats"
    );
}

#[test]
fn cr_then_other_data_is_a_line_end() {
    let (mut s, _) = stream(Buffering::Unbuffered, &[b"l4\r", b"next\n"]);
    assert_eq!(s.read_ln().unwrap(), b"l4");
    assert_eq!(s.read_ln().unwrap(), b"next");
}

#[test]
fn final_terminator_gives_no_extra_line() {
    let (s, _) = stream(Buffering::Unbuffered, &[b"x\n"]);
    assert_eq!(lines_of(s), [b"x"]);
    let (s, _) = stream(Buffering::Unbuffered, &[b"partial"]);
    assert_eq!(lines_of(s), [b"partial"]);
}

#[test]
fn read_lines_reads_to_the_end_and_closes() {
    let (mut s, wire) = stream(Buffering::LineBuffered, &[b"a\nb\r\nc\rd", b"e\n\nf"]);
    let lines = s.read_lines().unwrap();
    assert_eq!(lines, [&b"a"[..], b"b", b"c", b"de", b"", b"f"]);
    assert!(wire.0.borrow().released);
    assert_eq!(kind(s.peek()), IoKind::Closed);
    let (mut s, _) = stream(Buffering::Unbuffered, &[]);
    assert_eq!(s.read_lines().unwrap(), Vec::<Vec<u8>>::new());
}

#[test]
fn read_lines_closes_on_failure_too() {
    let (mut s, wire) = stream(Buffering::Unbuffered, &[b"a\nb"]);
    wire.0.borrow_mut().reset_after_arrivals = true;
    assert_eq!(kind(s.read_lines()), IoKind::ConnectionReset);
    assert!(wire.0.borrow().released);
    assert_eq!(kind(s.eof()), IoKind::Closed);
}

#[test]
fn a_read_failure_is_kept_so_the_tail_after_it_is_never_a_whole_line() {
    // The transport fails once and then reports the end, as a WASI stream does after a reset
    // or a TLS peer that closed without close_notify: the tail must not pass for a line.
    for mode in [
        Buffering::Unbuffered,
        Buffering::LineBuffered,
        Buffering::Buffered,
    ] {
        let (mut s, wire) = stream(mode, &[b"whole\nunterminated tail"]);
        wire.0.borrow_mut().reset_after_arrivals = true;
        assert_eq!(s.read_ln().unwrap(), b"whole", "{mode:?}");
        assert_eq!(kind(s.read_ln()), IoKind::ConnectionReset, "{mode:?}");
        assert_eq!(
            kind(s.read_ln()),
            IoKind::ConnectionReset,
            "{mode:?}: again"
        );
        assert!(!s.eof().unwrap(), "{mode:?}: the tail is there, unread");
        assert_eq!(kind(s.read(Some(100))), IoKind::ConnectionReset, "{mode:?}");
        assert_eq!(kind(s.read(None)), IoKind::ConnectionReset, "{mode:?}");
        assert_eq!(
            s.peek().unwrap(),
            b"unterminated tail",
            "{mode:?}: still unread"
        );
        assert_eq!(
            s.read(Some(4)).unwrap(),
            b"unte",
            "{mode:?}: what came is readable"
        );
        assert_eq!(s.read(Some(13)).unwrap(), b"rminated tail", "{mode:?}");
        assert_eq!(
            kind(s.eof()),
            IoKind::ConnectionReset,
            "{mode:?}: nothing left"
        );
        assert_eq!(kind(s.read_lines()), IoKind::ConnectionReset, "{mode:?}");
    }
    // A timeout is not kept: the next read goes on.
    let (mut s, _) = stream(Buffering::Unbuffered, &[b"a", b"", b"b\n"]);
    assert_eq!(kind(s.read_ln()), IoKind::TimedOut);
    assert_eq!(s.read_ln().unwrap(), b"ab");
}

#[test]
fn read_n_blocks_across_arrivals_and_stops_at_the_end() {
    let (mut s, _) = stream(Buffering::Unbuffered, &[b"foo ", b"bar"]);
    assert_eq!(s.read(Some(2)).unwrap(), b"fo");
    assert_eq!(s.read(Some(5)).unwrap(), b"o bar");
    assert_eq!(s.read(Some(100)).unwrap(), b"");
    assert!(s.eof().unwrap());
    let (mut s, _) = stream(Buffering::Buffered, &[b"ab", b"cde"]);
    assert_eq!(
        s.read(Some(100)).unwrap(),
        b"abcde",
        "short only at the end"
    );
    assert_eq!(s.read(Some(0)).unwrap(), b"");
}

#[test]
fn unbuffered_read_never_takes_more_than_asked() {
    let (mut s, _) = stream(Buffering::Unbuffered, &[b"abcde"]);
    assert_eq!(s.read(Some(3)).unwrap(), b"abc");
    assert_eq!(s.peek().unwrap(), b"");
    for mode in [Buffering::LineBuffered, Buffering::Buffered] {
        let (mut s, _) = stream(mode, &[b"abcde"]);
        assert_eq!(s.read(Some(3)).unwrap(), b"abc");
        assert_eq!(s.peek().unwrap(), b"de", "{mode:?} keeps the surplus");
    }
}

#[test]
fn huge_count_on_a_short_stream_allocates_nothing_up_front() {
    let (mut s, _) = stream(Buffering::Unbuffered, &[b"short"]);
    assert_eq!(s.read(Some(u32::MAX)).unwrap(), b"short");
}

#[test]
fn read_and_read_ln_mix() {
    let (mut s, _) = stream(Buffering::Unbuffered, &[b"line one\nrest of it"]);
    assert_eq!(s.read_ln().unwrap(), b"line one");
    assert_eq!(s.peek().unwrap(), b"rest of it", "readLn's refill is kept");
    assert_eq!(s.read(Some(4)).unwrap(), b"rest");
    assert_eq!(s.read(None).unwrap(), b" of it");
}

#[test]
fn read_all_returns_everything_then_closes() {
    let (mut s, wire) = stream(Buffering::Buffered, &[b"cd", b"efg"]);
    s.write(b"pending").unwrap();
    assert_eq!(s.read(Some(1)).unwrap(), b"c");
    assert_eq!(s.read(None).unwrap(), b"defg");
    assert_eq!(wire.sent_bytes(), b"pending", "closing flushed");
    assert_eq!(kind(s.eof()), IoKind::Closed);
    assert_eq!(kind(s.write(b"x")), IoKind::Closed);
    let (mut s, _) = stream(Buffering::Unbuffered, &[]);
    assert_eq!(s.read(None).unwrap(), b"", "at the end: empty, and closed");
    assert_eq!(kind(s.read(Some(0))), IoKind::Closed);
}

#[test]
fn eof_blocks_for_data_and_is_not_sticky_about_buffered_bytes() {
    let (mut s, wire) = stream(Buffering::Unbuffered, &[b"foo"]);
    assert!(!s.eof().unwrap());
    let reads = wire.0.borrow().asked.len();
    assert!(!s.eof().unwrap());
    assert_eq!(
        wire.0.borrow().asked.len(),
        reads,
        "buffered bytes answer at once"
    );
    assert_eq!(s.read(Some(3)).unwrap(), b"foo");
    assert!(s.eof().unwrap());
    assert!(s.eof().unwrap());
}

#[test]
fn every_operation_but_close_fails_after_close() {
    let (mut s, _) = stream(Buffering::LineBuffered, &[b"l1\nl2\nl3"]);
    assert_eq!(s.read_ln().unwrap(), b"l1");
    s.write(b"x").unwrap();
    s.close().unwrap();
    assert_eq!(
        kind(s.read_ln()),
        IoKind::Closed,
        "no stale input (docs/semantics.md, Closing)"
    );
    assert_eq!(kind(s.read(Some(2))), IoKind::Closed);
    assert_eq!(
        kind(s.read(Some(0))),
        IoKind::Closed,
        "read(0) after close is closed too"
    );
    assert_eq!(kind(s.read(None)), IoKind::Closed);
    assert_eq!(kind(s.read_lines()), IoKind::Closed);
    assert_eq!(kind(s.peek()), IoKind::Closed);
    assert_eq!(kind(s.eof()), IoKind::Closed);
    assert_eq!(kind(s.flush()), IoKind::Closed);
    assert_eq!(kind(s.write(b"x")), IoKind::Closed, "no silent discard");
    assert_eq!(kind(s.write_ln(b"y")), IoKind::Closed);
    assert!(s.transport().is_err());
    assert_eq!(s.close(), Ok(()));
}

// ---- the line limit ----------------------------------------------------------------------

fn limited(max_line: usize, arrivals: &[&[u8]]) -> Now<Fake> {
    let (mut s, _) = stream(Buffering::Unbuffered, arrivals);
    s.input.max_line = max_line;
    s
}

#[test]
fn a_line_of_exactly_the_limit_is_accepted() {
    let mut s = limited(4, &[b"abcd\n", b"wxyz"]);
    assert_eq!(s.read_ln().unwrap(), b"abcd");
    assert_eq!(s.read_ln().unwrap(), b"wxyz", "at the end, too");
}

#[test]
fn a_longer_line_drops_its_first_limit_bytes_and_the_rest_stays() {
    let mut s = limited(4, &[b"abcdefg\nnext\n"]);
    assert_eq!(kind(s.read_ln()), IoKind::LimitExceeded);
    assert_eq!(s.read_ln().unwrap(), b"efg");
    assert_eq!(s.read_ln().unwrap(), b"next");
    // Without a line end in sight, arriving a byte at a time.
    let bytes = b"0123456789\n";
    let drip: Vec<&[u8]> = bytes.chunks(1).collect();
    let mut s = limited(4, &drip);
    assert_eq!(kind(s.read_ln()), IoKind::LimitExceeded);
    assert_eq!(
        s.read(Some(3)).unwrap(),
        b"456",
        "a caller can skip on with read"
    );
    assert_eq!(
        s.read_ln().unwrap(),
        b"789",
        "the rest of the line is within the limit"
    );
}

#[test]
fn the_default_limit_is_one_mebibyte() {
    let mut long = vec![b'x'; MAX_LINE_LENGTH];
    long.push(b'\n');
    long.extend_from_slice(&[b'y'; MAX_LINE_LENGTH + 1]);
    long.push(b'\n');
    let (mut s, _) = stream(Buffering::Buffered, &[&long]);
    assert_eq!(s.read_ln().unwrap().len(), MAX_LINE_LENGTH);
    assert_eq!(kind(s.read_ln()), IoKind::LimitExceeded);
    assert_eq!(s.read_ln().unwrap(), b"y");
}

// ---- properties: any arrival pattern, any mode, nothing lost or reordered ------------------

fn mode() -> impl Strategy<Value = Buffering> {
    prop_oneof![
        Just(Buffering::Unbuffered),
        Just(Buffering::LineBuffered),
        Just(Buffering::Buffered)
    ]
}

/// Cut `data` at the given points into arrivals.
fn split(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([data.len()]) {
        if cut > from {
            pieces.push(data[from..cut].to_vec());
            from = cut;
        }
    }
    pieces
}

/// The lines of `data` by the spec's rules, computed on the whole data at once.
fn reference_lines(data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\n' => lines.push(std::mem::take(&mut line)),
            b'\r' => {
                lines.push(std::mem::take(&mut line));
                if data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b => line.push(b),
        }
        i += 1;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Bytes drawn mostly from line-ending characters, so that endings meet chunk boundaries.
fn text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()],
        0..600,
    )
}

/// A write, a write-ln or a flush: the model's operations that write.
fn op() -> impl Strategy<Value = Op> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..700);
    prop_oneof![
        bytes().prop_map(Op::Write),
        bytes().prop_map(Op::WriteLn),
        Just(Op::Flush)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn lines_do_not_depend_on_arrival_boundaries(
        data in text(), cuts in prop::collection::vec(any::<usize>(), 0..40), mode in mode(),
    ) {
        let arrivals = split(&data, &cuts);
        let arrivals: Vec<&[u8]> = arrivals.iter().map(Vec::as_slice).collect();
        let (s, _) = stream(mode, &arrivals);
        prop_assert_eq!(lines_of(s), reference_lines(&data));
    }

    #[test]
    fn mixed_reads_return_every_byte_once_in_order(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
        reads in prop::collection::vec(0u32..400, 1..60),
        mode in mode(),
    ) {
        let arrivals = split(&data, &cuts);
        let arrivals: Vec<&[u8]> = arrivals.iter().map(Vec::as_slice).collect();
        let (mut s, _) = stream(mode, &arrivals);
        let mut got = Vec::new();
        for n in reads {
            let peeked = s.peek().unwrap();
            let chunk = s.read(Some(n)).unwrap();
            let shared = peeked.len().min(chunk.len());
            prop_assert_eq!(&chunk[..shared], &peeked[..shared], "peek shows what comes next");
            got.extend_from_slice(&chunk);
        }
        got.extend_from_slice(&s.read(None).unwrap());
        prop_assert_eq!(got, data);
    }

    #[test]
    fn writes_reach_the_wire_complete_and_in_order(ops in prop::collection::vec(op(), 0..30), mode in mode()) {
        let (mut s, wire) = stream(mode, &[]);
        let mut expected = Vec::new();
        for op in ops {
            match op {
                Op::Write(data) => { s.write(&data).unwrap(); expected.extend_from_slice(&data); }
                Op::WriteLn(data) => {
                    s.write_ln(&data).unwrap();
                    expected.extend_from_slice(&data);
                    expected.push(b'\n');
                }
                Op::Flush => s.flush().unwrap(),
                other => unreachable!("only writes are drawn: {other:?}"),
            }
            let held = expected.len() - wire.sent_bytes().len();
            prop_assert!(held < mode.output_capacity().max(1), "never more than a buffer held");
            prop_assert_eq!(&wire.sent_bytes()[..], &expected[..expected.len() - held]);
        }
        s.close().unwrap();
        prop_assert_eq!(wire.sent_bytes(), expected);
    }
}

// ---- failures lose nothing: timeouts, shutdown, the line limit setting -------------------

const TIMEOUT: &[u8] = b"";

#[test]
fn a_timed_out_read_consumes_nothing() {
    let (mut s, _) = stream(Buffering::Unbuffered, &[b"ab", TIMEOUT, b"cde"]);
    assert_eq!(kind(s.read(Some(5))), IoKind::TimedOut);
    assert_eq!(
        s.read(Some(5)).unwrap(),
        b"abcde",
        "the first two bytes were kept"
    );
    let (mut s, _) = stream(Buffering::LineBuffered, &[b"abc", TIMEOUT, b"def\nx"]);
    assert_eq!(kind(s.read_ln()), IoKind::TimedOut);
    assert_eq!(s.read_ln().unwrap(), b"abcdef");
    let (mut s, _) = stream(Buffering::Buffered, &[b"xy", TIMEOUT, b"z"]);
    assert_eq!(kind(s.read(None)), IoKind::TimedOut);
    assert!(s.transport().is_ok(), "still open");
    assert_eq!(s.read(None).unwrap(), b"xyz");
    let (mut s, _) = stream(Buffering::Unbuffered, &[TIMEOUT, b"q"]);
    assert_eq!(kind(s.eof()), IoKind::TimedOut);
    assert!(!s.eof().unwrap());
}

#[test]
fn a_timed_out_write_keeps_its_bytes_and_their_order() {
    for mode in [
        Buffering::Unbuffered,
        Buffering::LineBuffered,
        Buffering::Buffered,
    ] {
        let (mut s, wire) = stream(mode, &[]);
        wire.0.borrow_mut().write_budget = Some(3);
        let big = vec![b'x'; 20_000];
        let line = s.write_ln(b"abcdefgh");
        let large = s.write(&big);
        assert_eq!(kind(line.and(large)), IoKind::TimedOut, "{mode:?}");
        assert_eq!(wire.sent_bytes(), b"abc", "{mode:?}");
        wire.0.borrow_mut().write_budget = None;
        // The next write sends what is queued first; close sends the rest.
        s.write(b"tail").unwrap();
        s.close().unwrap();
        let expected = [&b"abcdefgh\n"[..], &big, b"tail"].concat();
        let sent = wire.sent_bytes();
        assert!(
            sent == expected,
            "{mode:?}: got {} bytes, want {}",
            sent.len(),
            expected.len()
        );
    }
}

#[test]
fn shutdown_output_flushes_then_refuses_writes_but_reads_go_on() {
    let (mut s, wire) = stream(Buffering::Buffered, &[b"reply\n"]);
    s.write(b"request").unwrap();
    s.shutdown_output().unwrap();
    assert_eq!(wire.sent_bytes(), b"request");
    assert!(wire.0.borrow().shut);
    assert_eq!(kind(s.write(b"x")), IoKind::Closed);
    assert_eq!(kind(s.write_ln(b"x")), IoKind::Closed);
    assert_eq!(kind(s.shutdown_output()), IoKind::Closed);
    s.flush().unwrap();
    assert_eq!(s.read_ln().unwrap(), b"reply");
    s.close().unwrap();
}

#[test]
fn the_line_limit_can_be_set() {
    let (mut s, _) = stream(Buffering::Unbuffered, &[b"abc\nabcd\n"]);
    assert!(matches!(s.set_max_line_length(0), Err(Error::Value(_))));
    s.set_max_line_length(3).unwrap();
    assert_eq!(s.read_ln().unwrap(), b"abc");
    assert_eq!(kind(s.read_ln()), IoKind::LimitExceeded);
    assert_eq!(s.read_ln().unwrap(), b"d");
}

#[test]
fn the_timeout_reaches_the_transport() {
    let (mut s, wire) = stream(Buffering::Unbuffered, &[]);
    s.set_timeout(Some(Duration::from_millis(5))).unwrap();
    assert_eq!(wire.0.borrow().timeout, Some(Duration::from_millis(5)));
    s.close().unwrap();
    assert_eq!(kind(s.set_timeout(None)), IoKind::Closed);
}

#[test]
fn the_deadline_reaches_the_transport() {
    let (mut s, wire) = stream(Buffering::Unbuffered, &[]);
    s.set_deadline(Some(Duration::from_millis(7))).unwrap();
    assert_eq!(wire.0.borrow().deadline, Some(Duration::from_millis(7)));
    s.set_deadline(None).unwrap();
    assert_eq!(wire.0.borrow().deadline, None);
    s.close().unwrap();
    assert_eq!(kind(s.set_deadline(None)), IoKind::Closed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn stalls_anywhere_lose_and_reorder_nothing(
        ops in prop::collection::vec(op(), 0..30),
        budgets in prop::collection::vec(prop::option::of(0usize..3000), 30),
        mode in mode(),
    ) {
        let (mut s, wire) = stream(mode, &[]);
        let mut expected = Vec::new();
        for (op, budget) in ops.into_iter().zip(budgets) {
            wire.0.borrow_mut().write_budget = budget;
            let (result, data) = match op {
                Op::Write(data) => (s.write(&data), data),
                Op::WriteLn(mut data) => {
                    let result = s.write_ln(&data);
                    data.push(b'\n');
                    (result, data)
                }
                Op::Flush => (s.flush(), Vec::new()),
                other => unreachable!("only writes are drawn: {other:?}"),
            };
            // Failed or not, a write has taken all its bytes.
            expected.extend_from_slice(&data);
            let sent = wire.sent_bytes();
            prop_assert_eq!(sent.len() + s.output.output.len(), expected.len(), "all taken");
            prop_assert_eq!(&sent[..], &expected[..sent.len()], "sent in order");
            if result.is_ok() && mode == Buffering::Unbuffered {
                prop_assert!(s.output.output.is_empty(), "an unbuffered write that succeeded sent everything");
            }
        }
        wire.0.borrow_mut().write_budget = None;
        s.close().unwrap();
        prop_assert_eq!(wire.sent_bytes(), expected);
    }
}

// ---- detach ------------------------------------------------------------------------------

#[test]
fn detach_flushes_and_hands_over_the_unread_bytes_and_the_transport() {
    let (mut s, wire) = stream(Buffering::Buffered, &[b"one\ntwo\nthr"]);
    assert_eq!(s.read_ln().unwrap(), b"one");
    s.write(b"held").unwrap();
    assert!(wire.sent().is_empty());
    let (unread, mut transport) = s.detach().unwrap();
    assert_eq!(wire.sent_bytes(), b"held", "pending writes went first");
    assert_eq!(unread, b"two\nthr");
    // The transport goes on where the stream left it.
    now(transport.write(b"more")).unwrap().unwrap();
    assert_eq!(wire.sent_bytes(), b"heldmore");
    // The stream is closed, holds nothing, and closing or dropping it does nothing.
    for result in [s.read(Some(1)).map(drop), s.write(b"x"), s.peek().map(drop)] {
        assert_eq!(kind(result), IoKind::Closed);
    }
    assert_eq!(kind(s.detach().map(drop)), IoKind::Closed);
    s.close().unwrap();
    drop(s);
    assert!(
        !wire.0.borrow().released,
        "the transport is the new owner's"
    );
    drop(transport);
    assert!(wire.0.borrow().released);
}

#[test]
fn a_detach_whose_flush_fails_hands_nothing_over_and_loses_nothing() {
    let (mut s, wire) = stream(Buffering::Buffered, &[b"unread"]);
    assert!(!s.eof().unwrap());
    s.write(b"abcdef").unwrap();
    wire.0.borrow_mut().write_budget = Some(2);
    assert_eq!(kind(s.detach().map(drop)), IoKind::TimedOut);
    assert_eq!(s.peek().unwrap(), b"unread", "the socket stays as it was");
    wire.0.borrow_mut().write_budget = None;
    let (unread, _transport) = s.detach().unwrap();
    assert_eq!(wire.sent_bytes(), b"abcdef", "every byte once, in order");
    assert_eq!(unread, b"unread");
}

#[test]
fn detach_after_close_is_closed() {
    let (mut s, _wire) = stream(Buffering::Unbuffered, &[]);
    s.close().unwrap();
    assert_eq!(kind(s.detach().map(drop)), IoKind::Closed);
}

// ---- upgrade (start-tls) ------------------------------------------------------------------

#[test]
fn upgrade_is_refused_while_received_bytes_are_unread_and_changes_nothing() {
    let (mut s, wire) = stream(Buffering::Buffered, &[b"220 go ahead\r\nINJECTED\r\n"]);
    assert_eq!(s.read_ln().unwrap(), b"220 go ahead");
    s.write(b"held").unwrap();
    let refused = s.upgrade(|_| panic!("no upgrade while plaintext is unread"));
    assert!(matches!(refused, Err(Error::Value(_))), "{refused:?}");
    assert!(wire.sent().is_empty(), "nothing was flushed");
    assert_eq!(
        s.read_ln().unwrap(),
        b"INJECTED",
        "still readable in plaintext"
    );
}

#[test]
fn upgrade_flushes_first_and_goes_on_over_what_it_returns() {
    let (mut s, wire) = stream(Buffering::Buffered, &[b"ready\n"]);
    assert_eq!(s.read_ln().unwrap(), b"ready");
    s.write(b"STARTTLS\n").unwrap();
    let upgraded = Fake::delivering([b"over tls\n".to_vec()]);
    let inner = upgraded.clone();
    s.upgrade(|old| {
        assert_eq!(
            old.sent_bytes(),
            b"STARTTLS\n",
            "flushed before the handshake"
        );
        Ok(inner)
    })
    .unwrap();
    assert_eq!(s.read_ln().unwrap(), b"over tls");
    s.write_ln(b"EHLO").unwrap();
    s.flush().unwrap();
    assert_eq!(upgraded.sent_bytes(), b"EHLO\n");
    assert_eq!(wire.sent_bytes(), b"STARTTLS\n");
}

#[test]
fn a_failed_upgrade_leaves_the_stream_closed() {
    let (mut s, _wire) = stream(Buffering::Unbuffered, &[]);
    let failed = s.upgrade(|_| Err(Error::io(IoKind::Other, "TLS: handshake failed")));
    assert!(matches!(
        failed,
        Err(Error::Io {
            kind: IoKind::Other,
            ..
        })
    ));
    assert_eq!(kind(s.read(Some(1))), IoKind::Closed);
    s.close().unwrap();
}

// ---- the model-based check (`model.rs`), on generated scenarios ----------------------

fn scenario() -> impl Strategy<Value = super::model::Input> {
    use super::model::{Input, Op};
    // Lines of about ten bytes, and limits mostly below that: the limit path runs in about two
    // fifths of the scenarios, a non-empty peek in half (held by
    // `the_scenarios_reach_the_hard_paths`).
    let byte = || prop_oneof![1 => Just(b'\n'), 1 => Just(b'\r'), 16 => any::<u8>()];
    let bytes = move |max| prop::collection::vec(byte(), 0..max);
    let op = prop_oneof![
        4 => any::<u16>().prop_map(|n| Op::Read(n % 300)),
        4 => Just(Op::ReadLn),
        3 => Just(Op::Peek),
        1 => Just(Op::Eof),
        3 => bytes(300).prop_map(Op::Write),
        2 => bytes(300).prop_map(Op::WriteLn),
        1 => Just(Op::Flush),
        1 => any::<u16>().prop_map(|n| Op::Stall(n % 600)),
        1 => Just(Op::Unstall),
        1 => Just(Op::Close),
    ];
    (
        prop::collection::vec(bytes(80), 0..30),
        prop::collection::vec(op, 0..80),
        any::<u8>(),
        prop_oneof![3 => 1u8..12, 1 => any::<u8>()],
    )
        .prop_map(|(arrivals, ops, mode, max_line)| Input {
            arrivals,
            ops,
            mode,
            max_line,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_operation_sequences_agree_with_the_model(input in scenario()) {
        super::model::check(input);
    }
}

#[test]
fn the_scenarios_reach_the_hard_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    const CASES: usize = 300;
    let mut runner = TestRunner::deterministic();
    let strategy = scenario();
    let (mut over_limit, mut peeked) = (0, 0);
    for _ in 0..CASES {
        let input = strategy.new_tree(&mut runner).unwrap().current();
        let coverage = super::model::check(input);
        over_limit += usize::from(coverage.line_over_limit);
        peeked += usize::from(coverage.peeked_bytes);
    }
    assert!(
        over_limit * 5 >= CASES,
        "line limit in {over_limit} of {CASES}"
    );
    assert!(peeked * 5 >= CASES, "non-empty peek in {peeked} of {CASES}");
}

#[test]
fn the_line_end_scan_finds_the_first_lf_or_cr_at_every_offset() {
    for len in 0..40 {
        for at in 0..len {
            for (end, other) in [(b'\n', b'\r'), (b'\r', b'\n')] {
                // High bytes and bytes one above an end are where a word-wise scan could err.
                let mut bytes: Vec<u8> =
                    (0..len).map(|i| [0xff, 0x0b, 0x0e, 0x80][i % 4]).collect();
                bytes[at] = end;
                if at + 1 < len {
                    bytes[at + 1] = other;
                }
                assert_eq!(find_line_end(&bytes), Some(at), "{bytes:?}");
            }
        }
        assert_eq!(find_line_end(&vec![b'a'; len]), None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_line_end_scan_agrees_with_a_byte_loop(
        bytes in prop::collection::vec(
            prop_oneof![1 => Just(b'\n'), 1 => Just(b'\r'), 30 => any::<u8>()],
            0..100,
        ),
        skip in 0usize..100,
    ) {
        let slice = &bytes[skip.min(bytes.len())..];
        let expected = slice.iter().position(|&b| b == b'\n' || b == b'\r');
        prop_assert_eq!(find_line_end(slice), expected);
    }
}
