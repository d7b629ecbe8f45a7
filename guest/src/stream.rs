//! Alore's `io::Stream` as used by `socket::Socket`: output buffering, input buffering, lines,
//! end of stream and the closed state. Pure Rust with no WASI in it, so every rule here is
//! unit- and property-tested natively against a transport that splits data anywhere.
//!
//! Data flows one way in each direction: `write` → output buffer → [`Transport::write`],
//! and [`Transport::read`] → input buffer → `read`/`read_ln`/`peek`. When the transport fails
//! (a timeout, say), nothing is lost or reordered: bytes it did not take stay queued at the
//! front of the output buffer, and bytes a read had gathered go back to the input buffer.

use std::time::Duration;

use crate::error::{Error, IoKind};

/// Alore's `A_IO_LINE_BUFFER_SIZE`: the line-buffered output buffer, and the size of one
/// input refill for `read-ln`/`eof` in unbuffered and line-buffered modes.
pub(crate) const LINE_BUFFER_SIZE: usize = 256;
/// Alore's `A_IO_BUFFER_SIZE`: the buffered-mode output buffer and input refill size.
pub(crate) const BUFFER_SIZE: usize = 8192;
/// The largest single read asked of the transport when the caller wants many bytes
/// (`read(n)`, `read()`): wasmtime hands out at most 64 KiB per stream read anyway.
pub(crate) const MAX_READ_CHUNK: usize = 64 * 1024;
/// The longest line `read-ln` accepts (docs/semantics.md, "Lines"), so that no peer can make
/// the component hold an unbounded line in memory.
pub(crate) const MAX_LINE_LENGTH: usize = 1024 * 1024;

/// When written bytes are handed to the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Buffering {
    Unbuffered,
    LineBuffered,
    Buffered,
}

impl Buffering {
    /// The output buffer size (0: no buffer).
    fn output_capacity(self) -> usize {
        match self {
            Buffering::Unbuffered => 0,
            Buffering::LineBuffered => LINE_BUFFER_SIZE,
            Buffering::Buffered => BUFFER_SIZE,
        }
    }

    /// How much one input refill asks for (Alore: 256, or 8192 when buffered).
    fn refill_size(self) -> usize {
        match self {
            Buffering::Unbuffered | Buffering::LineBuffered => LINE_BUFFER_SIZE,
            Buffering::Buffered => BUFFER_SIZE,
        }
    }
}

/// The receiving half of a byte stream: what a connected TCP socket (or TLS over one) offers
/// the core's reading rules. Its calls are async so that one core serves both editions: the
/// WASI 0.2 edition's block inside each call and are driven by [`now`]; the WASI 0.3
/// edition's await the host's streams.
#[allow(
    async_fn_in_trait,
    reason = "crate-private: no caller needs a Send bound"
)]
pub(crate) trait Reading {
    /// Block until at least one byte has arrived or the stream has ended, and return at most
    /// `max` (> 0) bytes; an empty result means the end of the stream.
    async fn read(&mut self, max: usize) -> Result<Vec<u8>, Error>;
}

/// The sending half of a byte stream, for the core's writing rules.
#[allow(
    async_fn_in_trait,
    reason = "crate-private: no caller needs a Send bound"
)]
pub(crate) trait Writing {
    /// Hand the first bytes of `data` (not empty) to the network, waiting for room; returns
    /// how many it took (at least one).
    async fn write(&mut self, data: &[u8]) -> Result<usize, Error>;
    /// Wait until every byte handed over has gone on to the network.
    async fn flush(&mut self) -> Result<(), Error>;
    /// Send the end of the stream (FIN); reading goes on.
    async fn shutdown_output(&mut self) -> Result<(), Error>;
}

/// A byte stream, both halves in one value, with its clocks.
pub(crate) trait Transport: Reading + Writing {
    /// How long one wait for the network may last before it fails with `timed-out`.
    #[cfg_attr(
        all(feature = "p3", not(any(test, feature = "fuzzing"))),
        allow(
            dead_code,
            reason = "the WASI 0.3 edition sets its halves' clock itself"
        )
    )]
    fn set_timeout(&mut self, timeout: Option<Duration>);
    /// From now on, no wait for the network may end later than `within` from now, however
    /// many waits a call takes (`None`: no such limit); past it a wait fails with `timed-out`.
    fn set_deadline(&mut self, within: Option<Duration>);
}

