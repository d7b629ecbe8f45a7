//! The one fake transport of the core's tests and of its model-based check: it delivers
//! scripted arrivals (splitting data wherever the script says, timing out where it says) and
//! records every write, with a budget after which writes time out.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, IoKind};
use crate::stream::{Buffering, Reading, Stream, Transport, Writing, now};

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

impl Reading for Fake {
    async fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
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
}

impl Writing for Fake {
    async fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
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

    async fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }

    async fn shutdown_output(&mut self) -> Result<(), Error> {
        self.0.borrow_mut().shut = true;
        Ok(())
    }
}

impl Transport for Fake {
    fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.0.borrow_mut().timeout = timeout;
    }

    fn set_deadline(&mut self, within: Option<Duration>) {
        self.0.borrow_mut().deadline = within;
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

/// A stream over a transport that never waits asynchronously (the fake), with the core's
/// async calls run to their end at once ([`now`]): what the tests and the model check call.
/// Calls that do not wait are reached through `Deref`.
pub(crate) struct Now<T: Transport>(pub(crate) Stream<T>);

/// Defines the synchronous form of each async call of the core.
macro_rules! now {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(
            pub(crate) fn $name(&mut self $(, $arg: $ty)*) -> Result<$out, Error> {
                now(self.0.$name($($arg),*)).expect("the transport never waits")
            }
        )*
    };
}

#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the fuzz target's model check calls only some")
)]
impl<T: Transport> Now<T> {
    pub(crate) fn new(transport: T, mode: Buffering) -> Self {
        Now(Stream::new(transport, mode))
    }

    now! {
        shutdown_output() -> ();
        detach() -> (Vec<u8>, T);
        write(data: &[u8]) -> ();
        write_ln(data: &[u8]) -> ();
        flush() -> ();
        read(count: Option<u32>) -> Vec<u8>;
        read_ln() -> Vec<u8>;
        read_lines() -> Vec<Vec<u8>>;
        eof() -> bool;
        close() -> ();
    }

    pub(crate) fn upgrade(
        &mut self,
        upgrade: impl FnOnce(T) -> Result<T, Error>,
    ) -> Result<(), Error> {
        now(self.0.upgrade(async |transport| upgrade(transport)))
            .expect("the transport never waits")
    }
}

impl<T: Transport> std::ops::Deref for Now<T> {
    type Target = Stream<T>;

    fn deref(&self) -> &Stream<T> {
        &self.0
    }
}

impl<T: Transport> std::ops::DerefMut for Now<T> {
    fn deref_mut(&mut self) -> &mut Stream<T> {
        &mut self.0
    }
}
