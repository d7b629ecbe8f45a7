//! TLS for the component's TLS build: the `wasi:tls` provider each store gets. rustls, with
//! ring, verifies server certificates against Mozilla's roots (kept in the binary by
//! `webpki-roots`, so every machine trusts the same set) and the policy's extra roots. A
//! policy that does not allow TLS gets a provider that refuses every handshake, so that
//! nothing in a store (the application plugged into the component included) can use
//! `wasi:tls` unless the policy says so.

use std::sync::Arc;

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

impl TlsProvider for Provider {
    fn connect(&self, server_name: String, transport: Box<dyn TlsTransport>) -> Connecting {
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let name = ServerName::try_from(server_name)
                .map_err(|_| TlsError::msg("not a valid server name"))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, transport)
                .await
                .map_err(|e| match e.downcast::<rustls::Error>() {
                    Ok(e) => TlsError::msg(e),
                    Err(e) => TlsError::msg(e),
                })?;
            Ok(Box::new(stream) as Box<dyn TlsStream>)
        })
    }
}

/// The provider of a store whose policy does not allow TLS.
pub(crate) struct Refused;

impl TlsProvider for Refused {
    fn connect(&self, _: String, _: Box<dyn TlsTransport>) -> Connecting {
        Box::pin(async { Err(TlsError::msg("not allowed by the host's policy")) })
    }
}
