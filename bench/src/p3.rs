//! The WASI 0.3 edition's table: the same workloads through the composed WASI 0.3 consumer
//! (`bench/alore-client-p3`: bulk data through `receive`'s and `send`'s streams), beside native
//! code and the composed WASI 0.2 consumer in the same run; and the concurrency rows: round
//! trips per second with 1, 100 and 1,000 connections in one instance against native Rust
//! (tokio) doing the same, with the host's memory per connection.

use std::net::Ipv4Addr;
use std::time::Instant;

use alore_socket_host::{Policy, Runtime, State};
use anyhow::Result;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::in_wasm::{InWasm, block_on, store_runtime};
use crate::report::Row3;
use crate::stats::percentile;
use crate::workload::{Sizes, Workload};
use crate::{native, progress};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit-p3",
        world: "runner-p3",
        exports: { default: async | store },
    });
}

type Store = wasmtime::Store<State>;

/// The composed WASI 0.3 consumer in a store of its own.
pub(crate) struct InWasm3 {
    store: Store,
    runner: bindings::RunnerP3,
    /// The store's runtime (dropped after the store, whose sockets it drives).
    exec: tokio::runtime::Runtime,
}

impl InWasm3 {
    pub(crate) fn new(runtime: &Runtime, policy: &Policy, wasm: &[u8]) -> Result<Self> {
        let component = runtime.compile(wasm)?;
        let mut store = runtime.new_store(&component, policy)?;
        let linker = runtime.linker_for(&component, policy);
        let exec = store_runtime()?;
        let runner = exec
            .block_on(bindings::RunnerP3::instantiate_async(
                &mut store, &component, linker,
            ))
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(InWasm3 {
            store,
            runner,
            exec,
        })
    }

    /// Call one workload, inside `run_concurrent`.
    fn call<T: Send + 'static>(
        &mut self,
        call: impl AsyncFnOnce(
            &bindings::exports::alore::socket_bench_p3::workloads::Guest,
            &wasmtime::component::Accessor<State>,
        ) -> wasmtime::Result<Result<T, String>>
        + Send,
    ) -> Result<T> {
        let workloads = self.runner.alore_socket_bench_p3_workloads();
        let ran = self
            .exec
            .block_on(
                self.store
                    .run_concurrent(async |accessor| call(workloads, accessor).await),
            )
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        ran.map_err(|e| anyhow::anyhow!("{e:#}"))?
            .map_err(anyhow::Error::msg)
    }

    /// Seconds for one run of a rate workload.
    fn seconds(&mut self, workload: Workload, sizes: &Sizes) -> Result<f64> {
        let server = workload.server(sizes)?;
        let (port, bytes) = (server.port, sizes.bulk as u64);
        let count = workload.count(sizes) as u32;
        let nanos = match workload {
            Workload::Receive => self.call(async |w, a| w.call_receive(a, port, bytes).await),
            Workload::Send => self.call(async |w, a| w.call_send(a, port, bytes).await),
            Workload::Lines => self.call(async |w, a| w.call_lines(a, port, count).await),
            Workload::Connects => self.call(async |w, a| w.call_connects(a, port, count).await),
            Workload::Lookups => self.call(async |w, a| w.call_lookups(a, count).await),
            _ => unreachable!("not a rate of this table"),
        }?;
        server.finish()?;
        Ok(nanos as f64 / 1e9)
    }

    /// Each round trip's time, in microseconds.
    fn round_trips(&mut self, sizes: &Sizes) -> Result<Vec<f64>> {
        let server = Workload::RoundTrips.server(sizes)?;
        let (port, count) = (server.port, sizes.round_trips as u32);
        let nanos = self.call(async |w, a| w.call_round_trips(a, port, count).await)?;
        server.finish()?;
        Ok(nanos.into_iter().map(|n| n as f64 / 1e3).collect())
    }

    /// Seconds for a bulk receive over TLS (through `receive`'s stream).
    fn tls_receive(&mut self, pki: &crate::tls::Pki, sizes: &Sizes) -> Result<f64> {
        let server = crate::tls::TlsServer::bytes(pki, sizes.bulk)?;
        let (port, bytes) = (server.port, sizes.bulk as u64);
        let nanos = self.call(async |w, a| w.call_tls_receive(a, port, bytes).await)?;
        server.finish()?;
        Ok(nanos as f64 / 1e9)
    }

    /// Each TLS round trip's time, in microseconds.
    fn tls_round_trips(&mut self, pki: &crate::tls::Pki, sizes: &Sizes) -> Result<Vec<f64>> {
        let server = crate::tls::TlsServer::echo(pki)?;
        let (port, count) = (server.port, sizes.round_trips as u32);
        let nanos = self.call(async |w, a| w.call_tls_round_trips(a, port, count).await)?;
        server.finish()?;
        Ok(nanos.into_iter().map(|n| n as f64 / 1e3).collect())
    }

    /// Seconds for `connections` connections at once making `trips` round trips each.
    fn concurrent(&mut self, port: u16, connections: u32, trips: u32) -> Result<f64> {
        let nanos = self.call(async |w, a| {
            w.call_concurrent_round_trips(a, port, connections, trips)
                .await
        })?;
        Ok(nanos as f64 / 1e9)
    }
}

