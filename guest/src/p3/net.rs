//! Every call of WASI 0.3 the edition makes: connected and listening TCP sockets over the
//! host's `stream<u8>`s, a UDP exchange, a TCP request, name lookup, and the deadline beside
//! each wait (a race with `monotonic-clock.wait-until`).
//!
//! WASI 0.3's TCP has no pollables and no `start-*/finish-*` pairs: `receive` hands out one
//! stream of everything the peer sends (its end says why it ended), `send` takes one stream
//! (closing it sends FIN). A read or write that loses the race with its deadline is cancelled;
//! what it had moved before the cancel took is kept, so nothing is lost or sent twice.

use std::cell::Cell;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use wit_bindgen::rt::async_support::{FutureReader, StreamReader, StreamResult, StreamWriter};

use super::wasi::clocks::monotonic_clock;
use super::wasi::sockets::types::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
    TcpSocket, UdpSocket,
};
use super::wasi_error::{from_code, timed_out};
use super::wit_stream;
use crate::error::{Error, IoKind};
use crate::stream::{Reading, Transport, Writing};

/// A point in time (a monotonic-clock mark) after which a wait gives up; `None` waits forever.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<u64>);

impl Deadline {
    pub(crate) const NEVER: Deadline = Deadline(None);

    pub(crate) fn after(wait: Duration) -> Self {
        let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        Deadline(Some(monotonic_clock::now().saturating_add(nanos)))
    }

    pub(crate) fn within(wait: Option<Duration>) -> Self {
        wait.map_or(Deadline::NEVER, Deadline::after)
    }

    /// The earlier of two deadlines.
    pub(crate) fn earlier(self, other: Deadline) -> Self {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (a, b) => Deadline(a.or(b)),
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn passed(self) -> bool {
        self.0.is_some_and(|when| monotonic_clock::now() >= when)
    }

    /// Poll `work` until it is done (`Some`) or the deadline passes (`None`; `work` is left
    /// as it was, for the caller to cancel and take back what it holds).
    pub(crate) async fn race<F: Future>(self, mut work: Pin<&mut F>) -> Option<F::Output> {
        let Some(when) = self.0 else {
            return Some(work.await);
        };
        let mut timer = pin!(monotonic_clock::wait_until(when));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// [`Deadline::race`] for work that can simply be dropped when it loses (dropping an
    /// import's call cancels it).
    pub(crate) async fn within_deadline<F: Future>(self, work: F) -> Option<F::Output> {
        self.race(pin!(work)).await
    }
}

/// `address` as WASI writes it.
pub(crate) fn socket_address(address: SocketAddr) -> IpSocketAddress {
    match address {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: v4.port(),
                address: (a, b, c, d),
            })
        }
        SocketAddr::V6(v6) => {
            let [a, b, c, d, e, f, g, h] = v6.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: v6.port(),
                flow_info: 0,
                address: (a, b, c, d, e, f, g, h),
                scope_id: 0,
            })
        }
    }
}

/// The family of `address`, for a socket that will use it.
fn family(address: SocketAddr) -> IpAddressFamily {
    match address {
        SocketAddr::V4(_) => IpAddressFamily::Ipv4,
        SocketAddr::V6(_) => IpAddressFamily::Ipv6,
    }
}

/// A connection attempt in flight: its connect, which dropping cancels.
pub(crate) type Attempt = Pin<Box<dyn Future<Output = Result<TcpConnection, Error>>>>;

/// Start connecting to `remote` (the attempt runs when [`settle`] polls it).
pub(crate) fn start(remote: SocketAddr) -> Attempt {
    Box::pin(TcpConnection::connect_by(remote, Deadline::NEVER))
}

