//! The stream core under any arrival pattern, write stalls, buffering mode, line limit and
//! operation sequence: no panic, and every result agrees with a model computed on the whole
//! data at once (bytes once and in order; lines as the spec defines them; nothing lost when
//! a read or write times out).
#![no_main]

use std::collections::VecDeque;
use std::time::Duration;

use alore_socket::error::{Error, IoKind};
use alore_socket::stream::{Buffering, Stream, Transport};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
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
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// What arrives; an empty arrival means "the next read times out".
    arrivals: Vec<Vec<u8>>,
    ops: Vec<Op>,
    mode: u8,
    max_line: u8,
}

struct Fake {
    arrivals: VecDeque<Vec<u8>>,
    sent: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
    budget: std::rc::Rc<std::cell::Cell<Option<usize>>>,
}

impl Transport for Fake {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let Some(front) = self.arrivals.front_mut() else { return Ok(Vec::new()) };
        if front.is_empty() {
            self.arrivals.pop_front();
            return Err(Error::io(IoKind::TimedOut, "timed out"));
        }
        let chunk: Vec<u8> = front.drain(..max.min(front.len())).collect();
        if front.is_empty() {
            self.arrivals.pop_front();
        }
        Ok(chunk)
    }
    fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        let n = self.budget.get().map_or(data.len(), |b| b.min(data.len()));
        if n == 0 {
            return Err(Error::io(IoKind::TimedOut, "timed out"));
        }
        if let Some(b) = self.budget.get() {
            self.budget.set(Some(b - n));
        }
        self.sent.borrow_mut().extend_from_slice(&data[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
    fn set_timeout(&mut self, _: Option<Duration>) {}
    fn shutdown_output(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// `read-ln` on `data[at..]` by the spec, with lines over `max` refused (their first `max`
/// bytes dropped): the line (or `None` for refused) and where reading goes on.
fn model_line(data: &[u8], at: usize, max: usize) -> Option<(Option<&[u8]>, usize)> {
    if at == data.len() {
        return None;
    }
    let rest = &data[at..];
    let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
    let len = end.unwrap_or(rest.len());
    if len > max {
        return Some((None, at + max));
    }
    Some(match end {
        Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (Some(&rest[..i]), at + i + 2),
        Some(i) => (Some(&rest[..i]), at + i + 1),
        None => (Some(rest), data.len()),
    })
}

fn timed_out<T>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(Error::Io { kind: IoKind::TimedOut, .. }))
}

fuzz_target!(|input: Input| {
    let incoming: Vec<u8> = input.arrivals.concat();
    let mode = [Buffering::Unbuffered, Buffering::LineBuffered, Buffering::Buffered][usize::from(input.mode % 3)];
    let sent = std::rc::Rc::default();
    let budget = std::rc::Rc::new(std::cell::Cell::new(None));
    let fake = Fake { arrivals: input.arrivals.into(), sent: std::rc::Rc::clone(&sent), budget: std::rc::Rc::clone(&budget) };
    let mut stream = Stream::new(fake, mode);
    let max = usize::from(input.max_line.max(1));
    stream.set_max_line_length(u32::from(input.max_line.max(1))).unwrap();
    let mut at = 0;
    let mut written = Vec::new();
    for op in input.ops.into_iter().take(200) {
        match op {
            Op::Read(n) => {
                let result = stream.read(Some(n.into()));
                if timed_out(&result) {
                    continue;
                }
                let got = result.unwrap();
                let end = (at + usize::from(n)).min(incoming.len());
                assert_eq!(got, incoming[at..end], "read({n}) at {at}");
                at = end;
            }
            Op::ReadLn => {
                let result = stream.read_ln();
                if timed_out(&result) {
                    continue;
                }
                match (model_line(&incoming, at, max), result) {
                    (None, Err(e)) => assert_eq!(e, Error::end_of_stream()),
                    (Some((None, next)), Err(Error::Io { kind: IoKind::LimitExceeded, .. })) => at = next,
                    (Some((Some(line), next)), Ok(got)) => {
                        assert_eq!(got, line, "read-ln at {at}");
                        at = next;
                    }
                    (model, got) => panic!("read-ln at {at}: model {model:?}, got {got:?}"),
                }
            }
            Op::Peek => assert!(incoming[at..].starts_with(&stream.peek().unwrap())),
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
            Op::Stall(n) => budget.set(Some(n.into())),
            Op::Unstall => budget.set(None),
        }
        let sent = sent.borrow();
        assert!(written.starts_with(&sent), "sent bytes are a prefix of the written ones");
    }
    budget.set(None);
    stream.close().unwrap();
    assert_eq!(*sent.borrow(), written, "every written byte was sent, once, in order");
});
