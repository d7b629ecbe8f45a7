//! `wasi:tls@0.3.0-draft`'s host: a connector between four streams. The guest gives `send` its
//! cleartext and gets the records to send; it gives `receive` the ciphertext from the network
//! (typically the TCP socket's own receive stream, so it goes host to host) and gets the
//! cleartext. All four ends work on one rustls session, inside wasmtime's own polls of the
//! streams: no task or channel of its own, and no record waits for anything but its reader.
//!
//! Every end wakes the ends its progress unblocks: ciphertext taken in wakes the cleartext
//! reader (and the handshake); cleartext read out wakes the ciphertext writer (rustls takes
//! more once its plaintext is read); cleartext taken in wakes the records' reader; records
//! read out wake the cleartext writer. (wasmtime-wasi-tls 48 wrote cleartext through
//! tokio-rustls and never flushed it, so the tail of a write stayed in the host until the next
//! write: why this host exists.)
//!
//! Bounds: rustls holds at most one record of received ciphertext and its plaintext (the
//! ciphertext end takes nothing more until that is read), and the cleartext end takes at most
//! [`super::p2::WRITE_PERMIT`] bytes while earlier records wait for their reader.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use wasmtime::StoreContextMut;
use wasmtime::component::{
    Access, Accessor, Destination, FutureProducer, FutureReader, HasSelf, Linker, Resource, Source,
    StreamConsumer, StreamProducer, StreamReader, StreamResult,
};

use super::{CHUNK, Session};
use crate::store::State;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../examples/wasi-wit-p3/tls.wit",
        world: "wasi:tls/imports",
        imports: {
            "wasi:tls/client.[method]connector.send": store | trappable,
            "wasi:tls/client.[method]connector.receive": store | trappable,
            default: trappable,
        },
        with: {
            "wasi:tls/client.connector": super::Connector,
            "wasi:tls/types.error": super::TlsError,
        },
        require_store_data_send: true,
    });
}

use bindings::wasi::tls::{client, types};

/// Link `wasi:tls@0.3.0-draft` for stores of a policy that allows TLS.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    client::add_to_linker::<State, HasSelf<State>>(linker, |state| state)?;
    types::add_to_linker::<State, HasSelf<State>>(linker, |state| state)?;
    Ok(())
}

/// A failure, in words: the text of `wasi:tls`'s `error`.
#[expect(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct TlsError(String);

/// A connector: its shared state, and which of its streams the guest has set up.
#[expect(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct Connector {
    shared: Arc<Mutex<Shared>>,
    send: bool,
    receive: bool,
}

/// What the four ends of a connection share.
#[derive(Default)]
struct Shared {
    /// The session, from `connect` on.
    session: Option<Session>,
    /// Why the connection failed, once it has.
    failure: Option<String>,
    /// Ciphertext taken from the peer's stream that rustls has not taken yet: at most
    /// [`CHUNK`], so that one read of the cleartext can decrypt several records.
    pending: Vec<u8>,
    /// The ciphertext from the peer ended.
    cipher_in_ended: bool,
    /// rustls was told so (once it had taken every byte before the end).
    end_told: bool,
    /// The guest's cleartext ended: `close_notify` follows once connected.
    clear_out_ended: bool,
    /// Nobody reads the records any more: cleartext can no longer go.
    cipher_out_gone: bool,
    /// How `send`'s records ended, once they have.
    sent: Option<Result<(), String>>,
    /// How `receive`'s cleartext ended, once it has.
    received: Option<Result<(), String>>,
    /// The ends waiting, each for its own progress.
    wakers: Wakers,
}

#[derive(Default)]
struct Wakers {
    cipher_in: Option<Waker>,
    clear_in: Option<Waker>,
    clear_out: Option<Waker>,
    cipher_out: Option<Waker>,
    connect: Option<Waker>,
    sent: Option<Waker>,
    received: Option<Waker>,
}

impl Wakers {
    fn all(&mut self) {
        for waker in [
            &mut self.cipher_in,
            &mut self.clear_in,
            &mut self.clear_out,
            &mut self.cipher_out,
            &mut self.connect,
            &mut self.sent,
            &mut self.received,
        ] {
            if let Some(waker) = waker.take() {
                waker.wake();
            }
        }
    }
}