/// Wait until one of `attempts` has connected or failed, or `until` passes (`None`). The
/// settled attempt leaves the list.
pub(crate) async fn settle(
    attempts: &mut Vec<Attempt>,
    until: Deadline,
) -> Option<Result<TcpConnection, Error>> {
    let mut timer = until
        .0
        .map(|when| Box::pin(monotonic_clock::wait_until(when)));
    std::future::poll_fn(|cx| {
        for index in 0..attempts.len() {
            if let Poll::Ready(outcome) = attempts[index].as_mut().poll(cx) {
                drop(attempts.remove(index));
                return Poll::Ready(Some(outcome));
            }
        }
        match timer.as_mut().map(|timer| timer.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    })
    .await
}

/// An address WASI gave, as Rust writes it.
pub(crate) fn ip_of(address: IpAddress) -> IpAddr {
    match address {
        IpAddress::Ipv4((a, b, c, d)) => Ipv4Addr::new(a, b, c, d).into(),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => Ipv6Addr::new(a, b, c, d, e, f, g, h).into(),
    }
}

/// A socket address WASI gave: its address and port.
pub(crate) fn address_of(address: IpSocketAddress) -> (IpAddr, u16) {
    match address {
        IpSocketAddress::Ipv4(v4) => (ip_of(IpAddress::Ipv4(v4.address)), v4.port),
        IpSocketAddress::Ipv6(v6) => (ip_of(IpAddress::Ipv6(v6.address)), v6.port),
    }
}

/// How a TCP stream ended: `ok` after FIN, or why not.
pub(crate) type TcpEnd = FutureReader<Result<(), ErrorCode>>;

/// How one direction of a connection ended, once known: TCP's answer, or (after
/// `start-tls`) TLS's over TCP's.
pub(crate) enum End {
    Tcp(TcpEnd),
    #[cfg(feature = "tls")]
    Tls(super::tls::TlsEnd),
}

impl End {
    /// The answer, in the component's terms.
    pub(crate) async fn outcome(self) -> Result<(), Error> {
        match self {
            End::Tcp(end) => end.await.map_err(from_code),
            #[cfg(feature = "tls")]
            End::Tls(end) => end.outcome().await,
        }
    }
}

/// A connection's limits on waiting (`set-timeout`, `set-deadline`), shared by its two
/// halves: setting them needs neither half, so it never waits for a read or a write.
#[derive(Clone, Default)]
pub(crate) struct Clock(Rc<Cell<(Option<Duration>, Deadline)>>);

impl Default for Deadline {
    fn default() -> Self {
        Deadline::NEVER
    }
}

impl Clock {
    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) {
        let (_, until) = self.0.get();
        self.0.set((timeout, until));
    }

    pub(crate) fn set_deadline(&self, within: Option<Duration>) {
        let (timeout, _) = self.0.get();
        self.0.set((timeout, Deadline::within(within)));
    }

    /// When the wait about to start must end: `set-timeout` from now, or `set-deadline`'s
    /// instant, whichever comes first.
    pub(crate) fn limit(&self) -> Deadline {
        let (timeout, until) = self.0.get();
        Deadline::within(timeout).earlier(until)
    }
}

/// A connected TCP socket: its two halves, which the WASI 0.3 edition holds apart (one read
/// and one write in flight at once), and the socket that owns them.
pub(crate) struct TcpConnection {
    pub(crate) input: TcpInput,
    pub(crate) output: TcpOutput,
    /// The socket itself: its streams work without it, but it is the connection's owner.
    pub(crate) socket: TcpSocket,
    /// Both ends' addresses, learnt when the connection is made.
    pub(crate) local: (IpAddr, u16),
    pub(crate) remote: (IpAddr, u16),
    pub(crate) clock: Clock,
}

/// What the peer sends.
pub(crate) struct TcpInput {
    /// The stream and its end: `None` once handed out (`receive`).
    stream: Option<(StreamReader<u8>, End)>,
    /// How the input ended, once it has: `Ok` for the peer's FIN.
    ended: Option<Result<(), Error>>,
    clock: Clock,
}

/// What we send.
pub(crate) struct TcpOutput {
    /// `None` after `shutdown-output`.
    stream: Option<StreamWriter<u8>>,
    /// How sending ended; resolves when the output stream is closed, or sending failed.
    end: Option<End>,
    /// Why sending failed, once it has: every later write fails the same way.
    failure: Option<Error>,
    clock: Clock,
}

