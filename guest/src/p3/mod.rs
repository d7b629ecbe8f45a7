//! The WASI 0.3 edition (`alore:socket@0.2.0`): the WIT exports (`wit-p3/socket.wit`) mapped
//! onto the core, over `wasi:sockets@0.3.0` (`net`). Glue only: behaviour lives in the core
//! (`crate::stream`, `crate::connect`, `crate::names`), as in the WASI 0.2 edition.
//!
//! Every export that may wait is async, so the instance runs many calls at once: calls on
//! different sockets interleave at their waits; on one socket a read and a write run at once,
//! and two reads (or two writes) take turns (`turns`).

mod net;
#[cfg(feature = "tls")]
mod tls;
mod turns;
mod wasi_error;

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use alore_socket_rules::ETC_DIR;
#[cfg(not(feature = "tls"))]
use alore_socket_rules::{TLS_DENIED, TLS_ENV};
use wit_bindgen::rt::async_support::StreamReader;

use crate::error::{Error, IoKind};
use crate::stream::{Buffering, Input, Output};
use crate::sys::Sys;
use crate::{connect, names};
use net::{Clock, Deadline, TcpConnection, TcpInput, TcpListener, TcpOutput};
use turns::Turns;
use wasi::sockets::types::TcpSocket;

#[cfg(not(feature = "tls"))]
wit_bindgen::generate!({
    path: "wit-p3",
    world: "provider-p3",
    generate_all,
});

#[cfg(feature = "tls")]
wit_bindgen::generate!({
    path: "wit-p3",
    world: "provider-p3-tls",
    generate_all,
});

use exports::alore::socket::server_socket as server_api;
use exports::alore::socket::socket as api;

struct Component;

// The export names are valid only in a wasm component; a native build could not link them.
#[cfg(target_arch = "wasm32")]
export!(Component);

/// The largest piece `send` moves from the caller's stream at a time: what the host's TCP
/// stream takes in one write.
const SEND_CHUNK: usize = 64 * 1024;

impl api::Guest for Component {
    type Socket = Socket;

    async fn get_host_by_name(name: String) -> Result<String, api::Error> {
        Ok(settled(names::host_by_name::<P3>(&name)).await?)
    }

    async fn get_host_addresses(name: String) -> Result<Vec<String>, api::Error> {
        Ok(settled(names::host_addresses::<P3>(&name)).await?)
    }

    async fn get_host_by_address(address: String) -> Result<String, api::Error> {
        Ok(settled(names::host_by_address::<P3>(&address)).await?)
    }

    async fn get_host_name() -> Result<String, api::Error> {
        Ok(settled(names::host_name::<P3>()).await?)
    }
}

/// The exported `socket` resource. Its two halves are held apart, each taking calls in turn:
/// one read and one write may be in flight together (full duplex), while a second read waits
/// for the first (docs/contract-0.2.md, "Concurrency").
pub(crate) struct Socket {
    /// The input half and its rules; `None` once closed.
    input: Turns<Option<(Input, TcpInput)>>,
    /// The output half and its rules; `None` once closed.
    output: Turns<Option<(Output, TcpOutput)>>,
    /// The halves' shared limits on waiting: set without waiting for either half.
    clock: Clock,
    /// Both ends' addresses, known from the start: asked for without waiting for a turn.
    local: (IpAddr, u16),
    remote: (IpAddr, u16),
    /// `close` was called (or a read to the end closed the socket): every call after it
    /// fails with `closed`, and a read in flight drops the input half when it ends.
    closed: Cell<bool>,
    /// The host name it was connected to: `start-tls`'s default server name.
    name: Option<String>,
    /// The socket that owns both halves' streams; dropped after them.
    _socket: TcpSocket,
}

impl Socket {
    fn new(
        connection: TcpConnection,
        buffering: Option<api::Buffering>,
        name: Option<String>,
    ) -> Self {
        let mode = mode(buffering);
        let TcpConnection {
            input,
            output,
            socket,
            local,
            remote,
            clock,
        } = connection;
        Socket {
            input: Turns::new(Some((Input::new(mode), input))),
            output: Turns::new(Some((Output::new(mode), output))),
            clock,
            local,
            remote,
            closed: Cell::new(false),
            name,
            _socket: socket,
        }
    }

