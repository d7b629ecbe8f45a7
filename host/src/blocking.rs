//! The blocking API: the async one driven on the host's own Tokio runtime, for code that is
//! not async (the CLI, scripts, tests). Each call blocks the calling thread until the
//! component answers or the policy's deadline stops it. Inside an async runtime these
//! functions panic: use the async API there.
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

use crate::exec::block_on;
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
    block_on(runtime.run_command(command, policy, args, stdio))
}

/// An [`crate::Instance`] whose calls block.
#[derive(Clone, Debug)]
pub struct Instance(crate::Instance);

impl Instance {
    /// [`crate::Runtime::instantiate`], blocking: an instance of the WASI 0.2 edition.
    pub fn new(runtime: &Runtime, policy: &Policy) -> Result<Self, Error> {
        block_on(runtime.instantiate(policy)).map(Instance)
    }

    /// [`crate::Runtime::instantiate_edition`], blocking.
    pub fn of_edition(runtime: &Runtime, edition: Edition, policy: &Policy) -> Result<Self, Error> {
        block_on(runtime.instantiate_edition(edition, policy)).map(Instance)
    }

    /// The async instance underneath, for code that has both.
    pub fn as_async(&self) -> &crate::Instance {
        &self.0
    }

    /// [`crate::Instance::connect`], blocking.
    pub fn connect(
        &self,
        destination: &str,
        port: u16,
        buffering: Option<Buffering>,
    ) -> Result<Socket, Error> {
        block_on(self.0.connect(destination, port, buffering)).map(Socket::new)
    }

    /// [`crate::Instance::connect_with`], blocking.
    pub fn connect_with(
        &self,
        destination: &str,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Socket, Error> {
        block_on(self.0.connect_with(destination, port, options)).map(Socket::new)
    }

    /// [`crate::Instance::listen`], blocking.
    pub fn listen(&self, port: u16, address: Option<&str>) -> Result<ServerSocket, Error> {
        block_on(self.0.listen(port, address)).map(ServerSocket::new)
    }

    /// [`crate::Instance::server_socket`], blocking.
    pub fn server_socket(&self, port: u16, address: Option<&str>) -> Result<ServerSocket, Error> {
        block_on(self.0.server_socket(port, address)).map(ServerSocket::new)
    }

    /// [`crate::Instance::get_host_by_name`], blocking.
    pub fn get_host_by_name(&self, name: &str) -> Result<String, Error> {
        block_on(self.0.get_host_by_name(name))
    }

    /// [`crate::Instance::get_host_addresses`], blocking.
    pub fn get_host_addresses(&self, name: &str) -> Result<Vec<String>, Error> {
        block_on(self.0.get_host_addresses(name))
    }

    /// [`crate::Instance::get_host_by_address`], blocking.
    pub fn get_host_by_address(&self, address: &str) -> Result<String, Error> {
        block_on(self.0.get_host_by_address(address))
    }

    /// [`crate::Instance::get_host_name`], blocking.
    pub fn get_host_name(&self) -> Result<String, Error> {
        block_on(self.0.get_host_name())
    }
}

/// A [`crate::Socket`] whose calls block; dropping it releases it at once (the guest
/// flushes), under the policy's deadline.
#[derive(Debug)]
pub struct Socket(Option<crate::Socket>);

/// Forwards a method to the async socket's, blocking.
macro_rules! blocking {
    ($(#[$doc:meta])* $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $out:ty) => {
        $(#[$doc])*
        pub fn $name(&self $(, $arg: $ty)*) -> Result<$out, Error> {
            block_on(self.inner().$name($($arg),*))
        }
    };
}

impl Socket {
    fn new(socket: crate::Socket) -> Self {
        Socket(Some(socket))
    }

    fn inner(&self) -> &crate::Socket {
        self.0.as_ref().expect("present until dropped")
    }

    socket_methods!(blocking);
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(socket) = self.0.take() {
            // It can fail only if the instance trapped or was stopped: nothing left to free.
            let _ = block_on(socket.release());
        }
    }
}

/// A [`crate::ServerSocket`] whose calls block; dropping it stops it listening at once.
#[derive(Debug)]
pub struct ServerSocket(Option<crate::ServerSocket>);

impl ServerSocket {
    fn new(socket: crate::ServerSocket) -> Self {
        ServerSocket(Some(socket))
    }

    fn inner(&self) -> &crate::ServerSocket {
        self.0.as_ref().expect("present until dropped")
    }

    server_socket_methods!(blocking);

    /// [`crate::ServerSocket::accept`], blocking.
    pub fn accept(&self, buffering: Option<Buffering>) -> Result<Socket, Error> {
        block_on(self.inner().accept(buffering)).map(Socket::new)
    }
}

impl Drop for ServerSocket {
    fn drop(&mut self) {
        if let Some(socket) = self.0.take() {
            let _ = block_on(socket.release());
        }
    }
}
