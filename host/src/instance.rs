//! An instance of the component and the typed sockets it hands out: the async API, the same
//! for both editions. Every call runs on the caller's Tokio runtime (I/O and time enabled),
//! under the policy's deadline. Each edition's calls into its contract are in `edition`.

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::Error;
use crate::exec::within;
use crate::runtime::Edition;
use crate::store::State;
use crate::types::{Buffering, ConnectOptions};

mod edition;

pub(crate) use edition::Bindings;

/// One instance of the component, with its own memory, sockets and network policy. Cheap to
/// clone (clones share the instance) and `Send + Sync`: tasks on many threads may hold it.
/// The host makes one call into an instance at a time, so calls take turns (in the order they
/// asked); give each concurrent connection its own instance to run them at once from the host
/// (a composed application of the WASI 0.3 edition runs its own calls concurrently).
#[derive(Clone)]
pub struct Instance {
    shared: Arc<Shared>,
}

struct Shared {
    inner: tokio::sync::Mutex<Inner>,
    /// Sockets dropped without `release`: released before the instance's next call (or by a
    /// task spawned on the runtime that dropped them), since a destructor cannot wait.
    dropped: Mutex<Vec<(ResourceAny, bool)>>,
    edition: Edition,
}

pub(crate) struct Inner {
    pub(crate) store: Store<State>,
    pub(crate) bindings: Bindings,
}

impl Instance {
    pub(crate) fn new(store: Store<State>, bindings: Bindings) -> Self {
        let edition = bindings.edition();
        Instance {
            shared: Arc::new(Shared {
                inner: tokio::sync::Mutex::new(Inner { store, bindings }),
                dropped: Mutex::new(Vec::new()),
                edition,
            }),
        }
    }

    /// The edition this is an instance of.
    pub fn edition(&self) -> Edition {
        self.shared.edition
    }

    /// Run `f` on the store, under the policy's deadline; first release what was dropped.
    async fn run<R>(
        &self,
        f: impl AsyncFnOnce(&mut Inner) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut inner = self.shared.inner.lock().await;
        let inner = &mut *inner;
        // Guest code yields at every epoch tick from the next one on, which lets the
        // deadline's timer fire even while the guest computes.
        inner.store.set_epoch_deadline(1);
        let deadline = inner.store.data().call_deadline;
        let dropped = std::mem::take(
            &mut *self
                .shared
                .dropped
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        within(deadline, async {
            for (handle, socket) in dropped {
                // It can fail only if the instance already trapped: nothing is left to free.
                let _ = edition::release(inner, handle, socket).await;
            }
            f(inner).await
        })
        .await?
    }

    /// Release `handle` (a socket's, or a server socket's) later: before the next call, or
    /// soon on the current Tokio runtime.
    fn release_later(&self, handle: ResourceAny, socket: bool) {
        self.shared
            .dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((handle, socket));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let instance = self.clone();
            runtime.spawn(async move { instance.run(async |_| Ok(())).await });
        }
    }

    /// `Socket(destination, port, buffering)`: connect, by address or by name.
    pub async fn connect(
        &self,
        destination: &str,
        port: u16,
        buffering: Option<Buffering>,
    ) -> Result<Socket, Error> {
        let handle = self
            .run(async |i| edition::connect(i, destination, port, buffering).await)
            .await?;
        Ok(Socket::new(self, handle))
    }