    /// Run a read of the core on the input half, in its turn.
    async fn reading<R>(
        &self,
        f: impl AsyncFnOnce(&mut Input, &mut TcpInput) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut turn = self.input.turn().await;
        if self.closed.get() {
            *turn = None;
        }
        let (input, transport) = turn.as_mut().ok_or_else(Error::closed)?;
        let result = f(input, transport).await;
        if self.closed.get() {
            // Closed while this read waited: the input goes now (the peer sees it, SHUT_RD).
            *turn = None;
        }
        result
    }

    /// Run a write of the core on the output half, in its turn.
    async fn writing<R>(
        &self,
        f: impl AsyncFnOnce(&mut Output, &mut TcpOutput) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut turn = self.output.turn().await;
        let (output, transport) = turn.as_mut().ok_or_else(Error::closed)?;
        f(output, transport).await
    }

    /// Flush, then release both halves even if the flush failed; a second close does
    /// nothing. A read in flight is not cancelled: it ends as it would have, and drops the
    /// input half then (`reading`).
    async fn close(&self) -> Result<(), Error> {
        if self.closed.replace(true) {
            return Ok(());
        }
        let flushed = {
            let mut turn = self.output.turn().await;
            let flushed = match turn.as_mut() {
                Some((output, transport)) => output.close(transport).await,
                None => Ok(()),
            };
            *turn = None;
            flushed
        };
        if let Some(mut input) = self.input.now() {
            *input = None;
        }
        flushed
    }

    /// `start-tls`: with both halves, once a read and a write in flight have ended. Refused,
    /// changing nothing, when TLS is on already, the name is not one, or received bytes are
    /// unread; a handshake that fails closes the socket.
    async fn upgrade(&self, server_name: Option<String>) -> Result<(), Error> {
        let mut input = self.input.turn().await;
        let mut output = self.output.turn().await;
        if self.closed.get() {
            return Err(Error::closed());
        }
        let (Some((i, ti)), Some((o, to))) = (input.as_mut(), output.as_mut()) else {
            return Err(Error::closed());
        };
        #[cfg(feature = "tls")]
        if let Err(e @ Error::Value(_)) = ti.can_start_tls().and(to.can_start_tls()) {
            return Err(e);
        }
        let name = names::server_name(server_name, self.name.as_deref())?;
        #[cfg(not(feature = "tls"))]
        {
            let _ = (i, ti, o, to, name);
            let message = if P3::env(TLS_ENV).is_some_and(|v| v == TLS_DENIED) {
                "TLS: not allowed by the host's policy"
            } else {
                "TLS: not available in this build (the TLS build is alore_socket_p3_tls.wasm)"
            };
            Err(Error::io(IoKind::Other, message))
        }
        #[cfg(feature = "tls")]
        {
            o.writable()?;
            i.before_upgrade()?;
            o.flush(to).await?;
            let started = tls::start(ti, to, &name, self.clock.limit()).await;
            if started.is_err() {
                self.closed.set(true);
                *input = None;
                *output = None;
            }
            started
        }
    }

    /// A call that needs neither half: `closed` once the socket is.
    fn known<R>(&self, value: R) -> Result<R, api::Error> {
        if self.closed.get() {
            return Err(Error::closed().into());
        }
        Ok(value)
    }
}

/// Run an export's work, and make sure the export's task has waited at least once before it
/// returns. wasmtime 48 leaks an entry of the store's concurrency table for every call from
/// another component to an async export that returns without ever waiting (a million calls
/// fill the table, and the instance traps; tested by `tests/e2e/p3.rs`); a task that waited
/// is cleaned up. So a call that would return at once yields first: one trip through the
/// host's event loop, paid only by calls that had nothing to wait for.
async fn settled<F: Future>(work: F) -> F::Output {
    let mut waited = false;
    let out = {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            let polled = work.as_mut().poll(cx);
            waited |= polled.is_pending();
            polled
        })
        .await
    };
    if !waited {
        wit_bindgen::yield_async().await;
    }
    out
}

/// The buffering mode a caller asked for; unbuffered by default.
fn mode(buffering: Option<api::Buffering>) -> Buffering {
    match buffering.unwrap_or(api::Buffering::Unbuffered) {
        api::Buffering::Unbuffered => Buffering::Unbuffered,
        api::Buffering::LineBuffered => Buffering::LineBuffered,
        api::Buffering::Buffered => Buffering::Buffered,
    }
}