/// A socket's stream state: its input and output halves over one transport, which is `None`
/// once the stream is closed. The halves' rules ([`Input`], [`Output`]) never touch each
/// other's state, so an edition that runs calls concurrently can hold each half apart and
/// let one read and one write be in flight together (the WASI 0.3 edition does).
#[cfg_attr(
    all(feature = "p3", not(any(test, feature = "fuzzing"))),
    allow(dead_code, reason = "the WASI 0.3 edition holds the halves apart")
)]
pub(crate) struct Stream<T: Transport> {
    transport: Option<T>,
    input: Input,
    output: Output,
}

/// The receiving half's state: the input buffer and the line rules.
pub(crate) struct Input {
    mode: Buffering,
    /// Received bytes; the unread ones are `input[read_pos..]`.
    input: Vec<u8>,
    read_pos: usize,
    /// How many unread bytes `read_ln` has already searched for a line end.
    line_scanned: usize,
    max_line: usize,
    /// How reading failed, when it failed in a way that ends the input: every later read
    /// that needs the network fails the same way ([`Input::receive`]).
    read_failed: Option<Error>,
}

/// The sending half's state: the output buffer and the buffering rules.
pub(crate) struct Output {
    mode: Buffering,
    /// Written bytes not yet handed to the transport: the buffer of the buffered modes, and
    /// in any mode what a failed send could not hand over (sent first, before anything new).
    output: Vec<u8>,
    /// `shutdown-output` was called: no more writes.
    output_shut: bool,
}

#[cfg_attr(
    all(feature = "p3", not(any(test, feature = "fuzzing"))),
    allow(dead_code, reason = "the WASI 0.3 edition holds the halves apart")
)]
impl<T: Transport> Stream<T> {
    pub(crate) fn new(transport: T, mode: Buffering) -> Self {
        Stream {
            transport: Some(transport),
            input: Input::new(mode),
            output: Output::new(mode),
        }
    }

