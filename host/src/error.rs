//! The host library's error type.

use std::path::PathBuf;

pub use alore_socket_rules::one_line;

use crate::bindings::{IoErrorKind, SocketError};

/// Everything that can go wrong when running the component.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component answered with an error of the contract: Alore's `NameError`,
    /// `ValueError` or `IoError`.
    #[error("{}", describe(.0))]
    Socket(SocketError),
    /// The component trapped, or wasmtime failed to run it. The instance is not usable after
    /// a trap.
    #[error("the component failed: {}", describe_failure(.0.as_ref()))]
    Wasm(Box<dyn std::error::Error + Send + Sync>),
    /// The call ran past [`crate::Policy::call_deadline`] and was stopped, wherever it was:
    /// in the guest's code or waiting in the host for the network. The instance is not
    /// usable after it.
    #[error("the call ran past its deadline ({0:?}) and was stopped")]
    Deadline(std::time::Duration),
    /// The policy does not grant what a component needs to run (e.g. an application that
    /// imports `wasi:tls` under a policy that does not allow TLS).
    #[error("not allowed by the policy: {0}")]
    Denied(String),
    /// An application could not be composed with the component.
    #[error("cannot compose: {0}")]
    Compose(String),
    /// The component file could not be found, built, read or compiled.
    #[error("cannot load the component from {path}: {message}")]
    Load { path: PathBuf, message: String },
}

/// A trap's cause first (wasmtime puts it last in the chain, under its backtrace), then the
/// rest, on one line.
fn describe_failure(e: &(dyn std::error::Error + 'static)) -> String {
    let mut root = e;
    while let Some(source) = root.source() {
        root = source;
    }
    if std::ptr::addr_eq(root, e) {
        one_line(&e.to_string())
    } else {
        one_line(&format!("{root} ({e})"))
    }
}

// Written out rather than `#[from]`, which would also make the contract error this error's
// `source` and print its text twice in a report of the whole chain.
impl From<SocketError> for Error {
    fn from(e: SocketError) -> Self {
        Error::Socket(e)
    }
}

impl Error {
    pub(crate) fn wasm(e: wasmtime::Error) -> Self {
        Error::Wasm(e.into_boxed_dyn_error())
    }

    /// The error for a call [`crate::runtime::block_on`] stopped at `deadline`.
    pub(crate) fn deadline(deadline: Option<std::time::Duration>) -> Self {
        Error::Deadline(deadline.unwrap_or_default())
    }

    pub(crate) fn load(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Load {
            path: path.into(),
            message: one_line(&message.to_string()),
        }
    }

    /// The I/O error kind, when this is an `io-error` from the component.
    pub fn io_kind(&self) -> Option<IoErrorKind> {
        match self {
            Error::Socket(SocketError::IoError(e)) => Some(e.kind),
            _ => None,
        }
    }

    /// Whether this is Alore's `socket::NameError`.
    pub fn is_name_error(&self) -> bool {
        matches!(self, Error::Socket(SocketError::NameError(_)))
    }

    /// Whether this is Alore's `ValueError`.
    pub fn is_value_error(&self) -> bool {
        matches!(self, Error::Socket(SocketError::ValueError(_)))
    }
}

/// `NameError: …`, `ValueError: …` or `IoError (kind): …`, with the WIT's names.
fn describe(error: &SocketError) -> String {
    match error {
        SocketError::NameError(message) => format!("NameError: {}", one_line(message)),
        SocketError::ValueError(message) => format!("ValueError: {}", one_line(message)),
        SocketError::IoError(e) => {
            format!("IoError ({}): {}", kind_name(e.kind), one_line(&e.message))
        }
    }
}

/// The WIT name of an I/O error kind.
pub fn kind_name(kind: IoErrorKind) -> &'static str {
    match kind {
        IoErrorKind::ConnectionRefused => "connection-refused",
        IoErrorKind::ConnectionReset => "connection-reset",
        IoErrorKind::Unreachable => "unreachable",
        IoErrorKind::TimedOut => "timed-out",
        IoErrorKind::AccessDenied => "access-denied",
        IoErrorKind::EndOfStream => "end-of-stream",
        IoErrorKind::Closed => "closed",
        IoErrorKind::LimitExceeded => "limit-exceeded",
        IoErrorKind::Other => "other",
    }
}
