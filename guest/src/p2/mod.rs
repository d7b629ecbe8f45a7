//! The WASI 0.2 edition (`alore:socket@0.1.3`): the WIT exports (`wit/socket.wit`) mapped
//! onto the core, over `wasi:sockets@0.2` (`net`) and `wasi:tls@0.2.0-draft` (`tls`). Glue
//! only: behaviour lives in the core (`crate::stream`, `crate::connect`, `crate::names`).

mod net;
mod tls;
mod wasi_error;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use crate::error::{Error, IoKind};
use crate::stream::{self, Buffering, Stream};
use crate::sys::Sys;
use crate::{connect, names};
use net::{Deadline, TcpConnection, TcpListener};

/// The bindings of a world of ours, whose WASI types are the `wasip2` crate's that `net` uses,
/// so a connection's streams can be handed over as they are.
macro_rules! bindings {
    ({ $($world:tt)* } $($more:tt)*) => {
        wit_bindgen::generate!({
            $($world)*
            with: {
                $($more)*
                "wasi:io/error@0.2.12": wasip2::io::error,
                "wasi:io/poll@0.2.12": wasip2::io::poll,
                "wasi:io/streams@0.2.12": wasip2::io::streams,
                "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
                "wasi:sockets/network@0.2.12": wasip2::sockets::network,
                "wasi:sockets/tcp@0.2.12": wasip2::sockets::tcp,
            },
        });
    };
}

#[cfg(not(feature = "tls"))]
bindings!({ path: "../wit", world: "provider", });

// The TLS build: the same exports, and `wasi:tls` (`guest/wit/world.wit`).
#[cfg(feature = "tls")]
bindings!(
    { path: "wit", world: "provider-tls", features: ["tls"], }
    "wasi:tls/types@0.2.0-draft": generate,
);

use exports::alore::socket::server_socket as server_api;
use exports::alore::socket::socket as api;

struct Component;

// The export names (`alore:socket/socket@0.1.3#…`) are valid only in a wasm component; a
// native build (for the core's unit tests) could not link them.
#[cfg(target_arch = "wasm32")]
export!(Component);

impl api::Guest for Component {
    type Socket = Socket;

    fn get_host_by_name(name: String) -> Result<String, api::Error> {
        Ok(run(names::host_by_name::<P2>(&name))?)
    }

    fn get_host_addresses(name: String) -> Result<Vec<String>, api::Error> {
        Ok(run(names::host_addresses::<P2>(&name))?)
    }

    fn get_host_by_address(address: String) -> Result<String, api::Error> {
        Ok(run(names::host_by_address::<P2>(&address))?)
    }

    fn get_host_name() -> Result<String, api::Error> {
        Ok(run(names::host_name::<P2>())?)
    }
}

/// The exported `socket` resource. WIT methods take `&self`; a component instance is never
/// re-entered while one of its calls runs, so the `RefCell` borrow cannot fail.
pub(crate) struct Socket {
    stream: RefCell<Stream<TcpConnection>>,
    /// The host name it was connected to: `start-tls`'s default server name. None for an
    /// address or an accepted connection.
    name: Option<String>,
}

impl Socket {
    fn new(
        connection: TcpConnection,
        buffering: Option<api::Buffering>,
        name: Option<String>,
    ) -> Self {
        Socket {
            stream: RefCell::new(Stream::new(connection, mode(buffering))),
            name,
        }
    }

    /// A connection to `destination`: the name, unless it is an address.
    fn connected(
        connection: TcpConnection,
        buffering: Option<api::Buffering>,
        destination: String,
    ) -> Self {
        Socket::new(
            connection,
            buffering,
            names::name_of_destination(destination),
        )
    }

    /// Run a call of the core on this socket's stream. The WASI 0.2 transport blocks inside
    /// each call, so the core's future is ready at its first poll.
    fn with<R>(
        &self,
        f: impl AsyncFnOnce(&mut Stream<TcpConnection>) -> Result<R, Error>,
    ) -> Result<R, api::Error> {
        let mut stream = self.stream.borrow_mut();
        Ok(run(f(&mut stream))?)
    }
}