    /// Blocking reads, writes and flushes that wait longer than this fail with `timed-out`.
    pub(crate) fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        self.transport_mut()?.set_timeout(timeout);
        Ok(())
    }

    /// Blocking calls that would wait past `within` from now fail with `timed-out`, however
    /// their waits split.
    pub(crate) fn set_deadline(&mut self, within: Option<Duration>) -> Result<(), Error> {
        self.transport_mut()?.set_deadline(within);
        Ok(())
    }

    /// The longest line `read_ln` accepts (at least 1).
    pub(crate) fn set_max_line_length(&mut self, bytes: u32) -> Result<(), Error> {
        self.transport()?;
        self.input.set_max_line_length(bytes)
    }

    /// Flush, then send the end of the stream; reads still work, writes fail with `closed`.
    pub(crate) async fn shutdown_output(&mut self) -> Result<(), Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        self.output.shutdown_output(transport).await
    }

    /// Flush, then hand the transport and the unread input over; the stream is closed
    /// afterwards. When the flush fails nothing is handed over and the stream stays as it was.
    #[cfg_attr(
        all(feature = "p3", not(test)),
        expect(dead_code, reason = "only the 0.1.x contract detaches")
    )]
    pub(crate) async fn detach(&mut self) -> Result<(Vec<u8>, T), Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        self.output.flush(transport).await?;
        // Moved, not copied: no allocation a peer could make fail.
        let unread = self.input.take_unread();
        let transport = self.transport.take().ok_or_else(Error::closed)?;
        Ok((unread, transport))
    }

    /// Replace the transport by what `upgrade` makes of it (TLS over it), after flushing.
    /// Refused, changing nothing, while received bytes are unread ([`Input::before_upgrade`]).
    /// When `upgrade` fails the transport is gone and the stream is closed.
    #[cfg_attr(
        not(any(feature = "tls", feature = "fuzzing", test)),
        expect(dead_code, reason = "only the TLS build upgrades")
    )]
    pub(crate) async fn upgrade(
        &mut self,
        upgrade: impl AsyncFnOnce(T) -> Result<T, Error>,
    ) -> Result<(), Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        self.output.writable()?;
        self.input.before_upgrade()?;
        self.output.flush(transport).await?;
        let transport = self.transport.take().ok_or_else(Error::closed)?;
        self.transport = Some(upgrade(transport).await?);
        Ok(())
    }

    /// The transport, or `closed` once the stream is closed.
    pub(crate) fn transport(&self) -> Result<&T, Error> {
        self.transport.as_ref().ok_or_else(Error::closed)
    }

    pub(crate) fn transport_mut(&mut self) -> Result<&mut T, Error> {
        self.transport.as_mut().ok_or_else(Error::closed)
    }

    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        self.output.write(transport, data).await
    }

    pub(crate) async fn write_ln(&mut self, data: &[u8]) -> Result<(), Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        self.output.write_ln(transport, data).await
    }

    pub(crate) async fn flush(&mut self) -> Result<(), Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        self.output.flush(transport).await
    }

    /// `read(count)`: `None` reads to the end of the stream and closes the socket.
    pub(crate) async fn read(&mut self, count: Option<u32>) -> Result<Vec<u8>, Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        let read = self.input.read(transport, count).await?;
        if count.is_none() {
            self.close().await?;
        }
        Ok(read)
    }

    /// Read one line without its ending (LF, CR LF or CR).
    pub(crate) async fn read_ln(&mut self) -> Result<Vec<u8>, Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        self.input.read_ln(transport).await
    }

    /// Every line to the end of the stream, then close; closes also on failure
    /// (docs/semantics.md, "Lines").
    pub(crate) async fn read_lines(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        let result = self.input.read_lines(transport).await;
        let closed = self.close().await;
        let lines = result?;
        closed?;
        Ok(lines)
    }

    /// The unread bytes, without reading or consuming.
    pub(crate) fn peek(&self) -> Result<Vec<u8>, Error> {
        self.transport()?;
        self.input.peek()
    }

    /// True when no byte is left; blocks until a byte or the end of the stream arrives.
    pub(crate) async fn eof(&mut self) -> Result<bool, Error> {
        let transport = self.transport.as_mut().ok_or_else(Error::closed)?;
        self.input.eof(transport).await
    }

    /// Flush, then release the transport even if the flush failed; a second close does
    /// nothing.
    pub(crate) async fn close(&mut self) -> Result<(), Error> {
        let Some(transport) = self.transport.as_mut() else {
            return Ok(());
        };
        let flushed = self.output.close(transport).await;
        self.input.close();
        self.transport = None;
        flushed
    }
}

impl Output {
    pub(crate) fn new(mode: Buffering) -> Self {
        Output {
            mode,
            output: Vec::with_capacity(mode.output_capacity()),
            output_shut: false,
        }
    }

    /// Flush, then send the end of the stream; writes fail with `closed` afterwards.
    pub(crate) async fn shutdown_output(&mut self, t: &mut impl Writing) -> Result<(), Error> {
        self.writable()?;
        self.flush_output(t).await?;
        t.shutdown_output().await?;
        self.output_shut = true;
        Ok(())
    }

