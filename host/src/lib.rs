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
//!
//! The modules' imports go one way: the CLI → [`Runtime`] (`runtime`, with `cache` and
//! `locate`) → [`Instance`] (`instance`) → the store (`store`, `lookup`) and the executor
//! (`exec`) → [`Policy`] (`policy`, and `policy::wasi` for what it means in WASI terms).
#![warn(unreachable_pub)]

mod bindings;
mod cache;
mod error;
mod exec;
mod guard;
mod instance;
mod locate;
mod lookup;
mod policy;
mod runtime;
mod store;
mod tls;

pub use bindings::{Buffering, ConnectOptions, IoError, IoErrorKind, SocketError};
pub use error::{Error, kind_name, one_line};
pub use guard::OUTPUT_LINGER;
pub use instance::{Instance, ServerSocket, Socket};
pub use lookup::LookupTable;
pub use policy::{
    Allow, DEFAULT_MAX_HANDLES, DEFAULT_MAX_SOCKETS, DEFAULT_MEMORY_LIMIT, ParseAllowError, Policy,
};
pub use runtime::{CommandOutput, MAX_CAPTURED_OUTPUT, Runtime, Stdio};

/// For embedders that run other components beside this one (compositions, benchmarks, their
/// own applications) with the same WASI set-up and limits: stores from
/// [`Runtime::new_store`], linked by [`Runtime::linker`] (or [`Runtime::linker_for`] a
/// policy), their async calls driven by [`embed::block_on`](block_on); and the helpers that
/// find or build components of this workspace.
pub mod embed {
    pub use crate::exec::block_on;
    pub use crate::locate::{
        COMPONENT_ENV, TLS_COMPONENT_ENV, TLS_FILE, build_wasm, locate_component,
    };
    pub use crate::runtime::PROFILE_ENV;
    pub use crate::store::{EPOCH_TICK, State};
}
