//! Every call of `wasi:sockets`: connected and listening TCP sockets of both families and their `wasi:io`
//! streams, a UDP exchange, a TCP request, and name lookup, with the deadlines of each wait.
//!
//! Three WASI 0.2 rules shape it (checked against wasmtime 48): an empty non-blocking
//! read means "not yet" and `closed` means the end of the stream; writes go through
//! `check-write`/`write` (the `blocking-*` calls trap on large buffers or repeated spurious
//! wakeups); child resources are dropped before their parents.

use std::cell::OnceCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::tcp::{ShutdownType, TcpSocket};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;
use wasip2::sockets::udp::OutgoingDatagram;
use wasip2::sockets::udp_create_socket::create_udp_socket;

use super::wasi_error as error;
use crate::error::{Error, IoKind};
use crate::stream::{Reading, Transport, Writing};

/// A connected socket and its two streams.
pub(crate) struct TcpConnection {
    // Declaration order is drop order, and WASI traps when a parent resource is dropped
    // before its children: pollables before their streams, streams before their socket.
    // The pollables are made on the first wait: many connections never wait.
    readable: OnceCell<Pollable>,
    writable: OnceCell<Pollable>,
    input: InputStream,
    output: OutputStream,
    /// After `start-tls`: the host's TLS connection, parent of `input` and `output` (then
    /// TLS streams). The TCP streams went to the host with the handshake.
    #[cfg(feature = "tls")]
    tls: Option<super::tls::ClientConnection>,
    socket: TcpSocket,
    /// The peer's address, known when the connection is made: asked of the host later, it
    /// would fail once the peer has reset the connection (ENOTCONN).
    remote: SocketAddr,
    /// How long one wait for the network may last (`set-timeout`); `None`: forever.
    timeout: Option<Duration>,
    /// No wait may end later than this (`set-deadline`).
    until: Deadline,
    /// Bytes the next `write` may take without asking: what the last `check-write` granted,
    /// when no write has used it yet (WASI grants a `check-write`'s permit to the write after
    /// it). A flush ends with a `check-write`, so the write after a flush asks nothing.
    permit: usize,
    /// The last read found nothing and had to wait: the next one waits before it reads. A
    /// reply is hardly ever there before it is asked for.
    waited: bool,
}

/// A point in time after which a wait gives up; `None` waits forever.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<monotonic_clock::Instant>);

impl Deadline {
    pub(crate) const NEVER: Deadline = Deadline(None);

    /// `after(wait)`, or never for no wait.
    pub(crate) fn within(wait: Option<Duration>) -> Self {
        wait.map_or(Deadline::NEVER, Deadline::after)
    }