    /// Whether written bytes wait in the output buffer (a close would have to send them).
    #[cfg_attr(
        not(feature = "p3"),
        expect(dead_code, reason = "only WASI 0.3's destructor")
    )]
    pub(crate) fn has_pending_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// `closed` once the output is shut down.
    pub(crate) fn writable(&self) -> Result<(), Error> {
        if self.output_shut {
            return Err(Error::io(IoKind::Closed, "Socket output is shut down"));
        }
        Ok(())
    }

    pub(crate) async fn write(&mut self, t: &mut impl Writing, data: &[u8]) -> Result<(), Error> {
        self.writable()?;
        match self.mode {
            Buffering::Unbuffered => self.send(t, data).await,
            Buffering::LineBuffered | Buffering::Buffered => self.write_buffered(t, data).await,
        }
    }

    pub(crate) async fn write_ln(
        &mut self,
        t: &mut impl Writing,
        data: &[u8],
    ) -> Result<(), Error> {
        self.writable()?;
        match self.mode {
            // One transport write for the line and its end, so they leave together.
            Buffering::Unbuffered => {
                let mut line = Vec::new();
                line.try_reserve_exact(data.len() + 1)
                    .map_err(|_| Error::out_of_memory())?;
                line.extend_from_slice(data);
                line.push(b'\n');
                self.send(t, &line).await
            }
            // The line feed sends a line-buffered buffer by the usual rule.
            Buffering::LineBuffered | Buffering::Buffered => {
                if let Err(e) = self.write_buffered(t, data).await {
                    return Err(self.keep(b"\n", e));
                }
                self.write_buffered(t, b"\n").await
            }
        }
    }

    /// Alore's buffered write (`io_module.c:256-275`): fill the buffer, send it whole each
    /// time it is full, keep the rest; in line-buffered mode also send it when the bytes put in
    /// since the last full-buffer send contain a line feed.
    async fn write_buffered(&mut self, t: &mut impl Writing, data: &[u8]) -> Result<(), Error> {
        let capacity = self.mode.output_capacity();
        if self.output.len() >= capacity {
            // What a failed send left behind goes first.
            if let Err(e) = self.flush_output(t).await {
                return Err(self.keep(data, e));
            }
        }
        let mut rest = data;
        let mut fresh_from = self.output.len();
        let room = capacity - self.output.len();
        if rest.len() >= room {
            self.output.extend_from_slice(&rest[..room]);
            rest = &rest[room..];
            if let Err(e) = self.flush_output(t).await {
                return Err(self.keep(rest, e));
            }
            // Sending whole buffers straight from `data` puts the same bytes on the wire, in
            // the same call, as copying them through the buffer one buffer at a time.
            let whole = rest.len() - rest.len() % capacity;
            if whole > 0 {
                if let Err(e) = self.send(t, &rest[..whole]).await {
                    return Err(self.keep(&rest[whole..], e));
                }
                rest = &rest[whole..];
            }
            fresh_from = 0;
        }
        self.output.extend_from_slice(rest);
        if self.mode == Buffering::LineBuffered && self.output[fresh_from..].contains(&b'\n') {
            self.flush_output(t).await?;
        }
        Ok(())
    }

    /// Hand the whole output buffer to the transport and wait until it has gone. On failure
    /// the bytes not handed over stay buffered, in order.
    async fn flush_output(&mut self, t: &mut impl Writing) -> Result<(), Error> {
        if self.output.is_empty() {
            return Ok(());
        }
        let mut sent = 0;
        let result = loop {
            if sent == self.output.len() {
                break Ok(());
            }
            match t.write(&self.output[sent..]).await {
                Ok(n) => sent += n,
                Err(e) => break Err(e),
            }
        };
        // One drain at the end: draining after every write would be quadratic.
        self.output.drain(..sent);
        result?;
        t.flush().await
    }

    /// Hand `data` to the transport after anything still queued, and wait until it has gone.
    /// If that fails, what was not handed over stays queued ([`Output::keep`]).
    async fn send(&mut self, t: &mut impl Writing, data: &[u8]) -> Result<(), Error> {
        if let Err(e) = self.flush_output(t).await {
            return Err(self.keep(data, e));
        }
        let mut sent = 0;
        let failure = loop {
            if sent == data.len() {
                break None;
            }
            match t.write(&data[sent..]).await {
                Ok(n) => sent += n,
                Err(e) => break Some(e),
            }
        };
        match failure {
            Some(e) => Err(self.keep(&data[sent..], e)),
            None => t.flush().await,
        }
    }

    /// A send failed: queue `rest` of the write behind what already waits, so that the write
    /// has taken all its bytes and they go out, in order, before anything written later.
    fn keep(&mut self, rest: &[u8], error: Error) -> Error {
        match push(&mut self.output, rest) {
            Ok(()) => error,
            Err(out_of_memory) => out_of_memory,
        }
    }

    pub(crate) async fn flush(&mut self, t: &mut impl Writing) -> Result<(), Error> {
        self.flush_output(t).await
    }

    /// Send what is buffered, then forget the buffer whether or not that worked: the
    /// output half of `close`.
    pub(crate) async fn close(&mut self, t: &mut impl Writing) -> Result<(), Error> {
        let flushed = self.flush_output(t).await;
        self.output = Vec::new();
        flushed
    }
}

impl Input {
    pub(crate) fn new(mode: Buffering) -> Self {
        Input {
            mode,
            input: Vec::new(),
            read_pos: 0,
            line_scanned: 0,
            max_line: MAX_LINE_LENGTH,
            read_failed: None,
        }
    }