fn millis(ms: Option<u32>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(ms.into()))
}

impl api::GuestSocket for Socket {
    async fn connect(
        destination: String,
        port: u16,
        options: api::ConnectOptions,
    ) -> Result<api::Socket, api::Error> {
        let deadline = P3::within(millis(options.timeout_ms));
        let connection = settled(connect::connect::<P3>(&destination, port, deadline)).await?;
        let name = names::name_of_destination(destination);
        Ok(api::Socket::new(Socket::new(
            connection,
            options.buffering,
            name,
        )))
    }

    async fn set_timeout(&self, ms: Option<u32>) -> Result<(), api::Error> {
        self.known(())?;
        self.clock.set_timeout(millis(ms));
        Ok(())
    }

    async fn set_deadline(&self, ms: Option<u32>) -> Result<(), api::Error> {
        self.known(())?;
        self.clock.set_deadline(millis(ms));
        Ok(())
    }

    async fn set_max_line_length(&self, bytes: u32) -> Result<(), api::Error> {
        let set = async |input: &mut Input, _: &mut TcpInput| input.set_max_line_length(bytes);
        Ok(settled(self.reading(set)).await?)
    }

    async fn shutdown_output(&self) -> Result<(), api::Error> {
        Ok(settled(self.writing(async |o, t| o.shutdown_output(t).await)).await?)
    }

    async fn write(&self, data: Vec<u8>) -> Result<(), api::Error> {
        Ok(settled(self.writing(async |o, t| o.write(t, &data).await)).await?)
    }

    async fn write_ln(&self, data: Vec<u8>) -> Result<(), api::Error> {
        Ok(settled(self.writing(async |o, t| o.write_ln(t, &data).await)).await?)
    }

    async fn read(&self, count: Option<u32>) -> Result<Vec<u8>, api::Error> {
        settled(async {
            let read = self.reading(async |i, t| i.read(t, count).await).await?;
            if count.is_none() {
                // Read to the end: the socket closes (docs/semantics.md).
                self.close().await?;
            }
            Ok(read)
        })
        .await
    }

    async fn read_ln(&self) -> Result<Vec<u8>, api::Error> {
        Ok(settled(self.reading(async |i, t| i.read_ln(t).await)).await?)
    }

    async fn read_lines(&self) -> Result<Vec<Vec<u8>>, api::Error> {
        settled(async {
            let lines = self.reading(async |i, t| i.read_lines(t).await).await;
            // Closes also on failure (docs/semantics.md, "Lines").
            let closed = self.close().await;
            let lines = lines?;
            closed?;
            Ok(lines)
        })
        .await
    }

    async fn peek(&self) -> Result<Vec<u8>, api::Error> {
        Ok(settled(self.reading(async |i, _| i.peek())).await?)
    }

    async fn flush(&self) -> Result<(), api::Error> {
        Ok(settled(self.writing(async |o, t| o.flush(t).await)).await?)
    }

    async fn eof(&self) -> Result<bool, api::Error> {
        Ok(settled(self.reading(async |i, t| i.eof(t).await)).await?)
    }

    async fn close(&self) -> Result<(), api::Error> {
        Ok(settled(Socket::close(self)).await?)
    }

    async fn receive(&self) -> Result<api::Received, api::Error> {
        let take = async |i: &mut Input, t: &mut TcpInput| {
            let buffered = i.hand_out_input()?;
            let input = t.take().ok_or_else(Error::closed)?;
            Ok((buffered, input))
        };
        let (buffered, (rest, tcp_end)) = settled(self.reading(take)).await?;
        let (end_writer, end) = wit_future::new::<Result<(), api::Error>>(|| {
            Err(Error::io(IoKind::Other, "The connection's end was not reported").into())
        });
        // The host's end of the TCP input, in this contract's terms, once it is known.
        wit_bindgen::spawn_local(async move {
            let ended = tcp_end.outcome().await.map_err(api::Error::from);
            let _ = end_writer.write(ended).await;
        });
        Ok(api::Received {
            buffered,
            rest,
            end,
        })
    }

