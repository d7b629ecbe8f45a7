//! A model-based check of the stream core, shared by the unit tests (through proptest) and
//! the fuzz target: under any arrival pattern, write stalls, buffering mode, line limit and
//! operation sequence, nothing panics and every result agrees with a model computed on the
//! whole data at once (bytes once and in order; lines as the spec defines them; nothing lost
//! when a read or write times out). Compiled only for tests and fuzzing.

use crate::error::{Error, IoKind};
use crate::stream::Buffering;
use crate::stream::fake::{Fake, Now};

/// One step of a caller.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Op {
    Read(u16),
    ReadLn,
    Peek,
    Eof,
    Write(Vec<u8>),
    WriteLn(Vec<u8>),
    Flush,
    /// The next writes take this many bytes, then time out.
    Stall(u16),
    Unstall,
    /// Close, then check that everything but `close` fails with `closed`.
    Close,
}

/// A whole scenario.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Input {
    /// What arrives; an empty arrival means "the next read times out".
    pub arrivals: Vec<Vec<u8>>,
    pub ops: Vec<Op>,
    pub mode: u8,
    pub max_line: u8,
}

/// The most operations one scenario runs, so that every run is quick.
pub const MAX_OPS: usize = 200;

/// `read-ln` on `data[at..]` by the spec, with lines over `max` refused (their first `max`
/// bytes dropped): the line (`None`: refused) and where reading goes on; `None` at the end.
#[allow(clippy::type_complexity)]
fn model_line(data: &[u8], at: usize, max: usize) -> Option<(Option<&[u8]>, usize)> {
    if at == data.len() {
        return None;
    }
    let rest = &data[at..];
    let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
    if end.unwrap_or(rest.len()) > max {
        return Some((None, at + max));
    }
    Some(match end {
        Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => {
            (Some(&rest[..i]), at + i + 2)
        }
        Some(i) => (Some(&rest[..i]), at + i + 1),
        None => (Some(rest), data.len()),
    })
}

fn timed_out<T>(result: &Result<T, Error>) -> bool {
    matches!(
        result,
        Err(Error::Io {
            kind: IoKind::TimedOut,
            ..
        })
    )
}

fn is_closed<T>(result: Result<T, Error>) -> bool {
    matches!(
        result,
        Err(Error::Io {
            kind: IoKind::Closed,
            ..
        })
    )
}

/// Which of the core's paths a run took, so that the generators can be held to reaching
/// them often (a check whose hard paths never run checks little).
#[derive(Debug, Default, Clone, Copy)]
pub struct Coverage {
    /// `read-ln` refused a line over the limit.
    pub line_over_limit: bool,
    /// `peek` returned bytes (not just nothing).
    pub peeked_bytes: bool,
}

/// Run `input` and panic at the first disagreement with the model.
pub fn check(input: Input) -> Coverage {
    let mut coverage = Coverage::default();
    let incoming: Vec<u8> = input.arrivals.concat();
    let modes = [
        Buffering::Unbuffered,
        Buffering::LineBuffered,
        Buffering::Buffered,
    ];
    let mode = modes[usize::from(input.mode % 3)];
    let wire = Fake::delivering(input.arrivals);
    let mut stream = Now::new(wire.clone(), mode);
    let max = usize::from(input.max_line.max(1));
    stream
        .set_max_line_length(u32::from(input.max_line.max(1)))
        .unwrap();
    let mut at = 0;
    let mut written = Vec::new();
    for op in input.ops.into_iter().take(MAX_OPS) {
        match op {
            Op::Read(n) => {
                let result = stream.read(Some(n.into()));
                if !timed_out(&result) {
                    let end = (at + usize::from(n)).min(incoming.len());
                    assert_eq!(result.unwrap(), incoming[at..end], "read({n}) at {at}");
                    at = end;
                }
            }
            Op::ReadLn => {
                let result = stream.read_ln();
                if timed_out(&result) {
                    continue;
                }
                match (model_line(&incoming, at, max), result) {
                    (None, Err(e)) => assert_eq!(e, Error::end_of_stream()),
                    (
                        Some((None, next)),
                        Err(Error::Io {
                            kind: IoKind::LimitExceeded,
                            ..
                        }),
                    ) => {
                        coverage.line_over_limit = true;
                        at = next;
                    }
                    (Some((Some(line), next)), Ok(got)) => {
                        assert_eq!(got, line, "read-ln at {at}");
                        at = next;
                    }
                    (model, got) => panic!("read-ln at {at}: model {model:?}, got {got:?}"),
                }
            }
            Op::Peek => {
                // Everything handed over and not consumed is buffered, and peek shows all of
                // it: a read that failed gave its bytes back, and only the line limit drops.
                let got = stream.peek().unwrap();
                assert_eq!(got, incoming[at..wire.0.borrow().delivered], "peek at {at}");
                coverage.peeked_bytes |= !got.is_empty();
            }
            Op::Eof => {
                let result = stream.eof();
                if !timed_out(&result) {
                    assert_eq!(result.unwrap(), at == incoming.len(), "eof at {at}");
                }
            }
            Op::Write(data) => {
                let _ = stream.write(&data);
                written.extend_from_slice(&data);
            }
            Op::WriteLn(data) => {
                let _ = stream.write_ln(&data);
                written.extend_from_slice(&data);
                written.push(b'\n');
            }
            Op::Flush => {
                let _ = stream.flush();
            }
            Op::Stall(n) => wire.0.borrow_mut().write_budget = Some(n.into()),
            Op::Unstall => wire.0.borrow_mut().write_budget = None,
            Op::Close => {
                // A close whose final flush fails still closes; its unsent bytes are gone,
                // and reported: the model stops expecting them.
                if stream.close().is_err() {
                    written.truncate(wire.sent_bytes().len());
                }
                assert!(is_closed(stream.read(Some(0))) && is_closed(stream.read_ln()));
                assert!(is_closed(stream.peek()) && is_closed(stream.eof()));
                assert!(is_closed(stream.write(b"x")) && is_closed(stream.flush()));
                assert_eq!(stream.close(), Ok(()), "a second close does nothing");
                break;
            }
        }
        assert!(
            written.starts_with(&wire.sent_bytes()),
            "sent bytes are a prefix of the written ones"
        );
    }
    wire.0.borrow_mut().write_budget = None;
    let closed_early = stream.transport().is_err();
    stream.close().unwrap();
    if !closed_early {
        assert_eq!(
            wire.sent_bytes(),
            written,
            "every written byte was sent, once, in order"
        );
    }
    coverage
}
