//! The component's error type, its messages, and the reading of a host's error text. Each
//! edition maps its own WASI error codes onto it (`p2::wasi_error`, `p3::wasi_error`).

use alore_socket_rules::host_text;

/// What kind of I/O failure happened; mirrors the WIT `io-error-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoKind {
    ConnectionRefused,
    ConnectionReset,
    Unreachable,
    TimedOut,
    AccessDenied,
    EndOfStream,
    Closed,
    LimitExceeded,
    /// A server socket's port is taken: its own kind in 0.2.0, `other` in 0.1.x.
    AddressInUse,
    /// A server socket's address is not this host's: its own kind in 0.2.0, `other` in 0.1.x.
    AddressNotAvailable,
    Other,
}

/// Every failure of the socket module: Alore's `NameError`, `ValueError` and `IoError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Error {
    #[error("NameError: {0}")]
    Name(String),
    #[error("ValueError: {0}")]
    Value(String),
    #[error("IoError: {message}")]
    Io { kind: IoKind, message: String },
}

impl Error {
    pub(crate) fn io(kind: IoKind, message: impl Into<String>) -> Self {
        Error::Io {
            kind,
            message: message.into(),
        }
    }

    /// Every operation but `close` on a closed socket (docs/semantics.md, "Closing").
    pub(crate) fn closed() -> Self {
        Error::io(IoKind::Closed, "Socket is closed")
    }

    /// A lookup of `name` the host's policy refused (`access-denied`): no rule allows the name.
    pub(crate) fn lookup_denied(name: &str) -> Self {
        Error::Name(format!(
            "Name lookup not allowed by the host's policy: no rule allows {name}"
        ))
    }

    /// `read-ln` with nothing left: Alore's exact message.
    pub(crate) fn end_of_stream() -> Self {
        Error::io(IoKind::EndOfStream, "Read at end of file")
    }

    /// A call of the core waited asynchronously over a transport that never does (the WASI
    /// 0.2 edition's): a bug, reported rather than trapped on.
    #[cfg_attr(
        feature = "p3",
        expect(dead_code, reason = "only the WASI 0.2 edition blocks")
    )]
    pub(crate) fn waited() -> Self {
        Error::io(
            IoKind::Other,
            "internal error: a blocking transport waited asynchronously",
        )
    }

    /// The component could not get memory for data it was asked to hold.
    pub(crate) fn out_of_memory() -> Self {
        Error::io(IoKind::LimitExceeded, "Out of memory [ENOMEM]")
    }
}

/// Alore's message for each kind, in its `"<text> [<ERRNO>]"` form.
pub(crate) fn message_of(kind: IoKind) -> &'static str {
    match kind {
        IoKind::ConnectionRefused => "Connection refused [ECONNREFUSED]",
        IoKind::ConnectionReset => "Connection reset by peer [ECONNRESET]",
        IoKind::Unreachable => "No route to host [EHOSTUNREACH]",
        IoKind::TimedOut => "Operation timed out [ETIMEDOUT]",
        IoKind::AccessDenied => "Permission denied by the host's network policy [EACCES]",
        IoKind::LimitExceeded => "Too many open sockets [EMFILE]",
        IoKind::AddressInUse => "Address in use [EADDRINUSE]",
        IoKind::AddressNotAvailable => "Local address not available [EADDRNOTAVAIL]",
        IoKind::EndOfStream | IoKind::Closed | IoKind::Other => "",
    }
}

/// A failure the host reports only as text (a stream's last-operation-failed, a TLS error):
/// its kind read from the text, the message Alore's for that kind or else the text, cut to
/// what it says, after `prefix`.
pub(crate) fn from_host_text(text: &str, prefix: &str) -> Error {
    let text = host_text(text);
    let kind = classify(&text);
    match (prefix, message_of(kind)) {
        ("", "") => Error::io(kind, text),
        ("", message) => Error::io(kind, message),
        (prefix, _) => Error::io(kind, format!("{prefix}{text}")),
    }
}

/// The kind named in a host's error text, `Other` when none is recognised: Rust's
/// `io::ErrorKind` names (what wasmtime prints) and the system's own words.
fn classify(text: &str) -> IoKind {
    const NAMES: [(&str, IoKind); 15] = [
        ("ConnectionReset", IoKind::ConnectionReset),
        ("ConnectionAborted", IoKind::ConnectionReset),
        ("BrokenPipe", IoKind::ConnectionReset),
        ("Broken pipe", IoKind::ConnectionReset),
        ("reset", IoKind::ConnectionReset),
        ("ConnectionRefused", IoKind::ConnectionRefused),
        ("Connection refused", IoKind::ConnectionRefused),
        ("TimedOut", IoKind::TimedOut),
        ("timed out", IoKind::TimedOut),
        ("HostUnreachable", IoKind::Unreachable),
        ("NetworkUnreachable", IoKind::Unreachable),
        ("PermissionDenied", IoKind::AccessDenied),
        ("OutOfMemory", IoKind::LimitExceeded),
        // The host's socket limit (WASI 0.3 has no error code for it), and the system's.
        ("EMFILE", IoKind::LimitExceeded),
        ("Too many open files", IoKind::LimitExceeded),
    ];
    NAMES
        .iter()
        .find(|(name, _)| text.contains(name))
        .map_or(IoKind::Other, |&(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_rust_io_error_debug_text() {
        let reset =
            r#"Os { code: 104, kind: ConnectionReset, message: "Connection reset by peer" }"#;
        assert_eq!(classify(reset), IoKind::ConnectionReset);
        let pipe = r#"Os { code: 32, kind: BrokenPipe, message: "Broken pipe" }"#;
        assert_eq!(classify(pipe), IoKind::ConnectionReset);
        assert_eq!(classify("something else"), IoKind::Other);
        // A TLS handshake's error is the system's text, as Rust displays an io::Error.
        let handshake = "\"Connection reset by peer (os error 104)\"";
        assert_eq!(classify(handshake), IoKind::ConnectionReset);
        assert_eq!(
            classify("Broken pipe (os error 32)"),
            IoKind::ConnectionReset
        );
        assert_eq!(
            classify("Connection timed out (os error 110)"),
            IoKind::TimedOut
        );
    }
}
