//! The contract's types as the host library offers them: one set for both editions (the
//! bindings of each contract convert into them), so an embedder's code does not change with
//! the edition it runs.

/// When written bytes are handed to the network (the WIT's `buffering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Buffering {
    /// Every write is sent before it returns. The default.
    Unbuffered,
    /// Writes collect in a 256-byte buffer sent at each line feed, when full, on flush.
    LineBuffered,
    /// Writes collect in an 8192-byte buffer sent when full and on flush.
    Buffered,
}

/// How `connect_with` connects (the WIT's `connect-options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectOptions {
    /// The buffering mode; `None`: unbuffered.
    pub buffering: Option<Buffering>,
    /// Give up connecting after this many milliseconds, with `timed-out`.
    pub timeout_ms: Option<u32>,
}

/// What kind of I/O failure happened (the WIT's `io-error-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoErrorKind {
    /// ECONNREFUSED.
    ConnectionRefused,
    /// ECONNRESET, ECONNABORTED, EPIPE.
    ConnectionReset,
    /// EHOSTUNREACH, ENETUNREACH.
    Unreachable,
    /// ETIMEDOUT, or a `set-timeout`/`set-deadline` limit.
    TimedOut,
    /// The host's policy said no.
    AccessDenied,
    /// `read-ln` found nothing left.
    EndOfStream,
    /// The socket was closed.
    Closed,
    /// Descriptors, memory, or the line limit ran out.
    LimitExceeded,
    /// A server socket's port is taken (its own kind in the WASI 0.3 edition; `Other` in 0.2).
    AddressInUse,
    /// A server socket's address is not this host's (as [`IoErrorKind::AddressInUse`]).
    AddressNotAvailable,
    /// Anything else; the message says what.
    Other,
}

impl IoErrorKind {
    /// The kind's name in the WIT, e.g. `connection-refused`.
    pub fn name(self) -> &'static str {
        match self {
            IoErrorKind::ConnectionRefused => "connection-refused",
            IoErrorKind::ConnectionReset => "connection-reset",
            IoErrorKind::Unreachable => "unreachable",
            IoErrorKind::TimedOut => "timed-out",
            IoErrorKind::AccessDenied => "access-denied",
            IoErrorKind::EndOfStream => "end-of-stream",
            IoErrorKind::Closed => "closed",
            IoErrorKind::LimitExceeded => "limit-exceeded",
            IoErrorKind::AddressInUse => "address-in-use",
            IoErrorKind::AddressNotAvailable => "address-not-available",
            IoErrorKind::Other => "other",
        }
    }
}

/// Alore's `IoError` (the WIT's `io-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoError {
    /// What happened, for code.
    pub kind: IoErrorKind,
    /// What happened, for people.
    pub message: String,
}

/// An error of the contract (the WIT's `error`): Alore's `NameError`, `ValueError`, `IoError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketError {
    /// A name did not resolve, or an address has no name.
    NameError(String),
    /// An argument is malformed; nothing was sent or looked up.
    ValueError(String),
    /// The network or the socket's state said no.
    IoError(IoError),
}

/// Converts one edition's generated contract types to and from the host's.
macro_rules! convert {
    ($edition:path) => {
        const _: () = {
            use $edition as generated;

            impl From<Buffering> for generated::Buffering {
                fn from(mode: Buffering) -> Self {
                    match mode {
                        Buffering::Unbuffered => generated::Buffering::Unbuffered,
                        Buffering::LineBuffered => generated::Buffering::LineBuffered,
                        Buffering::Buffered => generated::Buffering::Buffered,
                    }
                }
            }

            impl From<ConnectOptions> for generated::ConnectOptions {
                fn from(options: ConnectOptions) -> Self {
                    generated::ConnectOptions {
                        buffering: options.buffering.map(Into::into),
                        timeout_ms: options.timeout_ms,
                    }
                }
            }

            impl From<generated::SocketError> for SocketError {
                fn from(e: generated::SocketError) -> Self {
                    match e {
                        generated::SocketError::NameError(m) => SocketError::NameError(m),
                        generated::SocketError::ValueError(m) => SocketError::ValueError(m),
                        generated::SocketError::IoError(e) => SocketError::IoError(IoError {
                            kind: e.kind.into(),
                            message: e.message,
                        }),
                    }
                }
            }
        };
    };
}

convert!(crate::bindings);
convert!(crate::bindings::p3);

impl From<crate::bindings::IoErrorKind> for IoErrorKind {
    fn from(kind: crate::bindings::IoErrorKind) -> Self {
        use crate::bindings::IoErrorKind as K;
        match kind {
            K::ConnectionRefused => IoErrorKind::ConnectionRefused,
            K::ConnectionReset => IoErrorKind::ConnectionReset,
            K::Unreachable => IoErrorKind::Unreachable,
            K::TimedOut => IoErrorKind::TimedOut,
            K::AccessDenied => IoErrorKind::AccessDenied,
            K::EndOfStream => IoErrorKind::EndOfStream,
            K::Closed => IoErrorKind::Closed,
            K::LimitExceeded => IoErrorKind::LimitExceeded,
            K::Other => IoErrorKind::Other,
        }
    }
}

impl From<crate::bindings::p3::IoErrorKind> for IoErrorKind {
    fn from(kind: crate::bindings::p3::IoErrorKind) -> Self {
        use crate::bindings::p3::IoErrorKind as K;
        match kind {
            K::ConnectionRefused => IoErrorKind::ConnectionRefused,
            K::ConnectionReset => IoErrorKind::ConnectionReset,
            K::Unreachable => IoErrorKind::Unreachable,
            K::TimedOut => IoErrorKind::TimedOut,
            K::AccessDenied => IoErrorKind::AccessDenied,
            K::EndOfStream => IoErrorKind::EndOfStream,
            K::Closed => IoErrorKind::Closed,
            K::LimitExceeded => IoErrorKind::LimitExceeded,
            K::AddressInUse => IoErrorKind::AddressInUse,
            K::AddressNotAvailable => IoErrorKind::AddressNotAvailable,
            K::Other => IoErrorKind::Other,
        }
    }
}
