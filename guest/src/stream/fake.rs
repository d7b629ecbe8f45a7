//! The one fake transport of the core's tests and of its model-based check: it delivers
//! scripted arrivals (splitting data wherever the script says, timing out where it says) and
//! records every write, with a budget after which writes time out.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, IoKind};
use crate::stream::Transport;

/// What the fake network saw and will deliver; shared with the test after the transport
/// moved into the stream.
#[derive(Default)]
pub(crate) struct Wire {
    /// Arrivals still to deliver; a read never crosses from one arrival into the next, and
    /// an empty arrival means "the next read times out".
    pub(crate) arrivals: VecDeque<Vec<u8>>,
    /// Each `write` call's bytes, as far as the transport took them.
    pub(crate) sent: Vec<Vec<u8>>,
    /// Writes take this many more bytes, then time out; `None`: no limit.
    pub(crate) write_budget: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) shut: bool,
    /// The `max` of each read call.
    pub(crate) asked: Vec<usize>,
    /// How many bytes of the arrivals the stream has been handed.
    pub(crate) delivered: usize,
    /// A read error to give once the arrivals run out, instead of the end of the stream.
    /// Given once, as WASI does: the stream is closed after it, and reads find its end.
    pub(crate) reset_after_arrivals: bool,
    /// Writes fail from now on.
    pub(crate) broken: bool,
    pub(crate) released: bool,
}

#[derive(Clone, Default)]
pub(crate) struct Fake(pub(crate) Rc<RefCell<Wire>>);

impl Transport for Fake {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        assert!(max > 0);
        let mut wire = self.0.borrow_mut();
        wire.asked.push(max);
        let Some(front) = wire.arrivals.front_mut() else {
            if wire.reset_after_arrivals {
                wire.reset_after_arrivals = false;
                return Err(Error::io(IoKind::ConnectionReset, "reset"));
            }
            return Ok(Vec::new());
        };
        if front.is_empty() {
            wire.arrivals.pop_front();
            return Err(Error::io(IoKind::TimedOut, "timed out"));
        }
        let n = max.min(front.len());
        let chunk: Vec<u8> = front.drain(..n).collect();
        if front.is_empty() {
            wire.arrivals.pop_front();
        }
        wire.delivered += n;
        Ok(chunk)
    }

    fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        assert!(!data.is_empty());
        let mut wire = self.0.borrow_mut();
        assert!(!wire.shut, "a write after shutdown reached the transport");
        if wire.broken {
            return Err(Error::io(IoKind::ConnectionReset, "Broken pipe [EPIPE]"));
        }
        let n = wire
            .write_budget
            .map_or(data.len(), |budget| budget.min(data.len()));
        if n == 0 {
            return Err(Error::io(IoKind::TimedOut, "timed out"));
        }
        if let Some(budget) = &mut wire.write_budget {
            *budget -= n;
        }
        wire.sent.push(data[..n].to_vec());
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.0.borrow_mut().timeout = timeout;
    }

    fn set_deadline(&mut self, within: Option<Duration>) {
        self.0.borrow_mut().deadline = within;
    }

    fn shutdown_output(&mut self) -> Result<(), Error> {
        self.0.borrow_mut().shut = true;
        Ok(())
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if Rc::strong_count(&self.0) == 2 {
            self.0.borrow_mut().released = true;
        }
    }
}

impl Fake {
    pub(crate) fn sent(&self) -> Vec<Vec<u8>> {
        self.0.borrow().sent.clone()
    }
    pub(crate) fn sent_bytes(&self) -> Vec<u8> {
        self.sent().concat()
    }

    /// A fake that will deliver `arrivals`, one after another.
    pub(crate) fn delivering(arrivals: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let fake = Fake::default();
        fake.0.borrow_mut().arrivals = arrivals.into_iter().collect();
        fake
    }
}
