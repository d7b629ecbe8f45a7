//! TLS for the component's TLS build: the `wasi:tls` provider each store gets. rustls, with
//! ring, verifies server certificates against Mozilla's roots (kept in the binary by
//! `webpki-roots`, so every machine trusts the same set) and the policy's extra roots. A
//! store whose policy does not allow TLS has no `wasi:tls` linked at all (`runtime`); its
//! provider refuses every handshake all the same, should anything reach it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use wasmtime_wasi_tls::{Error as TlsError, TlsProvider, TlsStream, TlsTransport};

/// Roots in PEM: every `CERTIFICATE` block of `pem`; an error if there is none or one is
/// malformed.
pub(crate) fn parse_roots(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let roots = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    if roots.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(roots)
}

/// The provider of a store whose policy allows TLS.
pub(crate) struct Provider {
    config: Arc<ClientConfig>,
}

impl Provider {
    /// Trusting Mozilla's roots and `extra`.
    pub(crate) fn new(extra: &[CertificateDer<'static>]) -> Result<Self, String> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        for root in extra {
            roots
                .add(root.clone())
                .map_err(|e| format!("a root the policy gave is not usable: {e}"))?;
        }
        // ring, named here: the process default would depend on which rustls features other
        // crates of the build switched on.
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Provider {
            config: Arc::new(config),
        })
    }
}

type Connecting =
    std::pin::Pin<Box<dyn Future<Output = Result<Box<dyn TlsStream>, TlsError>> + Send>>;

/// Marks a server name the host refused before the handshake (`crate::guard`): what follows
/// is why, which the handshake then fails with. A NUL cannot start a DNS name, and a guest's
/// own name that starts so is refused as invalid before it gets here.
pub(crate) const REFUSED_NAME: &str = "\u{0}refused:";

impl TlsProvider for Provider {
    fn connect(&self, server_name: String, transport: Box<dyn TlsTransport>) -> Connecting {
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            if let Some(why) = server_name.strip_prefix(REFUSED_NAME) {
                return Err(TlsError::msg(why.to_owned()));
            }
            let name = ServerName::try_from(server_name)
                .map_err(|_| TlsError::msg("not a valid server name"))?;
            let failure = Failure::default();
            let transport = Watched {
                inner: transport,
                failure: failure.clone(),
            };
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, transport)
                .await
                .map_err(|e| match e.downcast::<rustls::Error>() {
                    Ok(e) => TlsError::msg(e),
                    // The TCP connection's own failure (a reset, say), in the words the
                    // component reads a kind from, rather than the TLS layer's "other".
                    Err(e) => TlsError::msg(failure.explain(e)),
                })?;
            Ok(Box::new(Watched {
                inner: stream,
                failure,
            }) as Box<dyn TlsStream>)
        })
    }
}

/// The first failure of a TLS connection's TCP streams, as the `io::Error` the operating
/// system gave. wasmtime-wasi-tls hands the TLS layer the TCP streams' errors wrapped as
/// `other` and turns a closed stream into `WriteZero`, so without this a reset over TLS
/// would reach the component as `other`, where plain TCP says `connection-reset`.
#[derive(Clone, Default)]
struct Failure(Arc<std::sync::Mutex<Option<Cause>>>);

/// What the system said of a failure: its kind, and its error number when it gave one.
type Cause = (std::io::ErrorKind, Option<i32>);

impl Failure {
    /// Remember `e`'s cause, if it is the first failure and one the system named.
    fn note(&self, e: &std::io::Error) {
        let mut first = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = cause(e).map(|cause| (cause.kind(), cause.raw_os_error()));
        }
    }

    /// `e`, or the TCP failure behind it: what a TLS stream's error means to its reader.
    fn explain(&self, e: std::io::Error) -> std::io::Error {
        if !matches!(
            e.kind(),
            std::io::ErrorKind::Other | std::io::ErrorKind::WriteZero
        ) {
            return e;
        }
        match *self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((_, Some(code))) => std::io::Error::from_raw_os_error(code),
            Some((kind, None)) => kind.into(),
            None => e,
        }
    }
}

/// The operating system's error behind `e`: `e` itself, or the one inside a WASI stream's
/// "last operation failed" that wasmtime-wasi-tls wrapped as `other`.
fn cause(e: &std::io::Error) -> Option<std::io::Error> {
    if let Some(code) = e.raw_os_error() {
        return Some(std::io::Error::from_raw_os_error(code));
    }
    if e.kind() != std::io::ErrorKind::Other {
        return Some(e.kind().into());
    }
    match e
        .get_ref()?
        .downcast_ref::<wasmtime_wasi::p2::StreamError>()?
    {
        wasmtime_wasi::p2::StreamError::LastOperationFailed(inner) => {
            cause(inner.downcast_ref::<std::io::Error>()?)
        }
        _ => None,
    }
}

/// A stream whose failures are noted in (the transport) or explained by (the TLS stream)
/// one [`Failure`].
struct Watched<S> {
    inner: S,
    failure: Failure,
}

impl<S> Watched<S> {
    /// Note (on the transport) and explain (on the TLS stream) a failure: the transport's
    /// are noted before the TLS layer sees them, so the TLS stream's can be explained.
    fn watch<T>(&self, poll: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match poll {
            Poll::Ready(Err(e)) => {
                self.failure.note(&e);
                Poll::Ready(Err(self.failure.explain(e)))
            }
            other => other,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.watch(poll)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        self.watch(poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(poll)
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> TlsStream for Watched<S> {}

/// The provider of a store whose policy does not allow TLS.
pub(crate) struct Refused;

impl TlsProvider for Refused {
    fn connect(&self, _: String, _: Box<dyn TlsTransport>) -> Connecting {
        Box::pin(async { Err(TlsError::msg("not allowed by the host's policy")) })
    }
}