    /// The longest line `read_ln` accepts (at least 1).
    pub(crate) fn set_max_line_length(&mut self, bytes: u32) -> Result<(), Error> {
        if bytes == 0 {
            return Err(Error::Value(
                "The line limit must be at least 1 byte".into(),
            ));
        }
        self.max_line = usize::try_from(bytes).unwrap_or(usize::MAX);
        Ok(())
    }

    /// The unread bytes, moved out (no allocation a peer could make fail); nothing is left.
    fn take_unread(&mut self) -> Vec<u8> {
        let mut unread = std::mem::take(&mut self.input);
        unread.drain(..self.read_pos);
        self.read_pos = 0;
        self.line_scanned = 0;
        unread
    }

    /// Before TLS starts over this input: refused, changing nothing, while received bytes
    /// are unread, as they came before the upgrade and would look as if they came through it
    /// (CVE-2011-0411).
    pub(crate) fn before_upgrade(&mut self) -> Result<(), Error> {
        if !self.unread().is_empty() {
            return Err(Error::Value(format!(
                "{} received bytes are still unread: refusing to start TLS, as they would \
                 look as if they had come through it (CVE-2011-0411)",
                self.unread().len()
            )));
        }
        self.close();
        Ok(())
    }

    /// Hand the unread bytes out, with the rest of the input (the caller takes it from the
    /// transport): every later read that needs the network fails with `closed`.
    #[cfg_attr(
        not(feature = "p3"),
        expect(dead_code, reason = "only WASI 0.3's receive")
    )]
    pub(crate) fn hand_out_input(&mut self) -> Result<Vec<u8>, Error> {
        if let Some(failed) = &self.read_failed {
            return Err(failed.clone());
        }
        let unread = self.take_unread();
        self.read_failed = Some(Error::io(
            IoKind::Closed,
            "The socket's input was handed out by receive",
        ));
        Ok(unread)
    }

    fn unread(&self) -> &[u8] {
        &self.input[self.read_pos..]
    }

    /// Consume `n` unread bytes.
    fn consume(&mut self, n: usize) {
        self.read_pos += n;
        self.line_scanned = 0;
        if self.read_pos == self.input.len() {
            self.input.clear();
            self.read_pos = 0;
        }
    }

    /// Read once from the transport, at most `max` bytes. A failure that ends the input
    /// (anything but a timeout or a shortage of memory, which a retry may get past) is kept,
    /// and every later read that needs the network fails the same way: the unterminated tail
    /// of a connection that broke off (a reset, a TLS peer that closed without close_notify)
    /// is never taken for a whole line or a whole stream (docs/semantics.md, "Failures").
    async fn receive(&mut self, t: &mut impl Reading, max: usize) -> Result<Vec<u8>, Error> {
        if let Some(failed) = &self.read_failed {
            return Err(failed.clone());
        }
        let received = t.read(max).await;
        if let Err(e @ Error::Io { kind, .. }) = &received
            && !matches!(kind, IoKind::TimedOut | IoKind::LimitExceeded)
        {
            self.read_failed = Some(e.clone());
        }
        received
    }

    /// Read once from the transport (at most `max` bytes) into the input buffer. Returns how
    /// many bytes came; 0 is the end of the stream.
    async fn fill(&mut self, t: &mut impl Reading, max: usize) -> Result<usize, Error> {
        debug_assert!(max > 0, "a read of 0 bytes would wait forever");
        let chunk = self.receive(t, max).await?;
        let n = chunk.len();
        if self.unread().is_empty() {
            // Nothing to keep: take the transport's buffer instead of copying it.
            self.input = chunk;
            self.read_pos = 0;
        } else {
            if self.read_pos >= self.input.len() / 2 {
                self.input.drain(..self.read_pos);
                self.read_pos = 0;
            }
            self.input
                .try_reserve(n)
                .map_err(|_| Error::out_of_memory())?;
            self.input.extend_from_slice(&chunk);
        }
        Ok(n)
    }

    /// `read(count)`: `None` reads to the end of the stream (the caller then closes the
    /// socket, docs/semantics.md).
    pub(crate) async fn read(
        &mut self,
        t: &mut impl Reading,
        count: Option<u32>,
    ) -> Result<Vec<u8>, Error> {
        match count {
            None => self.read_all(t).await,
            Some(n) => self.read_exact_or_eof(t, n as usize).await,
        }
    }

    /// Block until `n` bytes or the end of the stream. An unbuffered stream never takes more
    /// from the network than asked for (Alore: `peek` after `read(3)` is empty); the buffered
    /// modes refill their buffer and keep the surplus.
    async fn read_exact_or_eof(
        &mut self,
        t: &mut impl Reading,
        n: usize,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        match self.gather(t, n, &mut out).await {
            Ok(()) => Ok(out),
            Err(e) => Err(self.give_back(out, e)),
        }
    }

    /// Put bytes a read that failed with `error` had taken back in front of the unread ones:
    /// a read that fails (a timeout, say) consumes nothing. Returns the error to report: the
    /// same, or `limit-exceeded` if there was no memory to put them back (then they are lost).
    fn give_back(&mut self, bytes: Vec<u8>, error: Error) -> Error {
        if bytes.is_empty() {
            return error;
        }
        self.line_scanned = 0;
        if self.unread().is_empty() {
            self.input = bytes;
            self.read_pos = 0;
            return error;
        }
        if self.input.try_reserve(bytes.len()).is_err() {
            return Error::out_of_memory();
        }
        self.input.splice(self.read_pos..self.read_pos, bytes);
        error
    }

    /// Move up to `n` bytes into `out`: buffered ones first, then from the transport.
    async fn gather(
        &mut self,
        t: &mut impl Reading,
        n: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let buffered = self.unread().len().min(n);
        push(out, &self.input[self.read_pos..self.read_pos + buffered])?;
        self.consume(buffered);
        while out.len() < n {
            let want = n - out.len();
            let ask = match self.mode {
                Buffering::Unbuffered => want,
                _ => want.max(self.mode.refill_size()),
            }
            .min(MAX_READ_CHUNK);
            let chunk = self.receive(t, ask).await?;
            if chunk.is_empty() {
                break;
            }
            let take = chunk.len().min(want);
            if out.is_empty() && take == chunk.len() {
                *out = chunk; // the common bulk case: no copy
            } else {
                push(out, &chunk[..take])?;
                if take < chunk.len() {
                    push(&mut self.input, &chunk[take..])?;
                }
            }
        }
        Ok(())
    }

    /// Everything to the end of the stream. On failure nothing is consumed.
    async fn read_all(&mut self, t: &mut impl Reading) -> Result<Vec<u8>, Error> {
        let mut out = self.take_unread();
        loop {
            let chunk = match self.receive(t, MAX_READ_CHUNK).await {
                Ok(chunk) => chunk,
                Err(e) => return Err(self.give_back(out, e)),
            };
            if chunk.is_empty() {
                break;
            }
            push(&mut out, &chunk)?;
        }
        Ok(out)
    }

    /// Read one line without its ending (LF, CR LF or CR).
    pub(crate) async fn read_ln(&mut self, t: &mut impl Reading) -> Result<Vec<u8>, Error> {
        loop {
            let unread = self.unread();
            let found = find_line_end(&unread[self.line_scanned..]).map(|i| i + self.line_scanned);
            match found {
                Some(end) if end > self.max_line => return Err(self.drop_long_line()),
                Some(end) if unread[end] == b'\n' => return self.take_line(end, 1),
                Some(end) if end + 1 < unread.len() => {
                    let ending = if unread[end + 1] == b'\n' { 2 } else { 1 };
                    return self.take_line(end, ending);
                }
                Some(end) => {
                    // A CR is the last byte so far: wait to see whether an LF follows.
                    self.line_scanned = end;
                    if self.fill(t, self.mode.refill_size()).await? == 0 {
                        return self.take_line(end, 1);
                    }
                }
                None => {
                    if unread.len() > self.max_line {
                        return Err(self.drop_long_line());
                    }
                    self.line_scanned = unread.len();
                    if self.fill(t, self.mode.refill_size()).await? == 0 {
                        return match self.unread().len() {
                            0 => Err(Error::end_of_stream()),
                            len => self.take_line(len, 0),
                        };
                    }
                }
            }
        }
    }

    /// Take the next `len` bytes as a line and drop its `ending`. A line's size is the
    /// peer's to choose, so getting its memory may fail (`limit-exceeded`, nothing consumed).
    fn take_line(&mut self, len: usize, ending: usize) -> Result<Vec<u8>, Error> {
        let mut line = Vec::new();
        push(&mut line, &self.unread()[..len])?;
        self.consume(len + ending);
        Ok(line)
    }

    /// A line over the limit: drop its first `max_line` bytes (docs/semantics.md, "Lines"), so
    /// memory stays bounded and the rest of the line is still there to read.
    fn drop_long_line(&mut self) -> Error {
        self.consume(self.max_line);
        Error::io(
            IoKind::LimitExceeded,
            format!(
                "Line longer than {} bytes; its first {} bytes were dropped",
                self.max_line, self.max_line
            ),
        )
    }

    /// Every line to the end of the stream (the caller then closes the socket, also on
    /// failure: docs/semantics.md, "Lines").
    pub(crate) async fn read_lines(&mut self, t: &mut impl Reading) -> Result<Vec<Vec<u8>>, Error> {
        let mut lines = Vec::new();
        while !self.eof(t).await? {
            // How many lines there are is the peer's to choose: an endless stream of short
            // lines must end in `limit-exceeded`, not in a trap.
            lines.try_reserve(1).map_err(|_| Error::out_of_memory())?;
            lines.push(self.read_ln(t).await?);
        }
        Ok(lines)
    }

    /// The unread bytes, without reading or consuming.
    pub(crate) fn peek(&self) -> Result<Vec<u8>, Error> {
        let mut copy = Vec::new();
        push(&mut copy, self.unread())?;
        Ok(copy)
    }

    /// True when no byte is left; blocks until a byte or the end of the stream arrives.
    pub(crate) async fn eof(&mut self, t: &mut impl Reading) -> Result<bool, Error> {
        if !self.unread().is_empty() {
            return Ok(false);
        }
        Ok(self.fill(t, self.mode.refill_size()).await? == 0)
    }

    /// Forget what was received: the input half of `close`.
    pub(crate) fn close(&mut self) {
        self.input = Vec::new();
        self.read_pos = 0;
        self.line_scanned = 0;
    }
}

