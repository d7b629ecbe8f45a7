//! The blocking API: the async one driven in the calling thread, for code that is not async
//! (the CLI, scripts, tests). Each call blocks the calling thread until the component answers
//! or the policy's deadline stops it; the thread that waits is the one that polls the
//! network, as in native blocking code. Each instance has a current-thread Tokio runtime of
//! its own, shared by its sockets, which runs only inside their calls: bytes a write left
//! with the host because the kernel's buffer was full go on at the instance's next call (a
//! flush, or any read, waits for them). Inside an async runtime these functions panic: use
//! the async API there.
//!
//! ```no_run
//! use alore_socket_host::{Policy, Runtime, blocking};
//! # fn main() -> Result<(), alore_socket_host::Error> {
//! let runtime = Runtime::new()?;
//! let policy = Policy::deny_all().allow("127.0.0.1:7000".parse().expect("a valid rule"));
//! let instance = blocking::Instance::new(&runtime, &policy)?;
//! let socket = instance.connect("127.0.0.1", 7000, None)?;
//! socket.write_ln(b"hello")?;
//! println!("{:?}", socket.read_ln()?);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::exec::Executor;
use crate::instance::{server_socket_methods, socket_methods};
use crate::{Buffering, CommandOutput, ConnectOptions, Edition, Error, Policy, Runtime, Stdio};

/// [`crate::Runtime::run_command`], blocking.
pub fn run_command(
    runtime: &Runtime,
    command: &[u8],
    policy: &Policy,
    args: &[String],
    stdio: Stdio,
) -> Result<CommandOutput, Error> {
    Executor::new()?.block_on(runtime.run_command(command, policy, args, stdio))
}

/// An [`crate::Instance`] whose calls block.
#[derive(Clone, Debug)]
pub struct Instance {
    // Dropped first: the store goes before its executor lets go of what still runs.
    instance: crate::Instance,
    exec: Arc<Executor>,
}

impl Instance {
    /// [`crate::Runtime::instantiate`], blocking: an instance of the WASI 0.2 edition.
    pub fn new(runtime: &Runtime, policy: &Policy) -> Result<Self, Error> {
        Self::of_edition(runtime, Edition::Wasi02, policy)
    }

    /// [`crate::Runtime::instantiate_edition`], blocking.
    pub fn of_edition(runtime: &Runtime, edition: Edition, policy: &Policy) -> Result<Self, Error> {
        let exec = Executor::new()?;
        let instance = exec.block_on(runtime.instantiate_edition(edition, policy))?;
        Ok(Instance { instance, exec })
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.exec.block_on(future)
    }

    /// [`crate::Instance::connect`], blocking.
    pub fn connect(
        &self,
        destination: &str,
        port: u16,
        buffering: Option<Buffering>,
    ) -> Result<Socket, Error> {
        let socket = self.block_on(self.instance.connect(destination, port, buffering))?;
        Ok(Socket::new(socket, &self.exec))
    }

    /// [`crate::Instance::connect_with`], blocking.
    pub fn connect_with(
        &self,
        destination: &str,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Socket, Error> {
        let socket = self.block_on(self.instance.connect_with(destination, port, options))?;
        Ok(Socket::new(socket, &self.exec))
    }

    /// [`crate::Instance::listen`], blocking.
    pub fn listen(&self, port: u16, address: Option<&str>) -> Result<ServerSocket, Error> {
        let socket = self.block_on(self.instance.listen(port, address))?;
        Ok(ServerSocket::new(socket, &self.exec))
    }

    /// [`crate::Instance::server_socket`], blocking.
    pub fn server_socket(&self, port: u16, address: Option<&str>) -> Result<ServerSocket, Error> {
        let socket = self.block_on(self.instance.server_socket(port, address))?;
        Ok(ServerSocket::new(socket, &self.exec))
    }

    /// [`crate::Instance::get_host_by_name`], blocking.
    pub fn get_host_by_name(&self, name: &str) -> Result<String, Error> {
        self.block_on(self.instance.get_host_by_name(name))
    }

    /// [`crate::Instance::get_host_addresses`], blocking.
    pub fn get_host_addresses(&self, name: &str) -> Result<Vec<String>, Error> {
        self.block_on(self.instance.get_host_addresses(name))
    }

    /// [`crate::Instance::get_host_by_address`], blocking.
    pub fn get_host_by_address(&self, address: &str) -> Result<String, Error> {
        self.block_on(self.instance.get_host_by_address(address))
    }

    /// [`crate::Instance::get_host_name`], blocking.
    pub fn get_host_name(&self) -> Result<String, Error> {
        self.block_on(self.instance.get_host_name())
    }
}

/// A [`crate::Socket`] whose calls block; dropping it releases it at once (the guest
/// flushes), under the policy's deadline.
#[derive(Debug)]
pub struct Socket {
    /// Always `Some` until dropped. Dropped before `exec`, as in [`Instance`].
    socket: Option<crate::Socket>,
    exec: Arc<Executor>,
}

/// Forwards a method to the async socket's, blocking.
macro_rules! blocking {
    ($(#[$doc:meta])* $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $out:ty) => {
        $(#[$doc])*
        pub fn $name(&self $(, $arg: $ty)*) -> Result<$out, Error> {
            self.exec.block_on(self.inner().$name($($arg),*))
        }
    };
}

impl Socket {
    fn new(socket: crate::Socket, exec: &Arc<Executor>) -> Self {
        Socket {
            socket: Some(socket),
            exec: Arc::clone(exec),
        }
    }

    fn inner(&self) -> &crate::Socket {
        self.socket.as_ref().expect("present until dropped")
    }

    socket_methods!(blocking);
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            // It can fail only if the instance trapped or was stopped: nothing left to free.
            let _ = self.exec.block_on(socket.release());
        }
    }
}

/// A [`crate::ServerSocket`] whose calls block; dropping it stops it listening at once.
#[derive(Debug)]
pub struct ServerSocket {
    /// Always `Some` until dropped. Dropped before `exec`, as in [`Instance`].
    socket: Option<crate::ServerSocket>,
    exec: Arc<Executor>,
}

impl ServerSocket {
    fn new(socket: crate::ServerSocket, exec: &Arc<Executor>) -> Self {
        ServerSocket {
            socket: Some(socket),
            exec: Arc::clone(exec),
        }
    }

    fn inner(&self) -> &crate::ServerSocket {
        self.socket.as_ref().expect("present until dropped")
    }

    server_socket_methods!(blocking);

    /// [`crate::ServerSocket::accept`], blocking.
    pub fn accept(&self, buffering: Option<Buffering>) -> Result<Socket, Error> {
        let socket = self.exec.block_on(self.inner().accept(buffering))?;
        Ok(Socket::new(socket, &self.exec))
    }
}

impl Drop for ServerSocket {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            let _ = self.exec.block_on(socket.release());
        }
    }
}
