//! The host library's error type.

use crate::types::{IoErrorKind, SocketError};
use alore_socket_rules::one_line;

/// Everything that can go wrong when running the component. Every message is one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// Something a policy was given cannot be used: e.g. a PEM file with no certificate.
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// The host could not set up a store as its policy asks: e.g. the private `/etc` could
    /// not be made.
    #[error("cannot set up the store: {0}")]
    Setup(String),
    /// An application could not be composed with the component.
    #[error("cannot compose: {0}")]
    Compose(String),
    /// A component (this one, or an application) could not be read or compiled.
    #[error("cannot load {what}: {message}")]
    Load {
        /// Which component: e.g. `the component from alore_socket.wasm`, `the application`.
        what: String,
        /// Why, on one line.
        message: String,
    },
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

    pub(crate) fn load(what: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Error::Load {
            what: one_line(&what.to_string()),
            message: one_line(&message.to_string()),
        }
    }

    pub(crate) fn setup(message: impl std::fmt::Display) -> Self {
        Error::Setup(one_line(&message.to_string()))
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
            format!("IoError ({}): {}", e.kind.name(), one_line(&e.message))
        }
    }
}
