//! `wasi:tls@0.2.0-draft`'s host: a client handshake over a guest's TCP streams, and the TLS
//! streams it gives back. No task of its own: the handshake runs while the guest waits on its
//! future's pollable, a read decrypts inside the guest's `read`, a write encrypts inside its
//! `write` and hands the records straight to the TCP stream.
//!
//! Bounds: rustls holds at most one record of received ciphertext and its plaintext (it is
//! fed no more until that is read), and a write stream grants [`WRITE_PERMIT`] bytes only when
//! everything written before has gone to the TCP stream, so a peer that stops reading holds at
//! most that much (plus its records' overhead) per connection.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use wasmtime::component::{HasSelf, Linker, Resource};
use wasmtime_wasi::async_trait;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, DynPollable, InputStream, OutputStream, Pollable, StreamError,
    StreamResult,
};

use super::{CHUNK, Session};
use crate::store::State;

mod bindings {
    wasmtime::component::bindgen!({
        path: ["../wit/deps/io.wit", "../guest/wit/deps/tls.wit"],
        world: "wasi:tls/imports",
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:tls/types.client-handshake": super::Handshake,
            "wasi:tls/types.future-client-streams": super::FutureStreams,
            "wasi:tls/types.client-connection": super::Connection,
        },
        imports: { default: trappable },
        require_store_data_send: true,
    });
}

use bindings::wasi::tls::types;

/// Link `wasi:tls@0.2.0-draft` for stores of a policy that allows TLS.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    let mut options = types::LinkOptions::default();
    options.tls(true);
    types::add_to_linker::<State, HasSelf<State>>(linker, &options, |state| state)
}

/// How many bytes a TLS write stream grants a guest at once (`check-write`), granted only
/// when all it wrote before has gone to the TCP stream: what wasmtime-wasi's TCP streams
/// grant, so the guest writes TLS in the same steps as plain TCP, and the host holds no more
/// of a connection's unsent data than that.
pub(crate) const WRITE_PERMIT: usize = 64 * 1024;

/// A handshake not yet started: the server name (or why there is none) and the TCP streams.
#[expect(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct Handshake {
    name: Result<ServerName<'static>, String>,
    input: DynInputStream,
    output: DynOutputStream,
}

/// A handshake under way, then its outcome.
#[expect(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct FutureStreams(Stage);

enum Stage {
    Running(Box<Running>),
    Done(Result<Streams, wasmtime::Error>),
    Taken,
}

/// A handshake's streams.
struct Streams {
    connection: Connection,
    input: TlsInput,
    output: TlsOutput,
}

/// A handshake in progress: its session, the TCP streams, ciphertext read but not yet taken.
struct Running {
    session: Session,
    input: DynInputStream,
    output: DynOutputStream,
    pending: Bytes,
}

impl Running {
    /// Run the handshake to its end. Safe to stop at any await (the guest's poll may end
    /// first): nothing read or written is held in a local across one.
    async fn drive(&mut self) -> Result<(), wasmtime::Error> {
        loop {
            while self.session.conn.wants_write() {
                let permit = self.output.write_ready().await.map_err(failure)?;
                let records = self.session.take_ciphertext(permit.min(CHUNK));
                self.output.write(records.into()).map_err(failure)?;
            }
            if !self.session.conn.is_handshaking() {
                return Ok(());
            }
            if self.pending.is_empty() {
                match self.input.blocking_read(CHUNK).await {
                    Ok(bytes) => self.pending = bytes,
                    Err(StreamError::Closed) => {
                        return Err(wasmtime::Error::msg(
                            "the peer closed the connection during the handshake",
                        ));
                    }
                    Err(e) => return Err(failure(e)),
                }
            }
            if let Err(e) = self.session.feed(&mut self.pending) {
                // rustls queued an alert that says why: it goes if it can, at once.
                if let Ok(permit) = self.output.check_write() {
                    let alert = self.session.take_ciphertext(permit.min(CHUNK));
                    let _ = self.output.write(alert.into());
                }
                return Err(wasmtime::Error::msg(e.to_string()));
            }
        }
    }

