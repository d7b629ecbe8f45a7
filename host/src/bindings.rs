//! Host bindings for the `alore:socket` contract, generated from `wit/`.

wasmtime::component::bindgen!({ path: "../wit", world: "provider" });

pub use exports::alore::socket::socket::{
    Buffering, ConnectOptions, Error as SocketError, IoError, IoErrorKind,
};