    pub(crate) fn after(wait: Duration) -> Self {
        let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        Deadline(Some(monotonic_clock::now().saturating_add(nanos)))
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

    /// Block until `ready` is ready (true) or the deadline passes (false).
    pub(crate) fn wait(self, ready: &Pollable) -> bool {
        let Some(when) = self.0 else {
            ready.block();
            return true;
        };
        if ready.ready() {
            return true;
        }
        let timer = monotonic_clock::subscribe_instant(when);
        poll(&[ready, &timer]).contains(&0)
    }
}

fn timed_out() -> Error {
    Error::io(IoKind::TimedOut, "Operation timed out [ETIMEDOUT]")
}

/// `address` as WASI writes it.
fn socket_address(address: SocketAddr) -> IpSocketAddress {
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

/// A connection attempt in flight: a socket whose connect has started.
pub(crate) struct Attempt {
    // The pollable is the socket's child: declared first, dropped first.
    connected: Pollable,
    socket: TcpSocket,
    remote: SocketAddr,
}

impl Attempt {
    /// Start connecting to `remote`, on a fresh socket.
    pub(crate) fn start(remote: SocketAddr) -> Result<Self, Error> {
        let network = instance_network();
        let socket = create_tcp_socket(family(remote)).map_err(out_of_descriptors)?;
        socket
            .start_connect(&network, socket_address(remote))
            .map_err(error::from_code)?;
        Ok(Attempt {
            connected: socket.subscribe(),
            socket,
            remote,
        })
    }

    /// Wait until one of `attempts` has connected or failed, or `until` passes (`None`). The
    /// settled attempt leaves the list.
    pub(crate) fn settle(
        attempts: &mut Vec<Attempt>,
        until: Deadline,
    ) -> Option<Result<TcpConnection, Error>> {
        loop {
            let timer = until.0.map(monotonic_clock::subscribe_instant);
            let mut waiting: Vec<&Pollable> = attempts.iter().map(|a| &a.connected).collect();
            waiting.extend(timer.as_ref());
            let ready = poll(&waiting);
            drop(waiting);
            for index in ready.into_iter().rev() {
                let Some(attempt) = attempts.get(index as usize) else {
                    continue; // the timer
                };
                match attempt.socket.finish_connect() {
                    // A pollable may wake early.
                    Err(ErrorCode::WouldBlock) => {}
                    Err(code) => {
                        attempts.remove(index as usize);
                        return Some(Err(error::from_code(code)));
                    }
                    Ok((input, output)) => {
                        let Attempt {
                            connected,
                            socket,
                            remote,
                        } = attempts.remove(index as usize);
                        drop(connected);
                        return Some(Ok(TcpConnection::from_parts(socket, input, output, remote)));
                    }
                }
            }
            if until.passed() {
                return None;
            }
        }
    }
}

impl TcpConnection {
    /// Connect, giving up with `timed-out` at `deadline`. A socket can try to connect only
    /// once, so each attempt gets a fresh one.
    pub(crate) fn connect_by(remote: SocketAddr, deadline: Deadline) -> Result<Self, Error> {
        let network = instance_network();
        let socket = create_tcp_socket(family(remote)).map_err(out_of_descriptors)?;
        socket
            .start_connect(&network, socket_address(remote))
            .map_err(error::from_code)?;
        let (input, output) = {
            let connected = socket.subscribe();
            // Wait first: a connect is hardly ever done as it starts, so finishing it at
            // once would cost a call; waiting on a ready pollable costs almost nothing.
            loop {
                if !deadline.wait(&connected) {
                    return Err(timed_out());
                }
                match socket.finish_connect() {
                    Ok(streams) => break streams,
                    // A pollable may wake early: wait again until it is really done.
                    Err(ErrorCode::WouldBlock) => {}
                    Err(code) => return Err(error::from_code(code)),
                }
            }
        };
        Ok(TcpConnection::from_parts(socket, input, output, remote))
    }

    /// A connection from its parts (a connect's or a listener's accept).
    fn from_parts(
        socket: TcpSocket,
        input: InputStream,
        output: OutputStream,
        remote: SocketAddr,
    ) -> Self {
        TcpConnection {
            readable: OnceCell::new(),
            writable: OnceCell::new(),
            input,
            output,
            #[cfg(feature = "tls")]
            tls: None,
            socket,
            remote,
            timeout: None,
            until: Deadline::NEVER,
            permit: 0,
            waited: false,
        }
    }

    /// Whether `start-tls` made this a TLS connection.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The TLS client handshake over this connection's streams, within its timeout; the
    /// connection goes on over the TLS streams. On failure the streams are gone (the host
    /// took them for the handshake) and so is the connection.
    #[cfg(feature = "tls")]
    pub(crate) fn start_tls(self, server_name: &str) -> Result<Self, Error> {
        let (remote, timeout, until) = (self.remote, self.timeout, self.until);
        let deadline = self.limit();
        // The streams the handshake takes over, without our pollables (their children).
        let (input, output, socket) = self.into_parts();
        let (tls, input, output) = super::tls::handshake(server_name, input, output, deadline)?;
        Ok(TcpConnection {
            tls: Some(tls),
            timeout,
            until,
            ..TcpConnection::from_parts(socket, input, output, remote)
        })
    }

    /// The connection's TCP streams and socket, for `detach` and the TLS handshake. Our
    /// pollables are children of the streams, so they go first: the new owner could not drop
    /// a stream while they live.
    pub(crate) fn into_parts(self) -> (InputStream, OutputStream, TcpSocket) {
        debug_assert!(
            !self.is_tls(),
            "the streams of a TLS connection are not TCP's"
        );
        let TcpConnection {
            readable,
            writable,
            input,
            output,
            socket,
            ..
        } = self;
        drop(readable);
        drop(writable);
        (input, output, socket)
    }

    pub(crate) fn local_address(&self) -> Result<(IpAddr, u16), Error> {
        address_of(self.socket.local_address())
    }

    pub(crate) fn remote_address(&self) -> (IpAddr, u16) {
        (self.remote.ip(), self.remote.port())
    }

    /// Wait until the output stream can take more bytes; returns how many, and keeps them as
    /// the next write's permit.
    fn writable_bytes(&mut self, deadline: Deadline) -> Result<usize, Error> {
        if self.permit > 0 {
            return Ok(self.permit);
        }
        loop {
            match self.output.check_write() {
                Ok(0) => {
                    if !deadline.wait(self.writable.get_or_init(|| self.output.subscribe())) {
                        return Err(timed_out());
                    }
                }
                Ok(n) => {
                    self.permit = usize::try_from(n).unwrap_or(usize::MAX);
                    return Ok(self.permit);
                }
                Err(e) => return Err(write_failed(e)),
            }
        }
    }

    /// Hand the first bytes of `data` over, as many as the stream takes now (waiting for
    /// room within `deadline`); returns how many.
    fn write_some_by(&mut self, data: &[u8], deadline: Deadline) -> Result<usize, Error> {
        let n = self.writable_bytes(deadline)?.min(data.len());
        // The permit is spent whatever the write's outcome.
        self.permit = 0;
        self.output.write(&data[..n]).map_err(write_failed)?;
        Ok(n)
    }

    /// Wait until every byte handed over has gone, within `deadline`.
    fn flush_by(&mut self, deadline: Deadline) -> Result<(), Error> {
        self.permit = 0;
        self.output.flush().map_err(write_failed)?;
        self.writable_bytes(deadline).map(drop)
    }
}

impl TcpConnection {
    /// [`Transport::read`], giving up with `timed-out` at `deadline`.
    pub(crate) fn read_by(&mut self, max: usize, deadline: Deadline) -> Result<Vec<u8>, Error> {
        // Under jco each stream call is a trip to preview2-shim's I/O thread: waiting first
        // when the last read had to wait saves the read that would find nothing.
        if self.waited && !self.wait_readable(deadline) {
            return Err(timed_out());
        }
        self.waited = false;
        loop {
            match self.input.read(max as u64) {
                Ok(bytes) if bytes.is_empty() => {
                    self.waited = true;
                    if !self.wait_readable(deadline) {
                        return Err(timed_out());
                    }
                }
                Ok(bytes) => return Ok(bytes),
                Err(StreamError::Closed) => return Ok(Vec::new()),
                Err(StreamError::LastOperationFailed(e)) => return Err(error::from_stream(&e)),
            }
        }
    }
}

impl TcpConnection {
    /// When the wait about to start must end: `set-timeout` from now, or `set-deadline`'s
    /// instant, whichever comes first.
    fn limit(&self) -> Deadline {
        Deadline::within(self.timeout).earlier(self.until)
    }

    /// Wait until the input stream has something (or has ended); false at the deadline.
    fn wait_readable(&self, deadline: Deadline) -> bool {
        deadline.wait(self.readable.get_or_init(|| self.input.subscribe()))
    }
}

impl Reading for TcpConnection {
    async fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        self.read_by(max, self.limit())
    }
}

impl Writing for TcpConnection {
    async fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.write_some_by(data, self.limit())
    }

