//! TLS for the component's TLS build: the `wasi:tls` host each store gets, written here rather
//! than taken from wasmtime-wasi-tls. rustls, with ring, verifies server certificates against
//! Mozilla's roots (kept in the binary by `webpki-roots`, so every machine trusts the same set)
//! and the policy's extra roots. A store whose policy does not allow TLS has no `wasi:tls`
//! linked at all (`runtime`); its stores hold no configuration, so a handshake that reached
//! them anyway would be refused.
//!
//! The TLS work happens inside the guest's own calls on the TLS streams, on the thread that
//! runs them: a read decrypts what the TCP stream has, a write encrypts and hands the records
//! to the TCP stream. wasmtime-wasi-tls ran each connection through a task of its own, with a
//! channel one chunk deep each way, so every record cost a wake-up of another task (the
//! cost #25 measured: 12-19x native TLS on a round trip under load).

pub(crate) mod p2;
pub(crate) mod p3;

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

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

/// The client configuration of a store whose policy allows TLS: trusting Mozilla's roots and
/// `extra`.
pub(crate) fn client_config(
    extra: &[CertificateDer<'static>],
) -> Result<Arc<ClientConfig>, String> {
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
    Ok(Arc::new(config))
}

/// The most bytes one read takes from the TCP stream, and one record batch hands it: what
/// wasmtime-wasi's TCP streams move per call, so a TLS stream costs the TCP stream no more
/// calls than plain TCP would.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Why a handshake never starts: the name, checked before anything is sent.
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned()).map_err(|_| "not a valid server name".to_owned())
}

/// A client connection's TLS state, shared by both halves of the connection: rustls's, and
/// whether the client said it is done sending (`close_notify`).
pub(crate) struct Session {
    pub(crate) conn: ClientConnection,
    /// `close_notify` is queued: nothing more may be written.
    pub(crate) closing: bool,
}

impl Session {
    /// A session for `name` under `config`, its buffers bounded by the caller (a write stream
    /// hands rustls no more than it granted; see `p2`), so rustls's own limit is off: its
    /// partial writes would break a grant already given.
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Session, rustls::Error> {
        let mut conn = ClientConnection::new(config, name)?;
        conn.set_buffer_limit(None);
        Ok(Session {
            conn,
            closing: false,
        })
    }

    /// Give rustls the ciphertext in `pending`, as much as it takes before it has plaintext
    /// to hand out (it then holds one record, no more), processing each record. What it
    /// does not take stays in `pending`.
    pub(crate) fn feed(&mut self, pending: &mut Bytes) -> Result<(), rustls::Error> {
        let taken = self.feed_from(pending);
        pending.advance(taken.as_ref().map_or(0, |n| *n));
        taken.map(drop)
    }

    /// [`Session::feed`] from a slice: how much of `pending` rustls took (what it took is
    /// processed even when a record fails).
    pub(crate) fn feed_from(&mut self, pending: &[u8]) -> Result<usize, rustls::Error> {
        let mut source = pending;
        while !source.is_empty() && self.conn.wants_read() {
            // An error: rustls's buffer is full; it takes more once its plaintext is read.
            let taken = self.conn.read_tls(&mut source).unwrap_or_default();
            self.conn.process_new_packets()?;
            if taken == 0 {
                break;
            }
        }
        Ok(pending.len() - source.len())
    }

    /// Tell rustls the TCP stream ended.
    pub(crate) fn end(&mut self) -> Result<(), rustls::Error> {
        let _ = self.conn.read_tls(&mut std::io::empty());
        self.conn.process_new_packets().map(drop)
    }

    /// Plaintext bytes ready to be read.
    pub(crate) fn readable(&mut self) -> Result<usize, rustls::Error> {
        Ok(self.conn.process_new_packets()?.plaintext_bytes_to_read())
    }

    /// Up to `max` bytes of plaintext, appended to `out`: how many.
    pub(crate) fn read_plaintext(&mut self, out: &mut Vec<u8>, max: usize) -> usize {
        let start = out.len();
        out.resize(start + max, 0);
        let n = self.conn.reader().read(&mut out[start..]).unwrap_or(0);
        out.truncate(start + n);
        n
    }

    /// Whether the peer's stream has ended: cleanly (`close_notify`) or not (a truncation,
    /// which fails the read that finds it).
    pub(crate) fn ended(&mut self) -> Option<Result<(), std::io::Error>> {
        if self.readable().map_or(true, |n| n > 0) {
            return None;
        }
        // With nothing buffered, a read of one byte says whether more can come.
        match self.conn.reader().read(&mut [0]) {
            Ok(_) => Some(Ok(())),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the peer ended the connection without TLS's close_notify (truncated)",
                )))
            }
            Err(_) => None,
        }
    }

    /// Up to `max` bytes of the records rustls has ready to send.
    pub(crate) fn take_ciphertext(&mut self, max: usize) -> Vec<u8> {
        let mut out = Capped {
            bytes: Vec::new(),
            room: max,
        };
        while out.room > 0 && self.conn.wants_write() {
            match self.conn.write_tls(&mut out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        out.bytes
    }

    /// Queue `close_notify`: the end of what this side sends.
    pub(crate) fn close(&mut self) {
        if !self.closing {
            self.conn.send_close_notify();
            self.closing = true;
        }
    }
}

/// A writer that takes at most `room` more bytes.
struct Capped {
    bytes: Vec<u8>,
    room: usize,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(self.room);
        self.bytes.extend_from_slice(&data[..n]);
        self.room -= n;
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let mut total = 0;
        for buf in bufs {
            let n = self.write(buf)?;
            total += n;
            if n < buf.len() {
                break;
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