    /// The streams of a finished handshake.
    fn into_streams(self) -> Streams {
        let Running {
            session,
            input,
            output,
            pending,
        } = self;
        let shared = Arc::new(Mutex::new(session));
        Streams {
            connection: Connection(Arc::clone(&shared)),
            input: TlsInput {
                shared: Arc::clone(&shared),
                input,
                pending,
                ended: false,
                error: None,
                read_size: MIN_READ,
                full: false,
            },
            output: TlsOutput {
                shared,
                output,
                closed: false,
            },
        }
    }
}

/// The error of a TCP stream as the handshake reports it: the stream's own, so a reset reads
/// as one, as it would over plain TCP.
fn failure(e: StreamError) -> wasmtime::Error {
    match e {
        StreamError::Closed => wasmtime::Error::msg("the connection is closed"),
        StreamError::LastOperationFailed(e) | StreamError::Trap(e) => e,
    }
}

#[async_trait]
impl Pollable for FutureStreams {
    async fn ready(&mut self) {
        if let Stage::Running(running) = &mut self.0 {
            let result = running.drive().await;
            let Stage::Running(running) = std::mem::replace(&mut self.0, Stage::Taken) else {
                unreachable!("matched above, and nothing replaced it since");
            };
            self.0 = Stage::Done(result.map(|()| running.into_streams()));
        }
    }
}

/// The connection a handshake made: its session, shared with its streams.
#[expect(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct Connection(Arc<Mutex<Session>>);

/// The session, whatever a panic elsewhere left in its lock: every change to it is complete
/// before the lock is let go.
fn lock(shared: &Mutex<Session>) -> MutexGuard<'_, Session> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// The decrypted input stream.
struct TlsInput {
    shared: Arc<Mutex<Session>>,
    input: DynInputStream,
    /// Ciphertext read from the TCP stream that rustls has not taken yet.
    pending: Bytes,
    /// The TCP stream ended.
    ended: bool,
    /// A failure found while waiting, for the next read.
    error: Option<StreamError>,
    /// How much the next read asks of the TCP stream ([`MIN_READ`] to [`CHUNK`]): doubled
    /// after a read that filled it, halved after one that used less than half. wasmtime-wasi
    /// zeroes a buffer of the size asked before every read, found data or not, so a line's
    /// record should not cost 64 KiB of zeroes, while bulk data still comes in full chunks.
    read_size: usize,
    /// The last read filled what it asked for: more is likely waiting.
    full: bool,
}

/// The least a TLS input stream asks of its TCP stream at once: a few small records.
const MIN_READ: usize = 4 * 1024;

impl TlsInput {
    /// Read what the TCP stream has, without waiting, into `pending`: whether anything came.
    fn pull(&mut self, session: &mut Session) -> bool {
        if self.ended || self.error.is_some() || !self.pending.is_empty() {
            return false;
        }
        match self.input.read(self.read_size) {
            Ok(bytes) if bytes.is_empty() => false,
            Ok(bytes) => {
                self.full = bytes.len() == self.read_size;
                if self.full {
                    self.read_size = (self.read_size * 2).min(CHUNK);
                } else if bytes.len() < self.read_size / 2 {
                    self.read_size = (self.read_size / 2).max(MIN_READ);
                }
                self.pending = bytes;
                true
            }
            Err(StreamError::Closed) => {
                self.ended = true;
                if let Err(e) = session.end() {
                    self.error = Some(tls_failure(e));
                }
                true
            }
            Err(e) => {
                self.error = Some(e);
                true
            }
        }
    }

    /// Whether a read would return at once: plaintext, the end, or a failure.
    fn settled(&mut self, session: &mut Session) -> bool {
        if self.error.is_some() {
            return true;
        }
        match session.readable() {
            Ok(0) => session.ended().is_some(),
            Ok(_) => true,
            Err(e) => {
                self.error = Some(tls_failure(e));
                true
            }
        }
    }
}

/// A TLS failure (a bad record, an alert) as a stream's failure.
fn tls_failure(e: rustls::Error) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::msg(e.to_string()))
}

