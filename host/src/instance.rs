//! An instance of the component and the typed sockets it hands out.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::Error;
use crate::bindings::{Buffering, ConnectOptions, Provider, SocketError};
use crate::exec::block_on;
use crate::store::State;

/// One instance of the component, with its own memory, sockets and network policy. Cheap to
/// clone (clones share the instance); calls from several threads take turns, since a
/// component instance runs one call at a time.
#[derive(Clone)]
pub struct Instance {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    store: Store<State>,
    bindings: Provider,
}

type CallResult<T> = wasmtime::Result<Result<T, SocketError>>;

impl Instance {
    pub(crate) fn new(store: Store<State>, bindings: Provider) -> Self {
        Instance {
            inner: Arc::new(Mutex::new(Inner { store, bindings })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the store half-updated in a way Rust
        // can see: wasmtime keeps its own invariants, and a trapped instance reports errors.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `f` on the store, under the policy's deadline.
    fn run<R>(&self, f: impl AsyncFnOnce(&mut Inner) -> R) -> Result<R, Error> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        // Guest code yields at every epoch tick from the next one on, which lets the
        // deadline's timer fire even while the guest computes.
        inner.store.set_epoch_deadline(1);
        let deadline = inner.store.data().call_deadline;
        block_on(deadline, f(inner)).ok_or_else(|| Error::deadline(deadline))
    }

    /// Run one call into the component, under the policy's deadline.
    fn call<T>(&self, f: impl AsyncFnOnce(&mut Inner) -> CallResult<T>) -> Result<T, Error> {
        Ok(self.run(f)?.map_err(Error::wasm)??)
    }

    /// Drop a guest resource, which runs its destructor (a socket's flushes), under the
    /// deadline. It can fail only if the instance already trapped or was stopped, and then
    /// there is nothing left to release.
    fn drop_resource(&self, handle: ResourceAny) {
        let _ = self.run(async |i| handle.resource_drop_async(&mut i.store).await);
    }

    /// `Socket(destination, port, buffering)`: connect, by address or by name.
    pub fn connect(
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
    }

    /// Connect with options: a buffering mode and a time limit for the whole connect.
    pub fn connect_with(
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
    }

    /// A typed socket for the handle a call into the component returns.
    fn socket(
        &self,
        f: impl AsyncFnOnce(&mut Inner) -> CallResult<ResourceAny>,
    ) -> Result<Socket, Error> {
        Ok(Socket {
            instance: self.clone(),
            handle: self.call(f)?,
        })
    }

    /// Listen on `port` (0: any free port) of `address` (default: every interface), through
    /// the contract's portable `listen`.
    pub fn listen(&self, port: u16, address: Option<&str>) -> Result<ServerSocket, Error> {
        self.server_socket_by(async |i| {
            let api = i.bindings.alore_socket_server_socket().server_socket();
            api.call_listen(&mut i.store, port, address).await
        })
    }

    /// `ServerSocket(port, address)`: the same through the resource's constructor.
    pub fn server_socket(&self, port: u16, address: Option<&str>) -> Result<ServerSocket, Error> {
        self.server_socket_by(async |i| {
            let api = i.bindings.alore_socket_server_socket().server_socket();
            api.call_constructor(&mut i.store, port, address).await
        })
    }

    /// A typed server socket for the handle a call into the component returns.
    fn server_socket_by(
        &self,
        f: impl AsyncFnOnce(&mut Inner) -> CallResult<ResourceAny>,
    ) -> Result<ServerSocket, Error> {
        Ok(ServerSocket {
            instance: self.clone(),
            handle: self.call(f)?,
        })
    }

    /// `GetHostByName(name)`.
    pub fn get_host_by_name(&self, name: &str) -> Result<String, Error> {
        self.call(async |i| {
            let api = i.bindings.alore_socket_socket();
            api.call_get_host_by_name(&mut i.store, name).await
        })
    }

    /// `GetHostByAddress(address)`.
    pub fn get_host_by_address(&self, address: &str) -> Result<String, Error> {
        self.call(async |i| {
            let api = i.bindings.alore_socket_socket();
            api.call_get_host_by_address(&mut i.store, address).await
        })
    }

    /// `GetHostName()`.
    pub fn get_host_name(&self) -> Result<String, Error> {
        self.call(async |i| {
            let api = i.bindings.alore_socket_socket();
            api.call_get_host_name(&mut i.store).await
        })
    }
}

/// A socket inside the component. Its methods mirror the WIT resource; dropping it drops the
/// guest resource, which flushes and releases the connection.
pub struct Socket {
    instance: Instance,
    handle: ResourceAny,
}

/// Forwards a method to the guest resource's method of the same name.
macro_rules! forward {
    ($(#[$doc:meta])* $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $out:ty) => {
        $(#[$doc])*
        pub fn $name(&self $(, $arg: $ty)*) -> Result<$out, Error> {
            self.instance.call(async |i| {
                let api = i.bindings.alore_socket_socket().socket();
                api.$call(&mut i.store, self.handle $(, $arg)*).await
            })
        }
    };
}

impl Socket {
    forward!(/// Write bytes; when they are sent depends on the buffering mode.
        write => call_write(data: &[u8]) -> ());
    forward!(/// Write bytes and a line feed.
        write_ln => call_write_ln(data: &[u8]) -> ());
    forward!(/// `Some(n)`: up to `n` bytes, fewer only at the end of the stream. `None`: everything
        /// to the end of the stream, then close.
        read => call_read(count: Option<u32>) -> Vec<u8>);
    forward!(/// One line without its ending (LF, CR LF or CR).
        read_ln => call_read_ln() -> Vec<u8>);
    forward!(/// Every line to the end of the stream, then close.
        read_lines => call_read_lines() -> Vec<Vec<u8>>);
    forward!(/// The bytes received but not yet read.
        peek => call_peek() -> Vec<u8>);
    forward!(/// Send every buffered byte.
        flush => call_flush() -> ());
    forward!(/// Whether the stream has ended; blocks until a byte or the end arrives.
        eof => call_eof() -> bool);
    forward!(/// Flush and release the connection; a second close does nothing.
        close => call_close() -> ());
    forward!(/// This end's IPv4 address.
        local_address => call_local_address() -> String);
    forward!(/// This end's port.
        local_port => call_local_port() -> u16);
    forward!(/// The peer's IPv4 address.
        remote_address => call_remote_address() -> String);
    forward!(/// The peer's port.
        remote_port => call_remote_port() -> u16);
    forward!(/// Blocking waits for the network longer than `ms` fail with `timed-out`; nothing is
        /// lost when they do. `None` waits forever.
        set_timeout => call_set_timeout(ms: Option<u32>) -> ());
    forward!(/// Every blocking call that would wait past `ms` from now fails with `timed-out`,
        /// however its waits split: a bound on a whole line or reply. `None` takes it away.
        set_deadline => call_set_deadline(ms: Option<u32>) -> ());
    forward!(/// The longest line `read_ln` accepts.
        set_max_line_length => call_set_max_line_length(bytes: u32) -> ());
    forward!(/// Flush, then send FIN; reads go on.
        shutdown_output => call_shutdown_output() -> ());
    forward!(/// Upgrade to TLS as its client: `server_name` (default: the name connected to)
        /// must match the server's certificate. Needs a policy that allows TLS
        /// ([`crate::Policy::allow_tls`]); refused while received plaintext is unread.
        start_tls => call_start_tls(server_name: Option<&str>) -> ());
}

/// A listening socket inside the component (Alore's `ServerSocket`). Dropping it drops the
/// guest resource, which stops listening.
pub struct ServerSocket {
    instance: Instance,
    handle: ResourceAny,
}

impl ServerSocket {
    /// Wait for a connection, and return it as a socket with the given buffering.
    pub fn accept(&self, buffering: Option<Buffering>) -> Result<Socket, Error> {
        self.instance.socket(async |i| {
            let api = i.bindings.alore_socket_server_socket().server_socket();
            api.call_accept(&mut i.store, self.handle, buffering).await
        })
    }

    /// The port actually bound.
    pub fn local_port(&self) -> Result<u16, Error> {
        self.instance.call(async |i| {
            let api = i.bindings.alore_socket_server_socket().server_socket();
            api.call_local_port(&mut i.store, self.handle).await
        })
    }

    /// The address listened on.
    pub fn local_address(&self) -> Result<String, Error> {
        self.instance.call(async |i| {
            let api = i.bindings.alore_socket_server_socket().server_socket();
            api.call_local_address(&mut i.store, self.handle).await
        })
    }

    /// Stop listening; accepted sockets stay open. A second close does nothing.
    pub fn close(&self) -> Result<(), Error> {
        self.instance.call(async |i| {
            let api = i.bindings.alore_socket_server_socket().server_socket();
            api.call_close(&mut i.store, self.handle).await
        })
    }
}

impl Drop for ServerSocket {
    fn drop(&mut self) {
        self.instance.drop_resource(self.handle);
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

impl Drop for Socket {
    fn drop(&mut self) {
        self.instance.drop_resource(self.handle);
    }
}
