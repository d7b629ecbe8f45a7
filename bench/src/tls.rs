//! The TLS rows: bulk receive and round trips over TLS against a rustls server on 127.0.0.1,
//! for native code (rustls over `std::net`), the component called from the host, and the
//! composed consumer (both the component's TLS build, through the host's `wasi:tls`, which
//! is rustls too). Every client negotiates with the same server, so with the same cipher
//! suite, which the row titles name. The CA and certificate are made by each run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use alore_socket_host::blocking::Instance;
use alore_socket_host::{Policy, Runtime};
use anyhow::{Context, Result, anyhow};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls::{StreamOwned, crypto::ring::default_provider};

use crate::in_wasm::InWasm;
use crate::report::Row;
use crate::stats::percentile;
use crate::workload::Workload;
use crate::{from_host, native, progress};

use crate::workload::{CHUNK, Sizes, in_chunks};

/// The bench's own CA and a server configuration for "localhost" signed by it.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl Pki {
    pub(crate) fn new() -> Result<Self> {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate()?)?;
        let key = rcgen::KeyPair::generate()?;
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &ca)?;
        let provider = Arc::new(default_provider());
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )?;
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ca.der().to_vec()))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Pki {
            ca_pem: ca.pem(),
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }
}

/// A one-connection TLS server on its own thread.
pub(crate) struct TlsServer {
    pub(crate) port: u16,
    thread: thread::JoinHandle<Result<()>>,
}

type ServerStream = StreamOwned<ServerConnection, TcpStream>;

impl TlsServer {
    fn start(
        pki: &Pki,
        serve: impl FnOnce(&mut ServerStream) -> Result<()> + Send + 'static,
    ) -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let config = Arc::clone(&pki.server);
        let thread = thread::spawn(move || {
            crate::pin::server();
            let (s, _) = listener.accept()?;
            s.set_nodelay(true)?;
            let mut tls = StreamOwned::new(ServerConnection::new(config)?, s);
            serve(&mut tls)?;
            tls.conn.send_close_notify();
            let _ = tls.flush();
            Ok(())
        });
        Ok(TlsServer { port, thread })
    }

    /// Serves `size` bytes in 64 KiB writes.
    pub(crate) fn bytes(pki: &Pki, size: usize) -> Result<Self> {
        TlsServer::start(pki, move |tls| {
            in_chunks(size, |chunk| Ok(tls.write_all(chunk)?))
        })
    }

    /// Echoes lines until the client goes.
    pub(crate) fn echo(pki: &Pki) -> Result<Self> {
        TlsServer::start(pki, |tls| {
            let mut line = Vec::new();
            loop {
                line.clear();
                let mut byte = [0u8];
                loop {
                    match tls.read(&mut byte) {
                        Ok(1) => {
                            line.push(byte[0]);
                            if byte[0] == b'\n' {
                                break;
                            }
                        }
                        _ => return Ok(()),
                    }
                }
                tls.write_all(&line)?;
                tls.flush()?;
            }
        })
    }

    pub(crate) fn finish(self) -> Result<()> {
        self.thread
            .join()
            .map_err(|_| anyhow!("a TLS server thread panicked"))?
    }
}

type ClientStream = StreamOwned<ClientConnection, TcpStream>;

/// A native TLS connection over `s` with its handshake done; the cipher suite it negotiated.
fn native_connect(pki: &Pki, s: TcpStream) -> Result<(ClientStream, String)> {
    s.set_nodelay(true)?;
    let name = ServerName::try_from("localhost")?;
    let mut tls = StreamOwned::new(ClientConnection::new(Arc::clone(&pki.client), name)?, s);
    tls.conn.complete_io(&mut tls.sock)?;
    let suite = tls
        .conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .context("no cipher suite negotiated")?;
    Ok((tls, suite))
}