impl InputStream for TlsInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let shared = Arc::clone(&self.shared);
        let mut session = lock(&shared);
        let size = size.min(CHUNK);
        let mut out = Vec::new();
        loop {
            let readable = match session.readable() {
                Ok(n) => n,
                Err(e) => {
                    self.error.get_or_insert(tls_failure(e));
                    0
                }
            };
            if readable > 0 && out.len() < size {
                let max = readable.min(size - out.len());
                session.read_plaintext(&mut out, max);
                continue;
            }
            if out.len() == size {
                break;
            }
            if !self.pending.is_empty() && session.conn.wants_read() {
                if let Err(e) = session.feed(&mut self.pending) {
                    self.error.get_or_insert(tls_failure(e));
                }
                if session.readable().is_ok_and(|n| n > 0) {
                    continue;
                }
            }
            // With plaintext in hand, the TCP stream is read again only if it likely has more:
            // an empty read costs wasmtime-wasi a zeroed buffer.
            if (!out.is_empty() && !self.full) || !self.pull(&mut session) {
                break;
            }
        }
        if !out.is_empty() {
            return Ok(out.into());
        }
        if let Some(e) = self.error.take() {
            // Reported once; the stream is closed after, as a TCP stream is after a failure.
            self.ended = true;
            self.pending = Bytes::new();
            return Err(e);
        }
        match session.ended() {
            Some(Ok(())) => Err(StreamError::Closed),
            Some(Err(e)) => {
                self.error = Some(StreamError::Closed);
                Err(StreamError::LastOperationFailed(e.into()))
            }
            None => Ok(Bytes::new()),
        }
    }
}

#[async_trait]
impl Pollable for TlsInput {
    async fn ready(&mut self) {
        loop {
            {
                let shared = Arc::clone(&self.shared);
                let mut session = lock(&shared);
                if !self.pending.is_empty()
                    && session.conn.wants_read()
                    && let Err(e) = session.feed(&mut self.pending)
                {
                    self.error.get_or_insert(tls_failure(e));
                }
                if self.settled(&mut session) || self.ended {
                    return;
                }
                if self.pull(&mut session) {
                    continue;
                }
            }
            self.input.ready().await;
            let shared = Arc::clone(&self.shared);
            self.pull(&mut lock(&shared));
        }
    }
}

/// The encrypting output stream.
struct TlsOutput {
    shared: Arc<Mutex<Session>>,
    output: DynOutputStream,
    /// `close_notify` has gone to the TCP stream: the stream is closed.
    closed: bool,
}

impl TlsOutput {
    /// Hand the TCP stream the records rustls has, as far as it takes them now: whether all
    /// have gone.
    fn push(&mut self, session: &mut Session) -> StreamResult<bool> {
        while session.conn.wants_write() {
            let permit = self.output.check_write()?;
            if permit == 0 {
                return Ok(false);
            }
            let records = session.take_ciphertext(permit.min(CHUNK));
            self.output.write(records.into())?;
        }
        Ok(true)
    }

    /// Push everything, waiting for the TCP stream as needed; then wait until it is idle.
    async fn drain(&mut self) -> StreamResult<()> {
        loop {
            let shared = Arc::clone(&self.shared);
            if self.push(&mut lock(&shared))? {
                break;
            }
            self.output.ready().await;
        }
        self.output.ready().await;
        Ok(())
    }
}

#[async_trait]
impl OutputStream for TlsOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        if bytes.len() > WRITE_PERMIT {
            return Err(StreamError::trap("wrote more than check-write allowed"));
        }
        let shared = Arc::clone(&self.shared);
        let mut session = lock(&shared);
        if session.closing {
            return Err(StreamError::Closed);
        }
        // The session has no buffer limit: the grant bounds what it holds.
        std::io::Write::write_all(&mut session.conn.writer(), &bytes)
            .map_err(|e| StreamError::LastOperationFailed(e.into()))?;
        self.push(&mut session).map(drop)
    }

    fn flush(&mut self) -> StreamResult<()> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        let shared = Arc::clone(&self.shared);
        self.push(&mut lock(&shared))?;
        self.output.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        let shared = Arc::clone(&self.shared);
        let mut session = lock(&shared);
        if !self.push(&mut session)? || self.output.check_write()? == 0 {
            return Ok(0);
        }
        if session.closing {
            // close_notify has gone: what the guest waits for before TCP's FIN.
            self.closed = true;
            return Err(StreamError::Closed);
        }
        Ok(WRITE_PERMIT)
    }

    async fn cancel(&mut self) {
        let _ = self.drain().await;
        self.output.cancel().await;
    }
}