impl TcpConnection {
    /// Connect, giving up with `timed-out` at `deadline`.
    pub(crate) async fn connect_by(remote: SocketAddr, deadline: Deadline) -> Result<Self, Error> {
        let socket = TcpSocket::create(family(remote)).map_err(from_code)?;
        match deadline
            .within_deadline(socket.connect(socket_address(remote)))
            .await
        {
            None => Err(timed_out()),
            Some(Err(code)) => Err(from_code(code)),
            Some(Ok(())) => TcpConnection::new(socket),
        }
    }

    /// A connected (or accepted) socket, with its streams set up.
    pub(crate) fn new(socket: TcpSocket) -> Result<Self, Error> {
        // An accepted peer that is already gone has no address any more (ENOTCONN).
        let gone = |code| match code {
            ErrorCode::InvalidState => Error::io(
                IoKind::ConnectionReset,
                "The peer went away before it was accepted [ENOTCONN]",
            ),
            code => from_code(code),
        };
        let local = socket.get_local_address().map_err(gone)?;
        let remote = socket.get_remote_address().map_err(gone)?;
        let input = socket.receive();
        let (output, sent) = wit_stream::new::<u8>();
        let output_end = socket.send(sent);
        let clock = Clock::default();
        Ok(TcpConnection {
            input: TcpInput {
                stream: Some((input.0, End::Tcp(input.1))),
                ended: None,
                clock: clock.clone(),
            },
            output: TcpOutput {
                stream: Some(output),
                end: Some(End::Tcp(output_end)),
                failure: None,
                clock: clock.clone(),
            },
            socket,
            local: address_of(local),
            remote: address_of(remote),
            clock,
        })
    }
}

impl TcpInput {
    /// The input stream and its end, for `receive`; `None` once handed out.
    pub(crate) fn take(&mut self) -> Option<(StreamReader<u8>, End)> {
        self.stream.take()
    }

    /// Whether TLS may start over this input: TCP's stream, not handed out, not ended.
    #[cfg(feature = "tls")]
    pub(crate) fn can_start_tls(&self) -> Result<(), Error> {
        match &self.stream {
            Some((_, End::Tls(_))) => Err(Error::Value("TLS is already on".into())),
            Some((_, End::Tcp(_))) if self.ended.is_none() => Ok(()),
            _ => Err(Error::io(
                IoKind::Closed,
                "TLS: the connection's input has ended or was handed out",
            )),
        }
    }

    /// TCP's stream and its end, for the TLS handshake.
    #[cfg(feature = "tls")]
    pub(crate) fn take_tcp(&mut self) -> Result<(StreamReader<u8>, TcpEnd), Error> {
        self.can_start_tls()?;
        match self.stream.take() {
            Some((stream, End::Tcp(end))) => Ok((stream, end)),
            _ => Err(Error::closed()),
        }
    }

    /// Go on over `stream` (TLS's cleartext), which ends as `end` says.
    #[cfg(feature = "tls")]
    pub(crate) fn over(&mut self, stream: StreamReader<u8>, end: End) {
        self.stream = Some((stream, end));
    }

    /// How the input ended: the end future's answer (once), within `deadline`.
    async fn ended(&mut self, deadline: Deadline) -> Result<Vec<u8>, Error> {
        if let Some(end) = &self.ended {
            return end.clone().map(|()| Vec::new());
        }
        let Some((_, end)) = self.stream.take() else {
            return Err(Error::closed());
        };
        let outcome = match deadline.within_deadline(end.outcome()).await {
            None => return Err(timed_out()),
            Some(outcome) => outcome,
        };
        self.ended = Some(outcome.clone());
        outcome.map(|()| Vec::new())
    }

    /// Read at most `max` bytes by `deadline`; empty at the end of the stream.
    pub(crate) async fn read_by(
        &mut self,
        max: usize,
        deadline: Deadline,
    ) -> Result<Vec<u8>, Error> {
        if self.ended.is_some() {
            return self.ended(deadline).await;
        }
        let Some((reader, _)) = self.stream.as_mut() else {
            return Err(Error::closed());
        };
        let mut buffer = Vec::new();
        buffer
            .try_reserve_exact(max)
            .map_err(|_| Error::out_of_memory())?;
        let (result, buffer) = {
            let mut read = pin!(reader.read(buffer));
            match deadline.race(read.as_mut()).await {
                Some(done) => done,
                None => read.cancel(),
            }
        };
        match result {
            StreamResult::Complete(_) if !buffer.is_empty() => Ok(buffer),
            StreamResult::Complete(_) | StreamResult::Cancelled => Err(timed_out()),
            StreamResult::Dropped => self.ended(deadline).await,
        }
    }
}

