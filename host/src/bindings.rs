//! Host bindings for the `alore:socket` contract, generated from `wit/`.

// Async exports: a call can then be stopped while the guest waits in the host for the
// network, which a synchronous call cannot be.
wasmtime::component::bindgen!({
    path: "../wit",
    world: "provider",
    exports: { default: async },
    // `detach` hands over wasmtime-wasi's own streams and socket.
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:sockets": wasmtime_wasi::p2::bindings::sockets,
    },
});

pub use exports::alore::socket::socket::{
    Buffering, ConnectOptions, Error as SocketError, IoError, IoErrorKind,
};
