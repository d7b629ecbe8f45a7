//! A wasmtime host for the `alore-socket` component: Alore's `socket` module (TCP/IPv4
//! client streams and host name lookup) as a WebAssembly component.
//!
//! ```no_run
//! use alore_socket_host::{Allow, Policy, Runtime};
//! # fn main() -> Result<(), alore_socket_host::Error> {
//! let runtime = Runtime::new()?; // finds (or builds) and compiles the component once
//! let policy = Policy::deny_all().allow("127.0.0.1:7000".parse().expect("a valid rule"));
//! let instance = runtime.instantiate(&policy)?;
//! let socket = instance.connect("127.0.0.1", 7000, None)?;
//! socket.write_ln(b"hello")?;
//! println!("{:?}", socket.read_ln()?);
//! socket.close()?;
//! # Ok(()) }
//! ```

mod bindings;
mod error;
mod instance;
mod lookup;
mod policy;
mod runtime;

pub use bindings::{Buffering, ConnectOptions, IoError, IoErrorKind, SocketError};
pub use error::{Error, kind_name, one_line};
pub use instance::{Instance, ServerSocket, Socket};
pub use lookup::LookupTable;
pub use policy::{Allow, DEFAULT_MEMORY_LIMIT, ParseAllowError, Policy};
pub use runtime::{
    COMPONENT_ENV, CommandOutput, EPOCH_TICK, MAX_CAPTURED_OUTPUT, PROFILE_ENV, Runtime, State,
    Stdio, block_on, build_wasm, locate_component,
};