    /// Connect with options: a buffering mode and a time limit for the whole connect.
    pub async fn connect_with(
        &self,
        destination: &str,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Socket, Error> {
        let handle = self
            .run(async |i| edition::connect_with(i, destination, port, options).await)
            .await?;
        Ok(Socket::new(self, handle))
    }

    /// Listen on `port` (0: any free port) of `address` (default: every interface), through
    /// the contract's portable `listen`.
    pub async fn listen(&self, port: u16, address: Option<&str>) -> Result<ServerSocket, Error> {
        let handle = self
            .run(async |i| edition::listen(i, port, address).await)
            .await?;
        Ok(ServerSocket::new(self, handle))
    }

    /// `ServerSocket(port, address)`: the same through the WASI 0.2 edition's constructor
    /// (the WASI 0.3 edition has no constructors: there it is `listen`).
    pub async fn server_socket(
        &self,
        port: u16,
        address: Option<&str>,
    ) -> Result<ServerSocket, Error> {
        let handle = self
            .run(async |i| edition::server_socket(i, port, address).await)
            .await?;
        Ok(ServerSocket::new(self, handle))
    }

    /// `GetHostByName(name)`: the first IPv4 address of `name`, in dotted decimal (its
    /// first IPv6 address when it has no IPv4 one); an address as it is.
    pub async fn get_host_by_name(&self, name: &str) -> Result<String, Error> {
        self.run(async |i| edition::get_host_by_name(i, name).await)
            .await
    }

    /// Every address of `name`, both families, in the resolver's order.
    pub async fn get_host_addresses(&self, name: &str) -> Result<Vec<String>, Error> {
        self.run(async |i| edition::get_host_addresses(i, name).await)
            .await
    }

    /// `GetHostByAddress(address)`: the name of an IPv4 or IPv6 address (hosts file, then
    /// DNS).
    pub async fn get_host_by_address(&self, address: &str) -> Result<String, Error> {
        self.run(async |i| edition::get_host_by_address(i, address).await)
            .await
    }

    /// `GetHostName()`: this machine's host name, as the policy gives it.
    pub async fn get_host_name(&self) -> Result<String, Error> {
        self.run(async |i| edition::get_host_name(i).await).await
    }
}

/// A socket inside the component. Its methods mirror the WIT resource. [`Socket::release`]
/// releases it (the guest flushes, then closes); dropping it releases it before the
/// instance's next call, or soon on the Tokio runtime it was dropped in.
pub struct Socket {
    instance: Instance,
    handle: ResourceAny,
    released: bool,
}

/// Forwards a method to the guest resource's method of the same name.
macro_rules! forward {
    ($(#[$doc:meta])* $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $out:ty) => {
        $(#[$doc])*
        pub async fn $name(&self $(, $arg: $ty)*) -> Result<$out, Error> {
            let handle = self.handle;
            self.instance
                .run(async |i| edition::socket::$name(i, handle $(, $arg)*).await)
                .await
        }
    };
}

/// The socket methods, once for the async API, once for the blocking one and once for each
/// edition's calls: `$forward` is the macro that writes one.
macro_rules! socket_methods {
    ($forward:ident) => {
        $forward!(/// Write bytes; when they are sent depends on the buffering mode.
            write => call_write(data: &[u8]) -> ());
        $forward!(/// Write bytes and a line feed.
            write_ln => call_write_ln(data: &[u8]) -> ());
        $forward!(/// `Some(n)`: up to `n` bytes, fewer only at the end of the stream. `None`:
            /// everything to the end of the stream, then close.
            read => call_read(count: Option<u32>) -> Vec<u8>);
        $forward!(/// One line without its ending (LF, CR LF or CR).
            read_ln => call_read_ln() -> Vec<u8>);
        $forward!(/// Every line to the end of the stream, then close.
            read_lines => call_read_lines() -> Vec<Vec<u8>>);
        $forward!(/// The bytes received but not yet read.
            peek => call_peek() -> Vec<u8>);
        $forward!(/// Send every buffered byte.
            flush => call_flush() -> ());
        $forward!(/// Whether the stream has ended; waits until a byte or the end arrives.
            eof => call_eof() -> bool);
        $forward!(/// Flush and release the connection; a second close does nothing.
            close => call_close() -> ());
        $forward!(/// This end's address.
            local_address => call_local_address() -> String);
        $forward!(/// This end's port.
            local_port => call_local_port() -> u16);
        $forward!(/// The peer's address.
            remote_address => call_remote_address() -> String);
        $forward!(/// The peer's port.
            remote_port => call_remote_port() -> u16);
        $forward!(/// Waits for the network longer than `ms` fail with `timed-out`; nothing is
            /// lost when they do. `None` waits forever.
            set_timeout => call_set_timeout(ms: Option<u32>) -> ());
        $forward!(/// Every call that would wait past `ms` from now fails with `timed-out`,
            /// however its waits split: a bound on a whole line or reply. `None` takes it
            /// away.
            set_deadline => call_set_deadline(ms: Option<u32>) -> ());
        $forward!(/// The longest line `read_ln` accepts.
            set_max_line_length => call_set_max_line_length(bytes: u32) -> ());
        $forward!(/// Flush, then send FIN; reads go on.
            shutdown_output => call_shutdown_output() -> ());
        $forward!(/// Upgrade to TLS as its client: `server_name` (default: the name connected
            /// to) must match the server's certificate. Needs a policy that allows TLS
            /// ([`crate::Policy::allow_tls`]); refused while received plaintext is unread.
            start_tls => call_start_tls(server_name: Option<&str>) -> ());
    };
}
pub(crate) use socket_methods;

impl Socket {
    fn new(instance: &Instance, handle: ResourceAny) -> Self {
        Socket {
            instance: instance.clone(),
            handle,
            released: false,
        }
    }

    socket_methods!(forward);

    /// Release the socket now: the guest flushes what is buffered (as `close` does, with
    /// its errors dropped) and frees it.
    pub async fn release(mut self) -> Result<(), Error> {
        self.released = true;
        let handle = self.handle;
        self.instance
            .run(async |i| edition::release(i, handle, true).await)
            .await
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if !self.released {
            self.instance.release_later(self.handle, true);
        }
    }
}

/// A listening socket inside the component (Alore's `ServerSocket`). Released as a
/// [`Socket`] is; then it stops listening.
pub struct ServerSocket {
    instance: Instance,
    handle: ResourceAny,
    released: bool,
}

/// Forwards a method to the server socket resource's method of the same name.
macro_rules! forward_server {
    ($(#[$doc:meta])* $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $out:ty) => {
        $(#[$doc])*
        pub async fn $name(&self $(, $arg: $ty)*) -> Result<$out, Error> {
            let handle = self.handle;
            self.instance
                .run(async |i| edition::server::$name(i, handle $(, $arg)*).await)
                .await
        }
    };
}

/// The server socket's methods but `accept`, for both APIs and both editions.
macro_rules! server_socket_methods {
    ($forward:ident) => {
        $forward!(/// The port actually bound.
            local_port => call_local_port() -> u16);
        $forward!(/// The address listened on.
            local_address => call_local_address() -> String);
        $forward!(/// Stop listening; accepted sockets stay open. A second close does nothing.
            close => call_close() -> ());
    };
}
pub(crate) use server_socket_methods;

impl ServerSocket {
    fn new(instance: &Instance, handle: ResourceAny) -> Self {
        ServerSocket {
            instance: instance.clone(),
            handle,
            released: false,
        }
    }

    server_socket_methods!(forward_server);

    /// Wait for a connection, and return it as a socket with the given buffering.
    pub async fn accept(&self, buffering: Option<Buffering>) -> Result<Socket, Error> {
        let handle = self.handle;
        let accepted = self
            .instance
            .run(async |i| edition::server::accept(i, handle, buffering).await)
            .await?;
        Ok(Socket::new(&self.instance, accepted))
    }

    /// Release the server socket now: it stops listening.
    pub async fn release(mut self) -> Result<(), Error> {
        self.released = true;
        let handle = self.handle;
        self.instance
            .run(async |i| edition::release(i, handle, false).await)
            .await
    }
}

impl Drop for ServerSocket {
    fn drop(&mut self) {
        if !self.released {
            self.instance.release_later(self.handle, false);
        }
    }
}

impl std::fmt::Debug for ServerSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSocket").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("edition", &self.shared.edition)
            .finish_non_exhaustive()
    }
}