/// The buffering mode a caller asked for; unbuffered by default.
fn mode(buffering: Option<api::Buffering>) -> Buffering {
    match buffering.unwrap_or(api::Buffering::Unbuffered) {
        api::Buffering::Unbuffered => Buffering::Unbuffered,
        api::Buffering::LineBuffered => Buffering::LineBuffered,
        api::Buffering::Buffered => Buffering::Buffered,
    }
}

impl api::GuestSocket for Socket {
    fn new(
        destination: String,
        port: u16,
        buffering: Option<api::Buffering>,
    ) -> Result<Self, api::Error> {
        let connection = run(connect::connect::<P2>(&destination, port, Deadline::NEVER))?;
        Ok(Socket::connected(connection, buffering, destination))
    }

    fn connect(
        destination: String,
        port: u16,
        options: api::ConnectOptions,
    ) -> Result<api::Socket, api::Error> {
        let wait = options
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()));
        let connection = run(connect::connect::<P2>(&destination, port, P2::within(wait)))?;
        Ok(api::Socket::new(Socket::connected(
            connection,
            options.buffering,
            destination,
        )))
    }

    fn set_timeout(&self, ms: Option<u32>) -> Result<(), api::Error> {
        self.with(async |s| s.set_timeout(ms.map(|ms| Duration::from_millis(ms.into()))))
    }

    fn set_deadline(&self, ms: Option<u32>) -> Result<(), api::Error> {
        self.with(async |s| s.set_deadline(ms.map(|ms| Duration::from_millis(ms.into()))))
    }

    fn set_max_line_length(&self, bytes: u32) -> Result<(), api::Error> {
        self.with(async |s| s.set_max_line_length(bytes))
    }

    fn shutdown_output(&self) -> Result<(), api::Error> {
        self.with(async |s| s.shutdown_output().await)
    }

    fn write(&self, data: Vec<u8>) -> Result<(), api::Error> {
        self.with(async |s| s.write(&data).await)
    }

    fn write_ln(&self, data: Vec<u8>) -> Result<(), api::Error> {
        self.with(async |s| s.write_ln(&data).await)
    }

    fn read(&self, count: Option<u32>) -> Result<Vec<u8>, api::Error> {
        self.with(async |s| s.read(count).await)
    }

    fn read_ln(&self) -> Result<Vec<u8>, api::Error> {
        self.with(async |s| s.read_ln().await)
    }

    fn read_lines(&self) -> Result<Vec<Vec<u8>>, api::Error> {
        self.with(async |s| s.read_lines().await)
    }

    fn peek(&self) -> Result<Vec<u8>, api::Error> {
        self.with(async |s| s.peek())
    }

    fn flush(&self) -> Result<(), api::Error> {
        self.with(async |s| s.flush().await)
    }

    fn eof(&self) -> Result<bool, api::Error> {
        self.with(async |s| s.eof().await)
    }

    fn close(&self) -> Result<(), api::Error> {
        self.with(async |s| s.close().await)
    }

    fn start_tls(&self, server_name: Option<String>) -> Result<(), api::Error> {
        self.with(async |s| {
            if s.transport()?.is_tls() {
                return Err(Error::Value("TLS is already on".into()));
            }
            let name = names::server_name(server_name, self.name.as_deref())?;
            #[cfg(feature = "tls")]
            return s
                .upgrade(async |connection| connection.start_tls(&name))
                .await;
            #[cfg(not(feature = "tls"))]
            {
                let _ = name;
                Err(tls::unavailable())
            }
        })
    }

    fn detach(&self) -> Result<api::Detached, api::Error> {
        let (buffered, connection) = self.with(async |s| {
            if s.transport()?.is_tls() {
                return Err(Error::Value(
                    "A TLS connection cannot be detached: its streams belong to the host's TLS \
                     connection"
                        .into(),
                ));
            }
            s.detach().await
        })?;
        let (input, output, connection) = connection.into_parts();
        Ok(api::Detached {
            buffered,
            input,
            output,
            connection,
        })
    }

    fn local_address(&self) -> Result<String, api::Error> {
        self.with(async |s| Ok(s.transport()?.local_address()?.0.to_string()))
    }

    fn local_port(&self) -> Result<u16, api::Error> {
        self.with(async |s| Ok(s.transport()?.local_address()?.1))
    }

    fn remote_address(&self) -> Result<String, api::Error> {
        self.with(async |s| Ok(s.transport()?.remote_address().0.to_string()))
    }

    fn remote_port(&self) -> Result<u16, api::Error> {
        self.with(async |s| Ok(s.transport()?.remote_address().1))
    }
}