/// The whole table: composes the WASI 0.3 consumer, then runs its rows, the TLS rows (with
/// `client_p2`, the WASI 0.2 consumer, beside it) and the concurrency rows.
pub(crate) fn table(
    runtime: &Runtime,
    policy: &Policy,
    composed: &mut InWasm,
    client_p2: &[u8],
    sizes: &Sizes,
) -> Result<Vec<Row3>> {
    progress("composing the WASI 0.3 consumer");
    let client = crate::wasm_artifact(
        "alore-socket-bench-alore-client-p3",
        "alore_socket_bench_alore_client_p3",
    )?;
    let mut p3 = InWasm3::new(runtime, policy, &runtime.compose(&client, policy)?)?;
    let mut rows = self::rows(composed, &mut p3, sizes)?;
    rows.extend(tls_rows(runtime, policy, client_p2, &client, sizes)?);
    rows.extend(concurrency_rows(&mut p3, sizes)?);
    Ok(rows)
}

/// The TLS rows: bulk receive and round trips over TLS, native rustls, the
/// composed WASI 0.2 edition's TLS build and the composed WASI 0.3 edition's, each composed
/// under a policy that allows TLS and trusts the bench's CA.
fn tls_rows(
    runtime: &Runtime,
    policy: &Policy,
    client_p2: &[u8],
    client: &[u8],
    sizes: &Sizes,
) -> Result<Vec<Row3>> {
    progress("WASI 0.3 edition: TLS");
    let pki = crate::tls::Pki::new()?;
    let policy = policy
        .clone()
        .allow_tls(true)
        .tls_root_pem(pki.ca_pem.as_bytes(), "the bench's CA")?;
    let mut p2 = InWasm::new(runtime, &policy, &runtime.compose(client_p2, &policy)?)?;
    let mut p3 = InWasm3::new(runtime, &policy, &runtime.compose(client, &policy)?)?;
    let (_, suite) = crate::tls::native_receive(&pki, sizes)?;
    progress("WASI 0.3 edition: TLS bulk receive and round trips");
    let mut seconds: [Vec<f64>; 3] = Default::default();
    let quantiles = [("p50", 0.50), ("p99", 0.99)];
    let mut trips: [[Vec<f64>; 3]; 2] = Default::default();
    for _ in 0..sizes.repetitions {
        seconds[0].push(crate::tls::native_receive(&pki, sizes)?.0);
        seconds[1].push(p2.tls_receive(&pki, sizes)?);
        seconds[2].push(p3.tls_receive(&pki, sizes)?);
        let times = [
            crate::tls::native_round_trips(&pki, sizes)?,
            p2.tls_round_trips(&pki, sizes)?,
            p3.tls_round_trips(&pki, sizes)?,
        ];
        for (q, (_, quantile)) in quantiles.iter().enumerate() {
            for (c, times) in times.iter().enumerate() {
                trips[q][c].push(percentile(times, *quantile));
            }
        }
    }
    let mib = Workload::Receive.amount(sizes);
    let mut rows = vec![Row3::rate_runs(
        format!(
            "bulk receive over TLS ({suite}), {mib:.0} MiB in 64 KiB reads (0.3: through a stream<u8>)"
        ),
        "MiB/s",
        mib,
        &seconds,
    )];
    for ((name, _), runs) in quantiles.iter().zip(&trips) {
        let title = format!("round trip over TLS ({suite}), {name}");
        rows.push(Row3::of_runs(title, "µs", false, runs));
    }
    Ok(rows)
}

/// The bulk and line workloads of this table: the WASI 0.3 consumer's bulk rows move through
/// `receive`/`send` streams, the WASI 0.2 consumer's through `read`/`write` (no `detach`).
const RATES: [Workload; 5] = [
    Workload::Receive,
    Workload::Send,
    Workload::Lines,
    Workload::Connects,
    Workload::Lookups,
];

