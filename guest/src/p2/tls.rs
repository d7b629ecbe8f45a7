//! `start-tls`: the TLS client handshake through the host's `wasi:tls` (the TLS build, feature
//! `tls`), or the error that says why there is none (the standard build). Certificates, roots
//! and cryptography are the host's: the component hands it the TCP streams and the server
//! name, and goes on over the streams it gets back.

use crate::error::Error;

/// Why the standard build cannot start TLS: the host's policy (as the host says through
/// [`TLS_ENV`]), or this build.
#[cfg(not(feature = "tls"))]
pub(crate) fn unavailable() -> Error {
    use alore_socket_rules::{TLS_DENIED, TLS_ENV};
    let message = if std::env::var(TLS_ENV).is_ok_and(|v| v == TLS_DENIED) {
        "TLS: not allowed by the host's policy"
    } else {
        "TLS: not available in this build (the TLS build is alore_socket_tls.wasm)"
    };
    Error::io(crate::error::IoKind::Other, message)
}

#[cfg(feature = "tls")]
pub(crate) use tls_build::*;

#[cfg(feature = "tls")]
mod tls_build {
    use wasip2::io::streams::{InputStream, OutputStream};

    pub(crate) use crate::p2::wasi::tls::types::ClientConnection;
    use crate::p2::wasi::tls::types::ClientHandshake;

    use super::*;
    use crate::error::IoKind;
    use crate::p2::net::Deadline;

    /// Run the handshake over `input` and `output` by `deadline`: the host's TLS connection
    /// and its streams.
    pub(crate) fn handshake(
        server_name: &str,
        input: InputStream,
        output: OutputStream,
        deadline: Deadline,
    ) -> Result<(ClientConnection, InputStream, OutputStream), Error> {
        let future = ClientHandshake::finish(ClientHandshake::new(server_name, input, output));
        // A child of `future`: declared after it, so dropped before it on every return.
        let ready = future.subscribe();
        loop {
            if !deadline.wait(&ready) {
                return Err(Error::io(
                    IoKind::TimedOut,
                    "TLS: the handshake timed out [ETIMEDOUT]",
                ));
            }
            match future.get() {
                // A pollable may wake early.
                None => continue,
                Some(Ok(Ok(streams))) => return Ok(streams),
                Some(Ok(Err(e))) => {
                    return Err(crate::p2::wasi_error::from_host_error(&e, "TLS: "));
                }
                Some(Err(())) => {
                    return Err(Error::io(
                        IoKind::Other,
                        "TLS: the handshake's result was taken",
                    ));
                }
            }
        }
    }
}