    /// Wait until the host has taken every byte, so a write that returns Ok has really been
    /// handed to the network and a failure shows up at the call that caused it.
    async fn flush(&mut self) -> Result<(), Error> {
        self.flush_by(self.limit())
    }

    async fn shutdown_output(&mut self) -> Result<(), Error> {
        // TLS first says it is done (close_notify), then TCP sends its FIN.
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            tls.close_output();
            self.permit = 0;
            let deadline = self.limit();
            // The TLS output stream is closing until close_notify has gone; then closed.
            loop {
                match self.output.check_write() {
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(write_failed(e)),
                    Ok(_) => {
                        if !deadline.wait(self.writable.get_or_init(|| self.output.subscribe())) {
                            return Err(timed_out());
                        }
                    }
                }
            }
        }
        self.socket
            .shutdown(ShutdownType::Send)
            .map_err(error::from_code)
    }
}

impl Transport for TcpConnection {
    fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    fn set_deadline(&mut self, within: Option<Duration>) {
        self.until = Deadline::within(within);
    }
}

/// A failed `socket(2)` or `accept(2)`. wasmtime 48 reports EMFILE and ENFILE from these as
/// `unknown` (its shared errno mapping has no case for them, though its WASI one has
/// `new-socket-limit`), and no other failure of these calls is `unknown` there: read it as
/// the descriptor limit it is. Hosts that say `new-socket-limit` get the same error.
fn out_of_descriptors(code: ErrorCode) -> Error {
    match code {
        ErrorCode::Unknown => error::from_code(ErrorCode::NewSocketLimit),
        code => error::from_code(code),
    }
}