#[async_trait]
impl Pollable for TlsOutput {
    async fn ready(&mut self) {
        if !self.closed {
            let _ = self.drain().await;
        }
    }
}

impl types::Host for State {}

impl types::HostClientHandshake for State {
    fn new(
        &mut self,
        name: String,
        input: Resource<DynInputStream>,
        output: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<Handshake>> {
        let peer = self.stream_peers.get(&input.rep()).copied();
        let name = if name.len() > alore_socket_rules::MAX_NAME_LENGTH {
            // Not kept: the host holds no name longer than a DNS name can be.
            Err("not a valid server name".to_owned())
        } else if let Some(peer) = peer
            && let Err(why) = self.lookups.tls_name_allowed(peer, &name)
        {
            // Reached through a name rule: TLS verifies that name and no other, so an allowed
            // name's address cannot be used to reach another tenant of the same front end.
            Err(why)
        } else {
            super::server_name(&name)
        };
        let input = self.table.delete(input)?;
        let output = self.table.delete(output)?;
        Ok(self.table.push(Handshake {
            name,
            input,
            output,
        })?)
    }

    fn finish(&mut self, this: Resource<Handshake>) -> wasmtime::Result<Resource<FutureStreams>> {
        let Handshake {
            name,
            input,
            output,
        } = self.table.delete(this)?;
        let stage = match (name, self.tls.clone()) {
            (Err(why), _) => Stage::Done(Err(wasmtime::Error::msg(why))),
            (Ok(_), None) => Stage::Done(Err(wasmtime::Error::msg(
                "not allowed by the host's policy",
            ))),
            (Ok(name), Some(config)) => match Session::new(config, name) {
                Ok(session) => Stage::Running(Box::new(Running {
                    session,
                    input,
                    output,
                    pending: Bytes::new(),
                })),
                Err(e) => Stage::Done(Err(wasmtime::Error::msg(e.to_string()))),
            },
        };
        Ok(self.table.push(FutureStreams(stage))?)
    }

    fn drop(&mut self, this: Resource<Handshake>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl types::HostFutureClientStreams for State {
    fn subscribe(
        &mut self,
        this: Resource<FutureStreams>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(&mut self.table, this)
    }

    #[allow(clippy::type_complexity, reason = "the WIT's own type")]
    fn get(
        &mut self,
        this: Resource<FutureStreams>,
    ) -> wasmtime::Result<
        Option<
            Result<
                Result<
                    (
                        Resource<Connection>,
                        Resource<DynInputStream>,
                        Resource<DynOutputStream>,
                    ),
                    Resource<wasmtime::Error>,
                >,
                (),
            >,
        >,
    > {
        let future = self.table.get_mut(&this)?;
        // One step without waiting, for a guest that asks before it polls.
        if let Stage::Running(_) = future.0 {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let _ = std::pin::pin!(future.ready()).poll(&mut cx);
        }
        match std::mem::replace(&mut future.0, Stage::Taken) {
            running @ Stage::Running(_) => {
                future.0 = running;
                Ok(None)
            }
            Stage::Taken => Ok(Some(Err(()))),
            Stage::Done(Err(e)) => Ok(Some(Ok(Err(self.table.push(e)?)))),
            Stage::Done(Ok(streams)) => {
                let connection = self.table.push(streams.connection)?;
                let input: DynInputStream = Box::new(streams.input);
                let output: DynOutputStream = Box::new(streams.output);
                let input = self.table.push_child(input, &connection)?;
                let output = self.table.push_child(output, &connection)?;
                Ok(Some(Ok(Ok((connection, input, output)))))
            }
        }
    }

    fn drop(&mut self, this: Resource<FutureStreams>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl types::HostClientConnection for State {
    fn close_output(&mut self, this: Resource<Connection>) -> wasmtime::Result<()> {
        lock(&self.table.get(&this)?.0).close();
        Ok(())
    }

    fn drop(&mut self, this: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
