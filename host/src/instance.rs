//! An instance of the component and the typed sockets it hands out: the async API. Every call
//! runs on the caller's Tokio runtime (I/O and time enabled), under the policy's deadline.

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::Error;
use crate::bindings::{Buffering, ConnectOptions, Provider, SocketError};
use crate::exec::within;
use crate::store::State;

/// One instance of the component, with its own memory, sockets and network policy. Cheap to
/// clone (clones share the instance) and `Send + Sync`: tasks on many threads may hold it.
/// An instance of the WASI 0.2 edition runs one call at a time, so calls take turns (in the
/// order they asked); give each concurrent connection its own instance to run them at once.
#[derive(Clone)]
pub struct Instance {
    shared: Arc<Shared>,
}

struct Shared {
    inner: tokio::sync::Mutex<Inner>,
    /// Sockets dropped without [`Socket::release`]: released before the instance's next call
    /// (or by a task spawned on the runtime that dropped them), since a destructor cannot
    /// wait for the guest's flush.
    dropped: Mutex<Vec<ResourceAny>>,
}

struct Inner {
    store: Store<State>,
    bindings: Provider,
}

type CallResult<T> = wasmtime::Result<Result<T, SocketError>>;

impl Instance {
    pub(crate) fn new(store: Store<State>, bindings: Provider) -> Self {
        Instance {
            shared: Arc::new(Shared {
                inner: tokio::sync::Mutex::new(Inner { store, bindings }),
                dropped: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Run `f` on the store, under the policy's deadline; first release what was dropped.
    async fn run<R>(&self, f: impl AsyncFnOnce(&mut Inner) -> R) -> Result<R, Error> {
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
            for handle in dropped {
                // It can fail only if the instance already trapped: nothing is left to free.
                let _ = handle.resource_drop_async(&mut inner.store).await;
            }
            f(inner).await
        })
        .await
    }

    /// Run one call into the component, under the policy's deadline.
    async fn call<T>(&self, f: impl AsyncFnOnce(&mut Inner) -> CallResult<T>) -> Result<T, Error> {
        Ok(self.run(f).await?.map_err(Error::wasm)??)
    }

    /// Release a guest resource now: its destructor runs (a socket's flushes).
    async fn release(&self, handle: ResourceAny) -> Result<(), Error> {
        self.run(async |i| handle.resource_drop_async(&mut i.store).await)
            .await?
            .map_err(Error::wasm)
    }

    /// Release `handle` later: before the next call, or soon on the current Tokio runtime.
    fn release_later(&self, handle: ResourceAny) {
        self.shared
            .dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let instance = self.clone();
            runtime.spawn(async move { instance.run(async |_| ()).await });
        }
    }

    /// `Socket(destination, port, buffering)`: connect, by address or by name.
    pub async fn connect(
        &self,
        destination: &str,
        port: u16,
        buffering: Option<Buffering>,
    ) -> Result<Socket, Error> {
        self.socket(async |i| {
            let api = i.bindings.alore_socket_socket().socket();
            api.call_constructor(&mut i.store, destination, port, buffering)
                .await
        })
        .await
    }

    /// Connect with options: a buffering mode and a time limit for the whole connect.
    pub async fn connect_with(
        &self,
        destination: &str,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Socket, Error> {
        self.socket(async |i| {
            let api = i.bindings.alore_socket_socket().socket();
            api.call_connect(&mut i.store, destination, port, options)
                .await
        })
        .await
    }

    /// A typed socket for the handle a call into the component returns.
    async fn socket(
        &self,
        f: impl AsyncFnOnce(&mut Inner) -> CallResult<ResourceAny>,
    ) -> Result<Socket, Error> {
        Ok(Socket {
            instance: self.clone(),
            handle: self.call(f).await?,
            released: false,
        })
    }

    /// Listen on `port` (0: any free port) of `address` (default: every interface), through
    /// the contract's portable `listen`.
    pub async fn listen(&self, port: u16, address: Option<&str>) -> Result<ServerSocket, Error> {
        self.server_socket_by(async |i| {
            let api = i.bindings.alore_socket_server_socket().server_socket();
            api.call_listen(&mut i.store, port, address).await
        })
        .await
    }

    /// `ServerSocket(port, address)`: the same through the resource's constructor.
    pub async fn server_socket(
        &self,
        port: u16,
        address: Option<&str>,
    ) -> Result<ServerSocket, Error> {
        self.server_socket_by(async |i| {
            let api = i.bindings.alore_socket_server_socket().server_socket();
            api.call_constructor(&mut i.store, port, address).await
        })
        .await
    }

    /// A typed server socket for the handle a call into the component returns.
    async fn server_socket_by(
        &self,
        f: impl AsyncFnOnce(&mut Inner) -> CallResult<ResourceAny>,
    ) -> Result<ServerSocket, Error> {
        Ok(ServerSocket {
            instance: self.clone(),
            handle: self.call(f).await?,
            released: false,
        })
    }

    /// `GetHostByName(name)`: the first IPv4 address of `name`, in dotted decimal.
    pub async fn get_host_by_name(&self, name: &str) -> Result<String, Error> {
        self.call(async |i| {
            let api = i.bindings.alore_socket_socket();
            api.call_get_host_by_name(&mut i.store, name).await
        })
        .await
    }

    /// `GetHostByAddress(address)`: the name of an IPv4 address (hosts file, then DNS).
    pub async fn get_host_by_address(&self, address: &str) -> Result<String, Error> {
        self.call(async |i| {
            let api = i.bindings.alore_socket_socket();
            api.call_get_host_by_address(&mut i.store, address).await
        })
        .await
    }

    /// `GetHostName()`: this machine's host name, as the policy gives it.
    pub async fn get_host_name(&self) -> Result<String, Error> {
        self.call(async |i| {
            let api = i.bindings.alore_socket_socket();
            api.call_get_host_name(&mut i.store).await
        })
        .await
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
            self.instance.call(async |i| {
                let api = i.bindings.alore_socket_socket().socket();
                api.$call(&mut i.store, self.handle $(, $arg)*).await
            })
            .await
        }
    };
}

/// The socket methods, once for the async API and once for the blocking one: `$forward` is
/// the macro that writes one method.
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
        $forward!(/// This end's IPv4 address.
            local_address => call_local_address() -> String);
        $forward!(/// This end's port.
            local_port => call_local_port() -> u16);
        $forward!(/// The peer's IPv4 address.
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
    socket_methods!(forward);

    /// Release the socket now: the guest flushes what is buffered (as `close` does, with
    /// its errors dropped) and frees it.
    pub async fn release(mut self) -> Result<(), Error> {
        self.released = true;
        self.instance.release(self.handle).await
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if !self.released {
            self.instance.release_later(self.handle);
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
            self.instance.call(async |i| {
                let api = i.bindings.alore_socket_server_socket().server_socket();
                api.$call(&mut i.store, self.handle $(, $arg)*).await
            })
            .await
        }
    };
}

/// The server socket's methods but `accept`, for both APIs.
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
    server_socket_methods!(forward_server);

    /// Wait for a connection, and return it as a socket with the given buffering.
    pub async fn accept(&self, buffering: Option<Buffering>) -> Result<Socket, Error> {
        self.instance
            .socket(async |i| {
                let api = i.bindings.alore_socket_server_socket().server_socket();
                api.call_accept(&mut i.store, self.handle, buffering).await
            })
            .await
    }

    /// Release the server socket now: it stops listening.
    pub async fn release(mut self) -> Result<(), Error> {
        self.released = true;
        self.instance.release(self.handle).await
    }
}

impl Drop for ServerSocket {
    fn drop(&mut self) {
        if !self.released {
            self.instance.release_later(self.handle);
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
        f.debug_struct("Instance").finish_non_exhaustive()
    }
}