    async fn send(&self, mut data: StreamReader<u8>) -> Result<(), api::Error> {
        let send = async |o: &mut Output, t: &mut TcpOutput| {
            // Everything written before goes first; then the stream's bytes, straight from
            // the buffer they were read into (one buffer, reused).
            o.flush(t).await?;
            o.writable()?;
            let mut chunk = Vec::new();
            chunk
                .try_reserve_exact(SEND_CHUNK)
                .map_err(|_| Error::out_of_memory())?;
            loop {
                let (_, read) = data.read(chunk).await;
                if read.is_empty() {
                    // The writer ended the stream (or went away): all of it has been sent.
                    return Ok(());
                }
                let (sent, emptied) = t.write_all_owned(read).await;
                sent?;
                chunk = emptied;
            }
        };
        Ok(settled(self.writing(send)).await?)
    }

    async fn start_tls(&self, server_name: Option<String>) -> Result<(), api::Error> {
        Ok(settled(self.upgrade(server_name)).await?)
    }

    fn local_address(&self) -> Result<String, api::Error> {
        self.known(self.local.0.to_string())
    }

    fn local_port(&self) -> Result<u16, api::Error> {
        self.known(self.local.1)
    }

    fn remote_address(&self) -> Result<String, api::Error> {
        self.known(self.remote.0.to_string())
    }

    fn remote_port(&self) -> Result<u16, api::Error> {
        self.known(self.remote.1)
    }
}

impl Drop for Socket {
    /// Dropping without `close` closes the connection at once (the host sends FIN after the
    /// bytes it has) when nothing waits in the output buffer, as in the WASI 0.2 edition.
    /// Buffered bytes still go out, but a destructor runs outside any task and cannot wait
    /// (nor poll a stream write, which needs a task to wait in): that close goes on as a task
    /// of the instance, alongside its next call.
    fn drop(&mut self) {
        drop(self.input.now().and_then(|mut input| input.take()));
        match self.output.now().and_then(|mut output| output.take()) {
            // With nothing to flush, nothing waits: dropping the stream closes it.
            Some((output, transport)) if !output.has_pending_output() => drop((output, transport)),
            Some((mut output, mut transport)) => wit_bindgen::spawn_local(async move {
                let _ = output.close(&mut transport).await;
            }),
            None => {}
        }
    }
}

impl server_api::Guest for Component {
    type ServerSocket = ServerSocket;
}

/// The exported `server-socket` resource.
pub(crate) struct ServerSocket {
    /// The listener, one accept at a time; `None` once closed.
    listener: Turns<Option<TcpListener>>,
    local: (IpAddr, u16),
    closed: Cell<bool>,
    /// Set by `close` while an accept waits: that accept ends with `closed`.
    closing: RefCell<bool>,
}

impl ServerSocket {
    fn known<R>(&self, value: R) -> Result<R, api::Error> {
        if self.closed.get() {
            return Err(Error::closed().into());
        }
        Ok(value)
    }
}

impl server_api::GuestServerSocket for ServerSocket {
    fn listen(port: u16, address: Option<String>) -> Result<server_api::ServerSocket, api::Error> {
        let (listener, local) = TcpListener::bind(names::listen_address(address, port)?)?;
        Ok(server_api::ServerSocket::new(ServerSocket {
            listener: Turns::new(Some(listener)),
            local,
            closed: Cell::new(false),
            closing: RefCell::new(false),
        }))
    }

    async fn accept(&self, buffering: Option<api::Buffering>) -> Result<api::Socket, api::Error> {
        settled(async {
            let mut turn = self.listener.turn().await;
            let listener = turn.as_mut().ok_or_else(Error::closed)?;
            let connection = listener.accept().await?;
            if *self.closing.borrow() {
                *turn = None;
                return Err(Error::closed().into());
            }
            Ok(api::Socket::new(Socket::new(connection, buffering, None)))
        })
        .await
    }

    fn local_port(&self) -> Result<u16, api::Error> {
        self.known(self.local.1)
    }

    fn local_address(&self) -> Result<String, api::Error> {
        self.known(self.local.0.to_string())
    }

    fn close(&self) -> Result<(), api::Error> {
        self.closed.set(true);
        match self.listener.now() {
            Some(mut listener) => *listener = None,
            // An accept holds the listener: it stops listening when that accept returns.
            None => *self.closing.borrow_mut() = true,
        }
        Ok(())
    }
}