/// The connection counts of the concurrency rows.
pub(crate) const CONNECTIONS: [u32; 3] = [1, 100, 1000];

/// The table: native, composed WASI 0.2, composed WASI 0.3, in that order.
pub(crate) fn rows(composed: &mut InWasm, p3: &mut InWasm3, sizes: &Sizes) -> Result<Vec<Row3>> {
    let mut rows = Vec::new();
    for workload in RATES {
        progress(&format!("WASI 0.3 edition: {}", workload.title(sizes)));
        let mut seconds: [Vec<f64>; 3] = Default::default();
        for _ in 0..sizes.repetitions {
            seconds[0].push(native::seconds(workload, sizes)?);
            seconds[1].push(composed.seconds(workload, sizes)?);
            seconds[2].push(p3.seconds(workload, sizes)?);
        }
        let title = match workload {
            Workload::Receive | Workload::Send => {
                format!("{} (0.3: through a stream<u8>)", workload.title(sizes))
            }
            _ => workload.title(sizes),
        };
        rows.push(Row3::rate_runs(
            title,
            workload.unit(),
            workload.amount(sizes),
            &seconds,
        ));
    }
    progress("WASI 0.3 edition: round trips");
    let quantiles = [("p50", 0.50), ("p99", 0.99)];
    let mut trips: [[Vec<f64>; 3]; 2] = Default::default();
    for _ in 0..sizes.repetitions {
        let times = [
            native::round_trips(sizes)?,
            composed.round_trips(sizes)?,
            p3.round_trips(sizes)?,
        ];
        for (q, (_, quantile)) in quantiles.iter().enumerate() {
            for (c, times) in times.iter().enumerate() {
                trips[q][c].push(percentile(times, *quantile));
            }
        }
    }
    for ((name, _), runs) in quantiles.iter().zip(&trips) {
        let title = format!("{}, {name}", Workload::RoundTrips.title(sizes));
        rows.push(Row3::of_runs(title, "µs", false, runs));
    }
    Ok(rows)
}

/// The concurrency rows: round trips per second with each of [`CONNECTIONS`] connections at
/// once, native (tokio tasks) and in one instance of the WASI 0.3 edition; and the host's peak
/// memory per connection for the largest count.
pub(crate) fn concurrency_rows(p3: &mut InWasm3, sizes: &Sizes) -> Result<Vec<Row3>> {
    let server = EchoServer::start()?;
    let mut rows = Vec::new();
    for connections in CONNECTIONS {
        if connections as usize > sizes.concurrent_max {
            continue;
        }
        let trips = (sizes.concurrent_trips / connections as usize).max(1) as u32;
        progress(&format!("concurrency: {connections} connections"));
        let native = native_concurrent(server.port, connections, trips)?;
        let before = rss_kib();
        let in_wasm = p3.concurrent(server.port, connections, trips)?;
        let peak = peak_rss_kib();
        let amount = f64::from(connections) * f64::from(trips);
        rows.push(Row3::rate(
            format!(
                "round trips with {connections} connection{} at once, {trips} each",
                if connections == 1 { "" } else { "s" }
            ),
            "per s",
            amount,
            [Some(native), None, Some(in_wasm)],
        ));
        if connections == *CONNECTIONS.last().expect("counts") {
            let per = peak.saturating_sub(before) as f64 / f64::from(connections);
            rows.push(Row3::less_is_better(
                format!("host memory per open connection ({connections}; peak RSS rise)"),
                "KiB",
                [None, None, Some(per)],
            ));
        }
    }
    Ok(rows)
}

/// `connections` tokio tasks, each with its own connection making `trips` round trips.
fn native_concurrent(port: u16, connections: u32, trips: u32) -> Result<f64> {
    block_on(async move {
        let mut streams = Vec::new();
        for _ in 0..connections {
            streams.push(tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?);
        }
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for stream in streams {
            tasks.spawn(async move {
                stream.set_nodelay(true)?;
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                for _ in 0..trips {
                    write.write_all(b"ping\n").await?;
                    lines.next_line().await?;
                }
                std::io::Result::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(started.elapsed().as_secs_f64())
    })
}

/// An echo server for many connections at once: a tokio task each.
struct EchoServer {
    port: u16,
}

impl EchoServer {
    fn start() -> Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let _guard = crate::in_wasm::enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if write
                            .write_all(format!("{line}\n").as_bytes())
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        Ok(EchoServer { port })
    }
}

/// This process's resident memory now, in KiB.
fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// This process's peak resident memory, in KiB.
fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
