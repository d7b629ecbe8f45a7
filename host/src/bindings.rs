//! Host bindings for the `alore:socket` contract, generated from `wit/`.

// Async exports: a call can then be stopped while the guest waits in the host for the
// network, which a synchronous call cannot be.
wasmtime::component::bindgen!({
    path: "../wit",
    world: "provider",
    exports: { default: async },
});

pub use exports::alore::socket::socket::{
    Buffering, ConnectOptions, Error as SocketError, IoError, IoErrorKind,
};