impl From<Error> for api::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Name(message) => api::Error::NameError(message),
            Error::Value(message) => api::Error::ValueError(message),
            Error::Io { kind, message } => api::Error::IoError(api::IoError {
                kind: match kind {
                    IoKind::ConnectionRefused => api::IoErrorKind::ConnectionRefused,
                    IoKind::ConnectionReset => api::IoErrorKind::ConnectionReset,
                    IoKind::Unreachable => api::IoErrorKind::Unreachable,
                    IoKind::TimedOut => api::IoErrorKind::TimedOut,
                    IoKind::AccessDenied => api::IoErrorKind::AccessDenied,
                    IoKind::EndOfStream => api::IoErrorKind::EndOfStream,
                    IoKind::Closed => api::IoErrorKind::Closed,
                    IoKind::LimitExceeded => api::IoErrorKind::LimitExceeded,
                    IoKind::AddressInUse => api::IoErrorKind::AddressInUse,
                    IoKind::AddressNotAvailable => api::IoErrorKind::AddressNotAvailable,
                    IoKind::Other => api::IoErrorKind::Other,
                },
                message,
            }),
        }
    }
}

/// The most of an `/etc` file read: the hosts files worth reading are far smaller.
const MAX_ETC_FILE: usize = 1 << 20;

/// This edition's system calls, for the core.
struct P3;

impl Sys for P3 {
    type Connection = TcpConnection;
    type Attempt = net::Attempt;
    type Deadline = Deadline;
    const NEVER: Deadline = Deadline::NEVER;

    fn after(wait: Duration) -> Deadline {
        Deadline::after(wait)
    }

    fn earlier(a: Deadline, b: Deadline) -> Deadline {
        a.earlier(b)
    }

    fn passed(deadline: Deadline) -> bool {
        deadline.passed()
    }

    async fn resolve(name: &str, deadline: Deadline) -> Result<Vec<IpAddr>, Error> {
        use wasi::sockets::ip_name_lookup::resolve_addresses;
        match deadline
            .within_deadline(resolve_addresses(name.to_owned()))
            .await
        {
            None => Err(wasi_error::timed_out()),
            Some(Ok(addresses)) => Ok(addresses.into_iter().map(net::ip_of).collect()),
            Some(Err(code)) => Err(wasi_error::from_lookup(code, name)),
        }
    }

    async fn connect(remote: SocketAddr, deadline: Deadline) -> Result<TcpConnection, Error> {
        TcpConnection::connect_by(remote, deadline).await
    }

    fn start(remote: SocketAddr) -> Result<net::Attempt, Error> {
        Ok(net::start(remote))
    }

    async fn settle(
        attempts: &mut Vec<net::Attempt>,
        until: Deadline,
    ) -> Option<Result<TcpConnection, Error>> {
        net::settle(attempts, until).await
    }

    async fn udp_exchange(
        server: SocketAddrV4,
        query: &[u8],
        deadline: Deadline,
        accept: impl FnMut(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, Error> {
        net::udp_exchange(server, query, deadline, accept).await
    }

    fn env(name: &str) -> Option<String> {
        wasi::cli::environment::get_environment()
            .into_iter()
            .find_map(|(key, value)| (key == name).then_some(value))
    }

    /// Through the host's `/etc` preopen, the only directory the component reads.
    async fn read_file(path: &str) -> Option<String> {
        use wasi::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
        let relative = path.strip_prefix(ETC_DIR)?.trim_start_matches('/');
        let (etc, _) = wasi::filesystem::preopens::get_directories()
            .into_iter()
            .find(|(_, name)| name == ETC_DIR)?;
        let file = etc
            .open_at(
                PathFlags::empty(),
                relative.to_owned(),
                OpenFlags::empty(),
                DescriptorFlags::READ,
            )
            .await
            .ok()?;
        let (mut bytes, _end) = file.read_via_stream(0);
        let mut text = Vec::new();
        while text.len() < MAX_ETC_FILE {
            let (_, chunk) = bytes.read(Vec::with_capacity(64 * 1024)).await;
            if chunk.is_empty() {
                break;
            }
            text.extend_from_slice(&chunk);
        }
        String::from_utf8(text).ok()
    }

    fn random_u64() -> u64 {
        wasi::random::random::get_random_u64()
    }
}
