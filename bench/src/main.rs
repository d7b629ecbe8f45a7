//! `alore-socket-bench [--quick] [--only WORKLOAD]`: every workload through each contender,
//! on loopback, in one process and one run:
//! 1. native `std::net` in this process: the limit (`native.rs`);
//! 2. the alore-socket component, called from this host (`from_host.rs`);
//! 3. the component called from another component composed with it (`bench/alore-client`,
//!    plugged as `wac plug` does): how users run it (`in_wasm.rs`);
//! 4. the peer: the same workloads on Rust's `std::net` compiled to wasm32-wasip2
//!    (`bench/std-peer`), run by the same engine (`in_wasm.rs`);
//! 5. Python's `socket` module (`bench/peer.py`), when `python3` exists (`python.rs`).
//!
//! A full run writes `bench/results.md`; `--quick` (for CI) and `--only WORKLOAD` only print.
//! Progress goes to stderr.

mod from_host;
mod in_wasm;
mod native;
mod node;
mod python;
mod report;
mod tls;
mod workload;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Instant;

use alore_socket_host::blocking::Instance;
use alore_socket_host::{Allow, Policy, Runtime};
use anyhow::{Context, Result};
use clap::Parser;

use in_wasm::InWasm;
use report::{NodeRow, NodeTable, Row};
use workload::{RATES, Sizes, Workload};

#[derive(Parser)]
#[command(
    name = "alore-socket-bench",
    about = "The alore-socket component against native std::net, a wasm std::net peer and Python, on loopback"
)]
struct Args {
    /// Small sizes, to check that the benchmark still runs (CI); prints only.
    #[arg(long)]
    quick: bool,
    /// Run one workload through every contender (e.g. under a profiler); prints only.
    #[arg(long, value_enum)]
    only: Option<Workload>,
    /// With --only: also run the TLS rows.
    #[arg(long)]
    tls: bool,
    /// With --only: also run the Node table (all of it).
    #[arg(long)]
    node: bool,
}

/// Every contender, ready to run workloads.
struct Contenders {
    instance: Instance,
    composed: InWasm,
    peer: InWasm,
    python: bool,
}

impl Contenders {
    /// Seconds for one run of a rate workload by each contender, in the table's order.
    fn seconds(&mut self, workload: Workload, sizes: &Sizes) -> Result<[Option<f64>; 5]> {
        if let Some(plain) = workload.detached_from() {
            // Only the composed consumer has `detach`; native code and the peer run the plain
            // workload beside it, in the same run.
            return Ok([
                Some(native::seconds(plain, sizes)?),
                None,
                Some(self.composed.seconds(workload, sizes)?),
                Some(self.peer.seconds(plain, sizes)?),
                None,
            ]);
        }
        Ok([
            Some(native::seconds(workload, sizes)?),
            Some(from_host::seconds(&self.instance, workload, sizes)?),
            Some(self.composed.seconds(workload, sizes)?),
            Some(self.peer.seconds(workload, sizes)?),
            self.python
                .then(|| python::seconds(workload, sizes))
                .transpose()?,
        ])
    }

    /// Each round trip's time, in microseconds, by each contender.
    fn round_trips(&mut self, sizes: &Sizes) -> Result<[Option<Vec<f64>>; 5]> {
        Ok([
            Some(native::round_trips(sizes)?),
            Some(from_host::round_trips(&self.instance, sizes)?),
            Some(self.composed.round_trips(sizes)?),
            Some(self.peer.round_trips(sizes)?),
            self.python
                .then(|| python::round_trips(sizes))
                .transpose()?,
        ])
    }
}

fn wasm_artifact(package: &str, artifact: &str) -> Result<Vec<u8>> {
    let path =
        alore_socket_wasm_build::build_wasm(package, artifact).map_err(anyhow::Error::msg)?;
    Ok(std::fs::read(path)?)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let wanted = |workload: Workload| args.only.is_none_or(|only| only == workload);
    let sizes = if args.quick {
        workload::QUICK
    } else {
        workload::FULL
    };
    let runtime = Runtime::new()?;
    let policy = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST))
        .allow_lookup(true);
    progress("composing the consumer component");
    let client = wasm_artifact(
        "alore-socket-bench-alore-client",
        "alore_socket_bench_alore_client",
    )?;
    let peer = wasm_artifact("alore-socket-bench-std-peer", "alore_socket_bench_std_peer")?;
    let python = python::present();
    if !python {
        eprintln!("python3 is missing: its column stays empty");
    }
    let composed = runtime.compose(&client, &policy)?;
    let mut contenders = Contenders {
        instance: Instance::new(&runtime, &policy)?,
        composed: InWasm::new(&runtime, &policy, &composed)?,
        peer: InWasm::new(&runtime, &policy, &peer)?,
        python,
    };
    let mut rows = Vec::new();
    for workload in RATES {
        if workload == Workload::Connects && wanted(Workload::RoundTrips) {
            round_trip_rows(&mut contenders, &sizes, &mut rows)?;
        }
        if wanted(workload) {
            progress(&workload.title(&sizes));
            let seconds = contenders.seconds(workload, &sizes)?;
            let amount = workload.amount(&sizes);
            rows.push(Row::rate(
                workload.title(&sizes),
                workload.unit(),
                amount,
                seconds,
            ));
        }
    }
    if args.only.is_none() || args.tls {
        tls_rows(&runtime, &policy, &client, &sizes, &mut rows)?;
    }
    if wanted(Workload::Instantiation) {
        progress("instantiation");
        let started = Instant::now();
        for _ in 0..sizes.instantiations {
            Instance::new(&runtime, &policy)?;
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / sizes.instantiations as f64;
        let title = Workload::Instantiation.title(&sizes);
        rows.push(Row::from_host_only(title, "µs", micros));
        let kib = runtime.component(&policy)?.len() as f64 / 1024.0;
        rows.push(Row::from_host_only("component size".into(), "KiB", kib));
    }

    let node = if args.only.is_none() || args.node {
        node_table(&runtime.component(&policy)?, &composed, &peer, &sizes)?
    } else {
        None
    };

    let report = report::report(&rows, node.as_ref(), args.quick)?;
    print!("{report}");
    if !args.quick && args.only.is_none() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("results.md");
        std::fs::write(&path, &report)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}

