//! The one mapping from WASI 0.3's error codes (`wasi:sockets/types`, `ip-name-lookup`) to
//! the component's error.

use alore_socket_rules::one_line;

use super::wasi::sockets::ip_name_lookup::ErrorCode as LookupCode;
use super::wasi::sockets::types::ErrorCode;
use crate::error::{Error, IoKind, from_host_text, message_of};

/// A wait that passed its deadline.
pub(crate) fn timed_out() -> Error {
    Error::io(IoKind::TimedOut, message_of(IoKind::TimedOut))
}

/// The one mapping from a `wasi:sockets` error code to our error.
pub(crate) fn from_code(code: ErrorCode) -> Error {
    let kind = match code {
        ErrorCode::ConnectionRefused => IoKind::ConnectionRefused,
        ErrorCode::ConnectionReset | ErrorCode::ConnectionAborted | ErrorCode::ConnectionBroken => {
            IoKind::ConnectionReset
        }
        ErrorCode::RemoteUnreachable => IoKind::Unreachable,
        ErrorCode::Timeout => IoKind::TimedOut,
        ErrorCode::AccessDenied => IoKind::AccessDenied,
        ErrorCode::OutOfMemory => return Error::out_of_memory(),
        ErrorCode::AddressInUse => IoKind::AddressInUse,
        ErrorCode::AddressNotBindable => IoKind::AddressNotAvailable,
        // The host's own words: the kind read from them, as for WASI 0.2's stream errors.
        ErrorCode::Other(Some(text)) => return from_host_text(&text, ""),
        other => {
            return Error::io(IoKind::Other, format!("{other:?}"));
        }
    };
    Error::io(kind, message_of(kind))
}

/// The one mapping from a lookup's error code to our error: Alore's `NameError`s.
pub(crate) fn from_lookup(code: LookupCode, name: &str) -> Error {
    match code {
        LookupCode::InvalidArgument => Error::Value(format!("Invalid host name: {name:?}")),
        LookupCode::NameUnresolvable => Error::Name("Unknown host".into()),
        LookupCode::TemporaryResolverFailure => Error::Name("Temporary name server error".into()),
        // The host's policy: this host says `access-denied`, wasmtime's own lookup
        // `permanent-resolver-failure` when it allows no lookups.
        LookupCode::AccessDenied => Error::lookup_denied(name),
        LookupCode::PermanentResolverFailure => Error::Name(
            "Unrecoverable name server error (is name lookup allowed by the host?)".into(),
        ),
        LookupCode::Other(text) => Error::Name(format!(
            "Name server error: {}",
            one_line(text.as_deref().unwrap_or("unknown"))
        )),
    }
}