/// Native: seconds for a bulk receive over TLS, and the cipher suite.
pub(crate) fn native_receive(pki: &Pki, sizes: &Sizes) -> Result<(f64, String)> {
    let server = TlsServer::bytes(pki, sizes.bulk)?;
    // A fixed receive buffer: autotuned, this row was bimodal.
    let s = crate::native::with_tls_receive_buffer(Ipv4Addr::LOCALHOST.into(), server.port)?;
    let (mut tls, suite) = native_connect(pki, s)?;
    let mut buf = vec![0u8; CHUNK];
    let started = Instant::now();
    let mut got = 0;
    while got < sizes.bulk {
        let n = tls.read(&mut buf)?;
        anyhow::ensure!(n > 0, "the TLS server stopped after {got} bytes");
        got += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(tls);
    server.finish()?;
    Ok((elapsed, suite))
}

/// Native: each TLS round trip's time, in microseconds.
pub(crate) fn native_round_trips(pki: &Pki, sizes: &Sizes) -> Result<Vec<f64>> {
    let server = TlsServer::echo(pki)?;
    let s = TcpStream::connect((Ipv4Addr::LOCALHOST, server.port))?;
    let (tls, _) = native_connect(pki, s)?;
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    let mut times = Vec::with_capacity(sizes.round_trips);
    for _ in 0..sizes.round_trips {
        let started = Instant::now();
        reader.get_mut().write_all(b"ping\n")?;
        reader.get_mut().flush()?;
        line.clear();
        reader.read_line(&mut line)?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop(reader);
    server.finish()?;
    Ok(times)
}

/// From the host: seconds for a bulk receive over TLS.
pub(crate) fn host_receive(instance: &Instance, pki: &Pki, sizes: &Sizes) -> Result<f64> {
    let server = TlsServer::bytes(pki, sizes.bulk)?;
    let socket = instance.connect("127.0.0.1", server.port, None)?;
    socket.start_tls(Some("localhost"))?;
    let started = Instant::now();
    let mut got = 0;
    while got < sizes.bulk {
        got += socket.read(Some(CHUNK as u32))?.len();
    }
    let elapsed = started.elapsed().as_secs_f64();
    socket.close()?;
    server.finish()?;
    Ok(elapsed)
}

/// From the host: each TLS round trip's time, in microseconds.
pub(crate) fn host_round_trips(instance: &Instance, pki: &Pki, sizes: &Sizes) -> Result<Vec<f64>> {
    let server = TlsServer::echo(pki)?;
    let socket = instance.connect("127.0.0.1", server.port, None)?;
    socket.start_tls(Some("localhost"))?;
    let times = crate::from_host::time_round_trips(&socket, sizes)?;
    socket.close()?;
    server.finish()?;
    Ok(times)
}

/// The TLS rows: bulk receive and round trips over TLS, and the share of its plain speed
/// each contender keeps over TLS (the plain bulk receive is measured again beside it).
pub(crate) fn rows(
    runtime: &Runtime,
    policy: &Policy,
    client: &[u8],
    sizes: &Sizes,
    rows: &mut Vec<Row>,
) -> Result<()> {
    use crate::report::Contender as C;
    progress("TLS: making the CA, loading the TLS build");
    let pki = Pki::new()?;
    let policy = policy
        .clone()
        .allow_tls(true)
        .tls_root_pem(pki.ca_pem.as_bytes(), "the bench's CA")?;
    let instance = Instance::new(runtime, &policy)?;
    let mut composed = InWasm::new(runtime, &policy, &runtime.compose(client, &policy)?)?;
    progress("TLS: bulk receive, and plain beside it");
    let (_, suite) = native_receive(&pki, sizes)?;
    let plain = Workload::Receive;
    let mut tls_runs: [Vec<f64>; 5] = Default::default();
    let mut plain_runs: [Vec<f64>; 5] = Default::default();
    for _ in 0..sizes.repetitions {
        tls_runs[C::Native as usize].push(native_receive(&pki, sizes)?.0);
        tls_runs[C::FromHost as usize].push(host_receive(&instance, &pki, sizes)?);
        tls_runs[C::Composed as usize].push(composed.tls_receive(&pki, sizes)?);
        plain_runs[C::Native as usize].push(native::seconds(plain, sizes)?);
        plain_runs[C::FromHost as usize].push(from_host::seconds(&instance, plain, sizes)?);
        plain_runs[C::Composed as usize].push(composed.seconds(plain, sizes)?);
    }
    let mib = plain.amount(sizes);
    let receive = Row::rate_runs(
        format!("bulk receive over TLS ({suite}), {mib:.0} MiB in 64 KiB reads"),
        "MiB/s",
        mib,
        &tls_runs,
    );
    let plain_row = Row::rate_runs(String::new(), "MiB/s", mib, &plain_runs);
    let share = |c: C| Some(receive.of(c)? / plain_row.of(c)?);
    let shares = [
        share(C::Native),
        share(C::FromHost),
        share(C::Composed),
        None,
        None,
    ];
    rows.push(receive);
    rows.push(Row::more_is_better(
        "bulk receive: TLS speed / plain speed (medians), same run".into(),
        "share",
        shares,
    ));
    progress("TLS: round trips");
    let quantiles = [("p50", 0.50), ("p99", 0.99)];
    let mut runs: [[Vec<f64>; 5]; 2] = Default::default();
    for _ in 0..sizes.repetitions {
        let times = [
            (C::Native, native_round_trips(&pki, sizes)?),
            (C::FromHost, host_round_trips(&instance, &pki, sizes)?),
            (C::Composed, composed.tls_round_trips(&pki, sizes)?),
        ];
        for (q, (_, quantile)) in quantiles.iter().enumerate() {
            for (c, times) in &times {
                runs[q][*c as usize].push(percentile(times, *quantile));
            }
        }
    }
    for ((name, _), runs) in quantiles.iter().zip(&runs) {
        let title = format!("round trip over TLS ({suite}), {name}");
        rows.push(Row::of_runs(title, "µs", false, runs));
    }
    Ok(())
}
