//! The one mapping from WASI 0.2's failures (`wasi:sockets` error codes, `wasi:io` errors) to
//! the component's error.

use alore_socket_rules::one_line;
use wasip2::io::error::Error as WasiError;
use wasip2::sockets::network::ErrorCode;

use crate::error::{Error, IoKind, from_host_text, message_of};

/// The one mapping from a `wasi:sockets` error code to our error.
pub(crate) fn from_code(code: ErrorCode) -> Error {
    let kind = match code {
        ErrorCode::ConnectionRefused => IoKind::ConnectionRefused,
        ErrorCode::ConnectionReset | ErrorCode::ConnectionAborted => IoKind::ConnectionReset,
        ErrorCode::RemoteUnreachable => IoKind::Unreachable,
        ErrorCode::Timeout => IoKind::TimedOut,
        ErrorCode::AccessDenied => IoKind::AccessDenied,
        ErrorCode::NewSocketLimit => IoKind::LimitExceeded,
        ErrorCode::OutOfMemory => return Error::out_of_memory(),
        // The resolver's codes: Alore's NameError messages for the matching `h_errno`.
        ErrorCode::NameUnresolvable => return Error::Name("Unknown host".into()),
        ErrorCode::TemporaryResolverFailure => {
            return Error::Name("Temporary name server error".into());
        }
        // wasmtime answers this for every lookup when the host does not allow lookups.
        ErrorCode::PermanentResolverFailure => {
            return Error::Name(
                "Unrecoverable name server error (is name lookup allowed by the host?)".into(),
            );
        }
        // Reported as `other` by the 0.1.x contract, whose enum cannot take new cases.
        ErrorCode::AddressInUse => IoKind::AddressInUse,
        ErrorCode::AddressNotBindable => IoKind::AddressNotAvailable,
        // WASI's messages run over several lines ("…invalid.\n\nPOSIX equivalent: …"); the
        // first says it, and the code's name says the rest.
        other => {
            let message = other.message();
            let first = message.lines().next().unwrap_or_default();
            return Error::io(
                IoKind::Other,
                format!("{} [{}]", one_line(first), other.name()),
            );
        }
    };
    Error::io(kind, message_of(kind))
}

/// A `stream-error::last-operation-failed` on a TCP stream. WASI 0.2 gives only a debug
/// string here (`network-error-code` is unstable), so the kind is read from it: wasmtime
/// prints Rust's `io::Error`, whose `kind: ConnectionReset` names the failure portably.
pub(crate) fn from_stream(error: &WasiError) -> Error {
    from_host_text(&error.to_debug_string(), "")
}

/// A failure the host reports as an error resource's text, e.g. a TLS handshake's: its
/// kind read from the text, and the text cut to what it says, after `prefix`.
#[cfg(feature = "tls")]
pub(crate) fn from_host_error(error: &WasiError, prefix: &str) -> Error {
    from_host_text(&error.to_debug_string(), prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_messages_are_folded_to_one_line() {
        let Error::Io { message, .. } = from_code(ErrorCode::InvalidArgument) else {
            panic!("an io-error");
        };
        assert!(
            !message.contains('\n') && message.ends_with("[invalid-argument]"),
            "{message:?}"
        );
    }
}