/// A failed write: `closed` on an output stream means the peer is gone (EPIPE).
fn write_failed(e: StreamError) -> Error {
    match e {
        StreamError::Closed => Error::io(IoKind::ConnectionReset, "Broken pipe [EPIPE]"),
        StreamError::LastOperationFailed(e) => error::from_stream(&e),
    }
}

/// A socket address WASI gave, as Rust writes it.
fn address_of(address: Result<IpSocketAddress, ErrorCode>) -> Result<(IpAddr, u16), Error> {
    match address.map_err(error::from_code)? {
        IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port,
            address: (a, b, c, d),
        }) => Ok((Ipv4Addr::new(a, b, c, d).into(), port)),
        IpSocketAddress::Ipv6(Ipv6SocketAddress {
            port,
            address: (a, b, c, d, e, f, g, h),
            ..
        }) => Ok((Ipv6Addr::new(a, b, c, d, e, f, g, h).into(), port)),
    }
}

/// Alore's `LISTEN_BACKLOG`; hosts may cap it lower.
pub(crate) const LISTEN_BACKLOG: u64 = 1024;

/// A listening TCP socket.
pub(crate) struct TcpListener {
    // Declared before the socket so it is dropped first: a pollable is its socket's child.
    ready: Pollable,
    socket: TcpSocket,
}

impl TcpListener {
    /// Bind `address` (port 0: any free port) and listen.
    pub(crate) fn bind(address: SocketAddr) -> Result<Self, Error> {
        let network = instance_network();
        let socket = create_tcp_socket(family(address)).map_err(out_of_descriptors)?;
        let ready = socket.subscribe();
        socket
            .start_bind(&network, socket_address(address))
            .map_err(error::from_code)?;
        finish(&ready, || socket.finish_bind()).map_err(error::from_code)?;
        // Best effort, as with listen(2): a host may cap or refuse the size.
        let _ = socket.set_listen_backlog_size(LISTEN_BACKLOG);
        socket.start_listen().map_err(error::from_code)?;
        finish(&ready, || socket.finish_listen()).map_err(error::from_code)?;
        Ok(TcpListener { ready, socket })
    }