impl TcpOutput {
    /// Whether TLS may start over this output: TCP's stream, not shut down, not failed.
    #[cfg(feature = "tls")]
    pub(crate) fn can_start_tls(&self) -> Result<(), Error> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        match (&self.stream, &self.end) {
            (_, Some(End::Tls(_))) => Err(Error::Value("TLS is already on".into())),
            (Some(_), _) => Ok(()),
            (None, _) => Err(Error::io(IoKind::Closed, "Socket output is shut down")),
        }
    }

    /// TCP's stream and its end, for the TLS handshake.
    #[cfg(feature = "tls")]
    pub(crate) fn take_tcp(&mut self) -> Result<(StreamWriter<u8>, Option<TcpEnd>), Error> {
        self.can_start_tls()?;
        let stream = self.stream.take().ok_or_else(Error::closed)?;
        let end = match self.end.take() {
            Some(End::Tcp(end)) => Some(end),
            _ => None,
        };
        Ok((stream, end))
    }

    /// Go on over `stream` (TLS's cleartext), which ends as `end` says.
    #[cfg(feature = "tls")]
    pub(crate) fn over(&mut self, stream: StreamWriter<u8>, end: End) {
        self.stream = Some(stream);
        self.end = Some(end);
    }

    /// Why sending stopped: the send future's answer, within `deadline`.
    async fn failed(&mut self, deadline: Deadline) -> Error {
        let Some(end) = self.end.take() else {
            return Error::io(IoKind::ConnectionReset, "Broken pipe [EPIPE]");
        };
        match deadline.within_deadline(end.outcome()).await {
            None => timed_out(),
            Some(Err(e)) => e,
            Some(Ok(())) => Error::io(IoKind::ConnectionReset, "Broken pipe [EPIPE]"),
        }
    }

    /// Hand all of `data` to the host without copying it, each wait bounded as `set-timeout`
    /// and `set-deadline` say: `send`'s bulk path. Returns `data`'s storage, emptied, for the
    /// next chunk; when it fails, what `data` still held was not sent and is dropped (as
    /// `send`'s contract says).
    pub(crate) async fn write_all_owned(&mut self, data: Vec<u8>) -> (Result<(), Error>, Vec<u8>) {
        if let Some(failure) = &self.failure {
            return (Err(failure.clone()), data);
        }
        let Some(writer) = self.stream.as_mut() else {
            return (
                Err(Error::io(IoKind::Closed, "Socket output is shut down")),
                data,
            );
        };
        let mut first = Some(data);
        let mut pending = None;
        let deadline = loop {
            let deadline = self.clock.limit();
            let write = match pending.take() {
                Some(rest) => writer.write_buf(rest),
                None => writer.write(first.take().unwrap_or_default()),
            };
            let (result, rest) = {
                let mut write = pin!(write);
                match deadline.race(write.as_mut()).await {
                    Some(done) => done,
                    None => write.cancel(),
                }
            };
            match result {
                StreamResult::Complete(_) if rest.remaining() == 0 => {
                    let mut storage = rest.into_vec();
                    storage.clear();
                    return (Ok(()), storage);
                }
                StreamResult::Complete(n) if n > 0 => pending = Some(rest),
                StreamResult::Complete(_) | StreamResult::Cancelled => {
                    return (Err(timed_out()), Vec::new());
                }
                StreamResult::Dropped => break deadline,
            }
        };
        self.stream = None;
        let failure = self.failed(deadline).await;
        self.failure = Some(failure.clone());
        (Err(failure), Vec::new())
    }

    /// Hand the first bytes of `data` to the host by `deadline`; how many it took.
    async fn write_by(&mut self, data: &[u8], deadline: Deadline) -> Result<usize, Error> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let Some(writer) = self.stream.as_mut() else {
            return Err(Error::io(IoKind::Closed, "Socket output is shut down"));
        };
        let (result, _) = {
            let mut write = pin!(writer.write(data.to_vec()));
            match deadline.race(write.as_mut()).await {
                Some(done) => done,
                None => write.cancel(),
            }
        };
        match result {
            StreamResult::Complete(n) if n > 0 => Ok(n),
            StreamResult::Complete(_) | StreamResult::Cancelled => Err(timed_out()),
            StreamResult::Dropped => {
                self.stream = None;
                let failure = self.failed(deadline).await;
                self.failure = Some(failure.clone());
                Err(failure)
            }
        }
    }
}