/// Wake the end in `slot`, if it waits.
fn wake(slot: &mut Option<Waker>) {
    if let Some(waker) = slot.take() {
        waker.wake();
    }
}

impl Shared {
    /// End the cleartext stream: `receive`'s future says `outcome` (the first outcome stands).
    fn end_received(
        &mut self,
        outcome: Result<(), String>,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        self.received.get_or_insert(outcome);
        wake(&mut self.wakers.received);
        Poll::Ready(Ok(StreamResult::Dropped))
    }

    /// Fail the connection for `why` (the first failure stands), waking every end.
    fn fail(&mut self, why: String) {
        self.failure.get_or_insert(why);
        self.wakers.all();
    }
}

/// The state, whatever a panic elsewhere left in its lock: every change to it is complete
/// before the lock is let go.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// The end that takes the peer's ciphertext (the stream given to `receive`).
struct CipherIn(Arc<Mutex<Shared>>);

impl StreamConsumer<State> for CipherIn {
    type Item = u8;

    fn poll_consume(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<'_, State>,
        source: Source<'_, u8>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let mut shared = lock(&self.0);
        let shared = &mut *shared;
        if shared.failure.is_some() {
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        let mut source = source.as_direct(store);
        if source.remaining().is_empty() {
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        let room = CHUNK.saturating_sub(shared.pending.len());
        if shared.session.is_none() || room == 0 {
            // Before `connect`, or with a chunk unread: nothing more is taken until then.
            if finish {
                return Poll::Ready(Ok(StreamResult::Cancelled));
            }
            shared.wakers.cipher_in = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let data = source.remaining();
        let n = data.len().min(room);
        if shared.pending.try_reserve(n).is_err() {
            shared.fail("out of memory for received ciphertext".into());
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        shared.pending.extend_from_slice(&data[..n]);
        source.mark_read(n);
        let Shared {
            session, pending, ..
        } = &mut *shared;
        let outcome = session.as_mut().map_or(Ok(0), |s| s.feed_from(pending));
        shared.pending.drain(..outcome.as_ref().map_or(0, |n| *n));
        wake(&mut shared.wakers.clear_in);
        wake(&mut shared.wakers.cipher_out);
        wake(&mut shared.wakers.connect);
        wake(&mut shared.wakers.clear_out);
        if let Err(e) = outcome {
            shared.fail(e.to_string());
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        Poll::Ready(Ok(StreamResult::Completed))
    }
}

impl Drop for CipherIn {
    fn drop(&mut self) {
        // The peer's ciphertext ended (or the guest dropped the stream): rustls hears of it
        // once it has taken what came before (here, or when the cleartext is next read).
        let mut shared = lock(&self.0);
        let shared = &mut *shared;
        shared.cipher_in_ended = true;
        if shared.pending.is_empty()
            && let Some(session) = shared.session.as_mut()
        {
            shared.end_told = true;
            if let Err(e) = session.end() {
                shared.fail(e.to_string());
            }
        }
        shared.wakers.all();
    }
}

/// The cleartext's end for a TLS failure `e`: the connection fails, and `receive`'s future
/// says why.
fn failed(shared: &mut Shared, e: rustls::Error) -> Poll<wasmtime::Result<StreamResult>> {
    let why = e.to_string();
    shared.fail(why.clone());
    shared.end_received(Err(why))
}

/// The end that hands the guest its cleartext (`receive`'s stream).
struct ClearIn(Arc<Mutex<Shared>>);

impl StreamProducer<State> for ClearIn {
    type Item = u8;
    type Buffer = Option<u8>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<'a, State>,
        destination: Destination<'a, u8, Option<u8>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let mut shared = lock(&self.0);
        let shared = &mut *shared;
        if let Some(why) = shared.failure.clone() {
            return shared.end_received(Err(why));
        }
        let mut destination = destination.as_direct(store, CHUNK);
        if let Some(session) = shared.session.as_mut() {
            // Ciphertext rustls could not take while it held plaintext: its turn now.
            if !shared.pending.is_empty() {
                match session.feed_from(&shared.pending) {
                    Ok(taken) => {
                        shared.pending.drain(..taken);
                        wake(&mut shared.wakers.cipher_in);
                    }
                    Err(e) => return failed(shared, e),
                }
            }
            if shared.cipher_in_ended && shared.pending.is_empty() && !shared.end_told {
                shared.end_told = true;
                if let Err(e) = session.end() {
                    return failed(shared, e);
                }
            }
            let readable = match session.readable() {
                Ok(n) => n,
                Err(e) => return failed(shared, e),
            };
            if readable > 0 {
                // As many records as fill the reader's buffer: plaintext, then the next
                // record from what the peer's stream gave, until either runs out.
                let mut written = 0;
                loop {
                    let room = &mut destination.remaining()[written..];
                    if room.is_empty() {
                        break;
                    }
                    let n = std::io::Read::read(&mut session.conn.reader(), room).unwrap_or(0);
                    written += n;
                    if n > 0 || shared.pending.is_empty() {
                        if n == 0 {
                            break;
                        }
                        continue;
                    }
                    match session.feed_from(&shared.pending) {
                        Ok(0) => break,
                        Ok(taken) => {
                            shared.pending.drain(..taken);
                        }
                        Err(e) => {
                            shared.failure.get_or_insert(e.to_string());
                            break;
                        }
                    }
                }
                destination.mark_written(written);
                wake(&mut shared.wakers.cipher_in);
                if shared.failure.is_some() {
                    shared.wakers.all();
                }
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            if let Some(end) = session.ended() {
                return shared.end_received(end.map_err(|e| e.to_string()));
            }
        }
        if shared.cipher_in_ended && shared.session.is_none() {
            return shared.end_received(Err("the ciphertext ended before the handshake".into()));
        }
        if finish {
            return Poll::Ready(Ok(StreamResult::Cancelled));
        }
        shared.wakers.clear_in = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for ClearIn {
    fn drop(&mut self) {
        // The guest stopped reading: what is left of the peer's data is not wanted.
        let mut shared = lock(&self.0);
        shared.received.get_or_insert(Ok(()));
        shared.wakers.all();
    }
}

/// The end that takes the guest's cleartext (the stream given to `send`).
struct ClearOut(Arc<Mutex<Shared>>);

impl StreamConsumer<State> for ClearOut {
    type Item = u8;

    fn poll_consume(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<'_, State>,
        source: Source<'_, u8>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let mut shared = lock(&self.0);
        let shared = &mut *shared;
        if shared.failure.is_some() || shared.cipher_out_gone {
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        let mut source = source.as_direct(store);
        if source.remaining().is_empty() {
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        // Taken once connected, and once the records made before have gone to their reader.
        let Some(session) = shared
            .session
            .as_mut()
            .filter(|s| !s.conn.is_handshaking() && !s.conn.wants_write())
        else {
            if finish {
                return Poll::Ready(Ok(StreamResult::Cancelled));
            }
            shared.wakers.clear_out = Some(cx.waker().clone());
            return Poll::Pending;
        };
        let data = source.remaining();
        let n = data.len().min(super::p2::WRITE_PERMIT);
        // The session has no buffer limit: everything given is taken.
        let taken = std::io::Write::write(&mut session.conn.writer(), &data[..n]).unwrap_or(0);
        source.mark_read(taken);
        wake(&mut shared.wakers.cipher_out);
        Poll::Ready(Ok(StreamResult::Completed))
    }
}

impl Drop for ClearOut {
    fn drop(&mut self) {
        // The guest's cleartext ended: close_notify, now or once connected.
        let mut shared = lock(&self.0);
        shared.clear_out_ended = true;
        if let Some(session) = shared.session.as_mut() {
            session.close();
        }
        shared.wakers.all();
    }
}

/// The end that hands the guest the records to send (`send`'s stream).
struct CipherOut(Arc<Mutex<Shared>>);

impl StreamProducer<State> for CipherOut {
    type Item = u8;
    type Buffer = Option<u8>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<'a, State>,
        destination: Destination<'a, u8, Option<u8>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let mut shared = lock(&self.0);
        let shared = &mut *shared;
        let mut destination = destination.as_direct(store, CHUNK);
        if let Some(session) = shared.session.as_mut()
            && session.conn.wants_write()
        {
            // Records first, even after a failure: rustls's alert says why.
            if destination.remaining().is_empty() {
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            let _ = session.conn.write_tls(&mut destination);
            wake(&mut shared.wakers.clear_out);
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        let closed = shared.session.as_ref().is_some_and(|s| s.closing);
        if closed || shared.failure.is_some() {
            let outcome = match &shared.failure {
                Some(why) => Err(why.clone()),
                None => Ok(()),
            };
            shared.sent.get_or_insert(outcome);
            wake(&mut shared.wakers.sent);
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        if finish {
            return Poll::Ready(Ok(StreamResult::Cancelled));
        }
        shared.wakers.cipher_out = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for CipherOut {
    fn drop(&mut self) {
        let mut shared = lock(&self.0);
        shared.cipher_out_gone = true;
        if shared.sent.is_none() {
            shared.sent = Some(Err("the records' reader went away".into()));
        }
        shared.wakers.all();
    }
}

/// Which outcome a future reports.
#[derive(Clone, Copy)]
enum Direction {
    Sent,
    Received,
}

/// The future of `send` or `receive`: how that direction ended.
struct Outcome {
    shared: Arc<Mutex<Shared>>,
    direction: Direction,
}

impl FutureProducer<State> for Outcome {
    type Item = Result<(), Resource<TlsError>>;

    fn poll_produce(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'_, State>,
        finish: bool,
    ) -> Poll<wasmtime::Result<Option<Self::Item>>> {
        let mut shared = lock(&self.shared);
        let shared = &mut *shared;
        let (outcome, waker) = match self.direction {
            Direction::Sent => (&shared.sent, &mut shared.wakers.sent),
            Direction::Received => (&shared.received, &mut shared.wakers.received),
        };
        match outcome {
            Some(Ok(())) => Poll::Ready(Ok(Some(Ok(())))),
            Some(Err(why)) => {
                let error = store.data_mut().table.push(TlsError(why.clone()))?;
                Poll::Ready(Ok(Some(Err(error))))
            }
            None if finish => Poll::Ready(Ok(None)),
            None => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl types::Host for State {}

impl types::HostError for State {
    fn to_debug_string(&mut self, this: Resource<TlsError>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.0.clone())
    }

    fn drop(&mut self, this: Resource<TlsError>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl client::Host for State {}

impl client::HostConnector for State {
    fn new(&mut self) -> wasmtime::Result<Resource<Connector>> {
        Ok(self.table.push(Connector {
            shared: Arc::default(),
            send: false,
            receive: false,
        })?)
    }

    fn drop(&mut self, this: Resource<Connector>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

/// A stream and the future that says how it ended: what `send` and `receive` return.
type Ends = (
    StreamReader<u8>,
    FutureReader<Result<(), Resource<TlsError>>>,
);

/// A stream that ends at once, and a future that says why: what a second `send` or `receive`
/// on one connector gets.
fn refused(store: &mut Access<'_, State, HasSelf<State>>, why: &str) -> wasmtime::Result<Ends> {
    let shared = Arc::new(Mutex::new(Shared {
        failure: Some(why.to_owned()),
        sent: Some(Err(why.to_owned())),
        ..Shared::default()
    }));
    let stream = StreamReader::new(&mut *store, std::iter::empty::<u8>())?;
    let future = FutureReader::new(
        &mut *store,
        Outcome {
            shared,
            direction: Direction::Sent,
        },
    )?;
    Ok((stream, future))
}

/// Set up one direction of connector `this` (once): `given` is piped into the consumer `ends`
/// makes, and the guest gets the stream of its producer and the future of `direction`.
fn set_up<C, P>(
    mut store: Access<'_, State, HasSelf<State>>,
    this: Resource<Connector>,
    mut given: StreamReader<u8>,
    direction: Direction,
    ends: impl FnOnce(Arc<Mutex<Shared>>) -> (C, P),
) -> wasmtime::Result<Ends>
where
    C: StreamConsumer<State, Item = u8>,
    P: StreamProducer<State, Item = u8, Buffer = Option<u8>>,
{
    let connector = store.get().table.get_mut(&this)?;
    let (taken, name) = match direction {
        Direction::Sent => (&mut connector.send, "send"),
        Direction::Received => (&mut connector.receive, "receive"),
    };
    if std::mem::replace(taken, true) {
        given.close(&mut store)?;
        return refused(
            &mut store,
            &format!("{name} is already set up on this connector"),
        );
    }
    let shared = Arc::clone(&connector.shared);
    let (consumer, producer) = ends(Arc::clone(&shared));
    given.pipe(&mut store, consumer)?;
    let stream = StreamReader::new(&mut store, producer)?;
    let outcome = FutureReader::new(&mut store, Outcome { shared, direction })?;
    Ok((stream, outcome))
}

impl client::HostConnectorWithStore<State> for HasSelf<State> {
    fn send(
        store: Access<'_, State, Self>,
        this: Resource<Connector>,
        cleartext: StreamReader<u8>,
    ) -> wasmtime::Result<Ends> {
        set_up(store, this, cleartext, Direction::Sent, |shared| {
            (ClearOut(Arc::clone(&shared)), CipherOut(shared))
        })
    }

    fn receive(
        store: Access<'_, State, Self>,
        this: Resource<Connector>,
        ciphertext: StreamReader<u8>,
    ) -> wasmtime::Result<Ends> {
        set_up(store, this, ciphertext, Direction::Received, |shared| {
            (CipherIn(Arc::clone(&shared)), ClearIn(shared))
        })
    }

    async fn connect(
        accessor: &Accessor<State, Self>,
        this: Resource<Connector>,
        server_name: String,
    ) -> wasmtime::Result<Result<(), Resource<TlsError>>> {
        let started = accessor.with(|mut access| start(access.get(), this, &server_name))?;
        let outcome = match started {
            Err(why) => Err(why),
            Ok(shared) => {
                std::future::poll_fn(|cx| {
                    let mut shared = lock(&shared);
                    if let Some(why) = &shared.failure {
                        return Poll::Ready(Err(why.clone()));
                    }
                    if shared
                        .session
                        .as_ref()
                        .is_some_and(|s| !s.conn.is_handshaking())
                    {
                        return Poll::Ready(Ok(()));
                    }
                    if shared.cipher_in_ended {
                        return Poll::Ready(Err(
                            "the peer closed the connection during the handshake".into(),
                        ));
                    }
                    if shared.cipher_out_gone {
                        return Poll::Ready(Err("the records' reader went away".into()));
                    }
                    shared.wakers.connect = Some(cx.waker().clone());
                    Poll::Pending
                })
                .await
            }
        };
        match outcome {
            Ok(()) => Ok(Ok(())),
            Err(why) => {
                let error = accessor.with(|mut access| access.get().table.push(TlsError(why)))?;
                Ok(Err(error))
            }
        }
    }
}

/// Start the handshake of connector `this` for `name`: its shared state, or why it cannot
/// start (the connector is gone either way).
fn start(
    state: &mut State,
    this: Resource<Connector>,
    name: &str,
) -> wasmtime::Result<Result<Arc<Mutex<Shared>>, String>> {
    let connector = state.table.delete(this)?;
    if !(connector.send && connector.receive) {
        return Ok(Err("send and receive must be set up before connect".into()));
    }
    let name = if name.len() > alore_socket_rules::MAX_NAME_LENGTH {
        Err("not a valid server name".to_owned())
    } else {
        state
            .lookups
            .tls_name_allowed_on_any_peer(name)
            .and_then(|()| super::server_name(name))
    };
    let session = match (name, state.tls.clone()) {
        (Err(why), _) => return Ok(Err(why)),
        (Ok(_), None) => return Ok(Err("not allowed by the host's policy".into())),
        (Ok(name), Some(config)) => match Session::new(config, name) {
            Ok(session) => session,
            Err(e) => return Ok(Err(e.to_string())),
        },
    };
    let mut guard = lock(&connector.shared);
    let shared = &mut *guard;
    let session = shared.session.insert(session);
    // What the guest's streams did before the handshake began.
    if shared.clear_out_ended {
        session.close();
    }
    if shared.cipher_in_ended {
        shared.end_told = true;
        if let Err(e) = session.end() {
            shared.failure.get_or_insert(e.to_string());
        }
    }
    shared.wakers.all();
    drop(guard);
    Ok(Ok(connector.shared))
}