impl<T: Transport> Drop for Stream<T> {
    /// Dropping without `close` still sends what was buffered (docs/semantics.md, "When
    /// written bytes are sent"); there is nobody left to tell if that fails. An edition whose
    /// transport waits asynchronously closes the stream before it drops it (a destructor
    /// cannot wait); then there is nothing left to do here.
    fn drop(&mut self) {
        let _ = now(self.close());
    }
}

/// Run a call of the core whose transport never waits asynchronously (the WASI 0.2
/// edition's blocks inside each call; the tests' fake never waits) to its end: one poll.
/// `None` if it would wait, which such a transport never makes it do.
pub(crate) fn now<F: Future>(call: F) -> Option<F::Output> {
    let mut call = std::pin::pin!(call);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match call.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// Append, turning an allocation failure into an error instead of a trap.
fn push(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), Error> {
    out.try_reserve(bytes.len())
        .map_err(|_| Error::out_of_memory())?;
    out.extend_from_slice(bytes);
    Ok(())
}

/// The index of the first LF or CR in `bytes`, eight bytes at a time: `read-ln`'s scan. A
/// byte-at-a-time loop costs about 30 instructions a byte once compiled to wasm32 (which has
/// no SIMD by default) and was the largest cost of reading short lines.
pub(crate) fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each zero byte of `word` is set, and no bit below the first zero
    // byte: a borrow can only mark bytes above a real zero byte.
    let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let hits = zero_bytes(word ^ (ONES * u64::from(b'\n')))
            | zero_bytes(word ^ (ONES * u64::from(b'\r')));
        if hits != 0 {
            return Some(i * 8 + (hits.trailing_zeros() / 8) as usize);
        }
    }
    let done = bytes.len() - chunks.remainder().len();
    let rest = chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r');
    rest.map(|i| done + i)
}

#[cfg(any(test, feature = "fuzzing"))]
mod fake;
#[cfg(any(test, feature = "fuzzing"))]
pub mod model;
#[cfg(test)]
mod tests;