    /// Wait for the next connection. A peer that is gone by the time it is accepted (it
    /// reset the connection right after the handshake) is `connection-reset`, as the host
    /// then cannot even say who it was; the listener goes on.
    pub(crate) fn accept(&self) -> Result<TcpConnection, Error> {
        let gone = || {
            Error::io(
                IoKind::ConnectionReset,
                "Connection reset by peer before it was accepted [ECONNRESET]",
            )
        };
        let (socket, input, output) = match finish(&self.ready, || self.socket.accept()) {
            Ok(parts) => parts,
            // The listener listens, so a state error is the accepted socket's own.
            Err(ErrorCode::InvalidState) => return Err(gone()),
            Err(code) => return Err(out_of_descriptors(code)),
        };
        let remote = match address_of(socket.remote_address()) {
            Ok((ip, port)) => SocketAddr::new(ip, port),
            Err(_) => {
                // Children first: the streams go before their socket.
                drop((input, output));
                return Err(gone());
            }
        };
        Ok(TcpConnection::from_parts(socket, input, output, remote))
    }

    pub(crate) fn local_address(&self) -> Result<(IpAddr, u16), Error> {
        address_of(self.socket.local_address())
    }
}

/// Call a WASI `finish-*`/`accept` until it stops answering `would-block`.
fn finish<T>(
    ready: &Pollable,
    mut step: impl FnMut() -> Result<T, ErrorCode>,
) -> Result<T, ErrorCode> {
    loop {
        match step() {
            Err(ErrorCode::WouldBlock) => ready.block(),
            result => return result,
        }
    }
}

/// The most datagrams taken from the host in one receive call.
const DATAGRAMS_PER_RECEIVE: u64 = 8;

/// Send `query` to `server` over UDP and return the first datagram from it that `accept`
/// takes, or `None` if none came by `deadline`. Datagrams `accept` refuses (a wrong ID, a
/// wrong question) are ignored.
pub(crate) fn udp_exchange(
    server: SocketAddrV4,
    query: &[u8],
    deadline: Deadline,
    mut accept: impl FnMut(&[u8]) -> bool,
) -> Result<Option<Vec<u8>>, Error> {
    let network = instance_network();
    let socket = create_udp_socket(IpAddressFamily::Ipv4).map_err(out_of_descriptors)?;
    let anywhere = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    socket
        .start_bind(&network, socket_address(anywhere.into()))
        .map_err(error::from_code)?;
    socket.finish_bind().map_err(error::from_code)?;
    let (incoming, outgoing) = socket
        .stream(Some(socket_address(server.into())))
        .map_err(error::from_code)?;
    // Declared after the streams, so dropped before them: pollables are their children.
    let sendable = outgoing.subscribe();
    let received = incoming.subscribe();
    while outgoing.check_send().map_err(error::from_code)? == 0 {
        if !deadline.wait(&sendable) {
            return Ok(None);
        }
    }
    let datagram = OutgoingDatagram {
        data: query.to_vec(),
        remote_address: None,
    };
    outgoing
        .send(std::slice::from_ref(&datagram))
        .map_err(error::from_code)?;
    loop {
        let datagrams = incoming
            .receive(DATAGRAMS_PER_RECEIVE)
            .map_err(error::from_code)?;
        if let Some(answer) = datagrams.into_iter().find(|d| accept(&d.data)) {
            return Ok(Some(answer.data));
        }
        if !deadline.wait(&received) {
            return Ok(None);
        }
    }
}

/// The resolver's answers for `name`; [`ErrorCode::Timeout`] when `deadline` passes first.
pub(crate) fn resolve(name: &str, deadline: Deadline) -> Result<Vec<IpAddress>, ErrorCode> {
    let network = instance_network();
    let stream = resolve_addresses(&network, name)?;
    // Declared after `stream`, so dropped before it: a pollable is its stream's child.
    let ready = stream.subscribe();
    let mut addresses = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(address)) => addresses.push(address),
            Ok(None) => return Ok(addresses),
            Err(ErrorCode::WouldBlock) => {
                if !deadline.wait(&ready) {
                    return Err(ErrorCode::Timeout);
                }
            }
            Err(code) => return Err(code),
        }
    }
}
