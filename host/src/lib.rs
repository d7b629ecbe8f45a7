//! A wasmtime host for the `alore-socket` component: Alore's `socket` and `serversocket`
//! modules (TCP streams with Alore's buffering and line semantics, host name lookup, typed
//! errors) as a WebAssembly component, run under a deny-by-default network [`Policy`].
//!
//! The host carries the component (both builds, embedded at build time). [`Runtime`]
//! compiles it once; each [`Instance`] is one instance of it, with its own memory, sockets
//! and policy. The API is async and runs on the caller's Tokio runtime (with I/O and time
//! enabled, as wasmtime-wasi needs); [`blocking`] wraps it for code that is not async.
//!
//! ```no_run
//! use alore_socket_host::{Policy, Runtime};
//! # async fn example() -> Result<(), alore_socket_host::Error> {
//! let runtime = Runtime::new()?; // compiles the component, or loads it from the cache
//! let policy = Policy::deny_all().allow("127.0.0.1:7000".parse().expect("a valid rule"));
//! let instance = runtime.instantiate(&policy).await?;
//! let socket = instance.connect("127.0.0.1", 7000, None).await?;
//! socket.write_ln(b"hello").await?;
//! println!("{:?}", socket.read_ln().await?);
//! socket.release().await?;
//! # Ok(()) }
//! ```
//!
//! The modules' imports go one way: [`Runtime`] (`runtime`, with `cache`) → [`Instance`]
//! (`instance`; `blocking` over it) → the store (`store`, `guard`, `lookup`, `tls`) and the
//! executor (`exec`) → [`Policy`] (`policy`, whose `Plan` is all the rest reads of it).
#![warn(unreachable_pub, missing_docs)]

mod bindings;
pub mod blocking;
mod cache;
mod error;
mod exec;
#[cfg(feature = "flags")]
pub mod flags;
mod guard;
mod instance;
mod lookup;
mod pins;
mod policy;
mod runtime;
mod store;
mod tls;
mod types;

pub use error::Error;
pub use guard::OUTPUT_LINGER;
pub use instance::{Instance, ServerSocket, Socket};
pub use lookup::LookupTable;
pub use pins::{MAX_PINS, PIN_LIFETIME};
pub use policy::{
    Allow, AllowName, DEFAULT_MAX_HANDLES, DEFAULT_MAX_SOCKETS, DEFAULT_MEMORY_LIMIT,
    ParseAllowError, ParseAllowNameError, Policy,
};
pub use runtime::{
    COMPONENT_ENV, CommandOutput, Edition, MAX_CAPTURED_OUTPUT, P3_COMPONENT_ENV,
    P3_TLS_COMPONENT_ENV, PROFILE_ENV, Runtime, Stdio, TLS_COMPONENT_ENV, TLS_FILE,
};
pub use store::State;
pub use types::{Buffering, ConnectOptions, IoError, IoErrorKind, SocketError};