impl server_api::Guest for Component {
    type ServerSocket = ServerSocket;
}

/// The exported `server-socket` resource; `None` once closed.
pub(crate) struct ServerSocket(RefCell<Option<TcpListener>>);

impl ServerSocket {
    fn with<R>(&self, f: impl FnOnce(&TcpListener) -> Result<R, Error>) -> Result<R, api::Error> {
        Ok(f(self.0.borrow().as_ref().ok_or_else(Error::closed)?)?)
    }
}

impl server_api::GuestServerSocket for ServerSocket {
    fn new(port: u16, address: Option<String>) -> Result<Self, api::Error> {
        let listener = TcpListener::bind(names::listen_address(address, port)?)?;
        Ok(ServerSocket(RefCell::new(Some(listener))))
    }

    fn listen(port: u16, address: Option<String>) -> Result<server_api::ServerSocket, api::Error> {
        Ok(server_api::ServerSocket::new(Self::new(port, address)?))
    }

    fn accept(&self, buffering: Option<api::Buffering>) -> Result<api::Socket, api::Error> {
        let connection = self.with(TcpListener::accept)?;
        Ok(api::Socket::new(Socket::new(connection, buffering, None)))
    }

    fn local_port(&self) -> Result<u16, api::Error> {
        self.with(|l| Ok(l.local_address()?.1))
    }

    fn local_address(&self) -> Result<String, api::Error> {
        self.with(|l| Ok(l.local_address()?.0.to_string()))
    }

    fn close(&self) -> Result<(), api::Error> {
        self.0.borrow_mut().take();
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
                    // 0.1.x has no kinds of their own for these (a new case would change the
                    // type); their messages say which.
                    IoKind::AddressInUse | IoKind::AddressNotAvailable | IoKind::Other => {
                        api::IoErrorKind::Other
                    }
                },
                message,
            }),
        }
    }
}

/// Run a call of the core to its end: over this edition's calls, which block inside, its
/// future is ready at its first poll.
fn run<R>(call: impl Future<Output = Result<R, Error>>) -> Result<R, Error> {
    stream::now(call).unwrap_or_else(|| Err(Error::waited()))
}

/// This edition's system calls, for the core.
struct P2;

impl Sys for P2 {
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

    fn start(remote: SocketAddr) -> Result<net::Attempt, Error> {
        net::Attempt::start(remote)
    }

    async fn settle(
        attempts: &mut Vec<net::Attempt>,
        until: Deadline,
    ) -> Option<Result<TcpConnection, Error>> {
        net::Attempt::settle(attempts, until)
    }

    async fn resolve(name: &str, deadline: Deadline) -> Result<Vec<IpAddr>, Error> {
        use wasip2::sockets::network::{ErrorCode, IpAddress};
        let addresses = net::resolve(name, deadline).map_err(|code| match code {
            ErrorCode::InvalidArgument => Error::Value(format!("Invalid host name: {name:?}")),
            // The host's policy refused this name.
            ErrorCode::AccessDenied => Error::lookup_denied(name),
            code => wasi_error::from_code(code),
        })?;
        Ok(addresses
            .into_iter()
            .map(|address| match address {
                IpAddress::Ipv4((a, b, c, d)) => Ipv4Addr::new(a, b, c, d).into(),
                IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => {
                    Ipv6Addr::new(a, b, c, d, e, f, g, h).into()
                }
            })
            .collect())
    }

    async fn connect(remote: SocketAddr, deadline: Deadline) -> Result<TcpConnection, Error> {
        TcpConnection::connect_by(remote, deadline)
    }

    async fn udp_exchange(
        server: SocketAddrV4,
        query: &[u8],
        deadline: Deadline,
        accept: impl FnMut(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, Error> {
        net::udp_exchange(server, query, deadline, accept)
    }

    fn env(name: &str) -> Option<String> {
        wasip2::cli::environment::get_environment()
            .into_iter()
            .find_map(|(key, value)| (key == name).then_some(value))
    }

    async fn read_file(path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn random_u64() -> u64 {
        wasip2::random::random::get_random_u64()
    }
}