impl Reading for TcpInput {
    async fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        self.read_by(max, self.clock.limit()).await
    }
}

impl Writing for TcpOutput {
    async fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.write_by(data, self.clock.limit()).await
    }

    /// A write completes when the host has written the bytes to the socket: nothing waits.
    async fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Closing the output stream is WASI 0.3's half-close: the host sends FIN once every
    /// byte has gone, and then the send's end says how it went.
    async fn shutdown_output(&mut self) -> Result<(), Error> {
        drop(self.stream.take());
        let Some(end) = self.end.take() else {
            return Ok(());
        };
        match self.clock.limit().within_deadline(end.outcome()).await {
            None => Err(timed_out()),
            Some(outcome) => outcome,
        }
    }
}

/// The whole connection, for the core's own TCP requests (DNS over TCP).
impl Reading for TcpConnection {
    async fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        self.input.read(max).await
    }
}

impl Writing for TcpConnection {
    async fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.output.write(data).await
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.output.flush().await
    }

    async fn shutdown_output(&mut self) -> Result<(), Error> {
        self.output.shutdown_output().await
    }
}

impl Transport for TcpConnection {
    fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.clock.set_timeout(timeout);
    }

    fn set_deadline(&mut self, within: Option<Duration>) {
        self.clock.set_deadline(within);
    }
}

/// A listening TCP socket and the stream of the connections it accepts.
pub(crate) struct TcpListener {
    incoming: StreamReader<TcpSocket>,
    _socket: TcpSocket,
}

impl TcpListener {
    /// Bind `address` and listen; its local address.
    pub(crate) fn bind(address: SocketAddr) -> Result<(Self, (IpAddr, u16)), Error> {
        let socket = TcpSocket::create(family(address)).map_err(from_code)?;
        socket.bind(socket_address(address)).map_err(from_code)?;
        let incoming = socket.listen().map_err(from_code)?;
        let local = address_of(socket.get_local_address().map_err(from_code)?);
        Ok((
            TcpListener {
                incoming,
                _socket: socket,
            },
            local,
        ))
    }

    /// The next connection.
    pub(crate) async fn accept(&mut self) -> Result<TcpConnection, Error> {
        match self.incoming.next().await {
            Some(socket) => TcpConnection::new(socket),
            None => Err(Error::io(IoKind::Other, "The host stopped listening")),
        }
    }
}

/// Send `query` to `server` over UDP and return the first datagram from it that `accept`
/// takes, or `None` if none came by `deadline`.
pub(crate) async fn udp_exchange(
    server: SocketAddrV4,
    query: &[u8],
    deadline: Deadline,
    mut accept: impl FnMut(&[u8]) -> bool,
) -> Result<Option<Vec<u8>>, Error> {
    let socket = UdpSocket::create(IpAddressFamily::Ipv4).map_err(from_code)?;
    let anywhere = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    socket
        .bind(socket_address(anywhere.into()))
        .map_err(from_code)?;
    let send = socket.send(query.to_vec(), Some(socket_address(server.into())));
    match deadline.within_deadline(send).await {
        None => return Ok(None),
        Some(result) => result.map_err(from_code)?,
    }
    loop {
        match deadline.within_deadline(socket.receive()).await {
            None => return Ok(None),
            Some(Err(code)) => return Err(from_code(code)),
            Some(Ok((data, from))) => {
                let (ip, port) = address_of(from);
                if ip == IpAddr::V4(*server.ip()) && port == server.port() && accept(&data) {
                    return Ok(Some(data));
                }
            }
        }
    }
}