/// The TLS rows: bulk receive and round trips over TLS, and the share of its plain speed
/// each contender keeps over TLS (the plain bulk receive is measured again beside it).
fn tls_rows(
    runtime: &Runtime,
    policy: &Policy,
    client: &[u8],
    sizes: &Sizes,
    rows: &mut Vec<Row>,
) -> Result<()> {
    use report::Contender as C;
    progress("TLS: making the CA, loading the TLS build");
    let pki = tls::Pki::new()?;
    let policy = policy
        .clone()
        .allow_tls(true)
        .tls_root_pem(pki.ca_pem.as_bytes(), "the bench's CA")?;
    let instance = Instance::new(runtime, &policy)?;
    let mut composed = InWasm::new(runtime, &policy, &runtime.compose(client, &policy)?)?;
    progress("TLS: bulk receive, and plain beside it, best of three each");
    let (_, suite) = tls::native_receive(&pki, sizes)?;
    let plain = Workload::Receive;
    let tls_seconds = [
        Some(best(|| Ok(tls::native_receive(&pki, sizes)?.0))?),
        Some(best(|| tls::host_receive(&instance, &pki, sizes))?),
        Some(best(|| composed.tls_receive(&pki, sizes))?),
        None,
        None,
    ];
    let plain_seconds = [
        Some(best(|| native::seconds(plain, sizes))?),
        Some(best(|| from_host::seconds(&instance, plain, sizes))?),
        Some(best(|| composed.seconds(plain, sizes))?),
        None,
        None,
    ];
    let mib = plain.amount(sizes);
    let receive = Row::rate(
        format!("bulk receive over TLS ({suite}), {mib:.0} MiB in 64 KiB reads"),
        "MiB/s",
        mib,
        tls_seconds,
    );
    let plain_row = Row::rate(String::new(), "MiB/s", mib, plain_seconds);
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
        "bulk receive: TLS speed / plain speed, same run".into(),
        "share",
        shares,
    ));
    progress("TLS: round trips");
    let times = [
        Some(tls::native_round_trips(&pki, sizes)?),
        Some(tls::host_round_trips(&instance, &pki, sizes)?),
        Some(composed.tls_round_trips(&pki, sizes)?),
        None,
        None,
    ];
    for (name, quantile) in [("p50", 0.50), ("p99", 0.99)] {
        let title = format!("round trip over TLS ({suite}), {name}");
        let figures = times
            .each_ref()
            .map(|t| t.as_ref().map(|t| percentile(t, quantile)));
        rows.push(Row::less_is_better(title, "µs", figures));
    }
    Ok(())
}

/// The shortest of three runs: loopback on a shared machine moves ±20% from run to run, and a
/// share of two figures doubles that.
fn best(mut run: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut shortest = f64::INFINITY;
    for _ in 0..3 {
        shortest = shortest.min(run()?);
    }
    Ok(shortest)
}

/// The Node table, or none when `node` is missing.
fn node_table(
    component: &[u8],
    composed: &[u8],
    peer: &[u8],
    sizes: &Sizes,
) -> Result<Option<NodeTable>> {
    progress("transpiling for Node");
    let Some(node) = node::Node::prepare(component, composed, peer)? else {
        eprintln!("node is missing: no Node table");
        return Ok(None);
    };
    let sizes = node::sizes(sizes);
    let mut rows = Vec::new();
    for workload in node::WORKLOADS {
        progress(&format!("under Node: {}", workload.title(&sizes)));
        if workload == Workload::RoundTrips {
            let mut times = Vec::new();
            for contender in node::Contender::ALL {
                times.push(node.round_trips(contender, &sizes)?);
            }
            for (name, quantile) in [("p50", 0.50), ("p99", 0.99)] {
                let title = format!("{}, {name}", workload.title(&sizes));
                let figures = std::array::from_fn(|i| Some(percentile(&times[i], quantile)));
                rows.push(NodeRow::less_is_better(title, "µs", figures));
            }
            continue;
        }
        let mut seconds = [None; 4];
        for (i, contender) in node::Contender::ALL.into_iter().enumerate() {
            seconds[i] = node.seconds(contender, workload, &sizes)?;
        }
        rows.push(NodeRow::rate(
            workload.title(&sizes),
            workload.unit(),
            workload.amount(&sizes),
            seconds,
        ));
    }
    Ok(Some(NodeTable {
        version: node.version(),
        rows,
    }))
}

/// The round-trip rows: the median and the 99th percentile of each contender's trips.
fn round_trip_rows(contenders: &mut Contenders, sizes: &Sizes, rows: &mut Vec<Row>) -> Result<()> {
    progress("round trips");
    let times = contenders.round_trips(sizes)?;
    for (name, quantile) in [("p50", 0.50), ("p99", 0.99)] {
        let title = format!("{}, {name}", Workload::RoundTrips.title(sizes));
        let figures = times
            .each_ref()
            .map(|t| t.as_ref().map(|t| percentile(t, quantile)));
        rows.push(Row::less_is_better(title, "µs", figures));
    }
    Ok(())
}

fn progress(what: &str) {
    eprintln!("alore-socket-bench: {what}…");
}

fn percentile(times: &[f64], quantile: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}
