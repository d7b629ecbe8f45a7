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

pub(crate) use exports::alore::socket::socket::{
    Buffering, ConnectOptions, Error as SocketError, IoErrorKind,
};

/// Host bindings for the WASI 0.3 edition's contract, `alore:socket@0.2.0` (`wit-p3/`): its
/// async functions are called concurrently, from inside `Store::run_concurrent`.
pub(crate) mod p3 {
    wasmtime::component::bindgen!({
        path: "../wit-p3",
        world: "provider",
        exports: { default: async | store },
    });

    pub(crate) use exports::alore::socket::socket::{
        Buffering, ConnectOptions, Error as SocketError, IoErrorKind,
    };
}
