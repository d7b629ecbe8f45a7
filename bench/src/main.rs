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
//! Then the TLS rows; the round-trip and bulk rows again, plain and TLS, under a background
//! load that keeps every core busy (`load.rs`); the WASI 0.3 edition's table; IPv6 beside
//! IPv4 (`ipv6.rs`); and the Node table.
//!
//! A full run writes `bench/results.md`; `--quick` (for CI) and `--only WORKLOAD` only print.
//! Progress goes to stderr.

mod contenders;
mod from_host;
mod in_wasm;
mod ipv6;
mod load;
mod native;
mod node;
mod p3;
mod pin;
mod python;
mod report;
mod stats;
mod tls;
mod workload;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Instant;

use alore_socket_host::blocking::Instance;
use alore_socket_host::{Allow, Policy, Runtime};
use anyhow::{Context, Result};
use clap::Parser;

use contenders::Contenders;
use in_wasm::InWasm;
use report::Row;
use workload::{RATES, Workload};

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
    /// With --only: also run the WASI 0.3 edition's table (all of it).
    #[arg(long)]
    p3: bool,
    /// With --only: also run the IPv6 table (all of it).
    #[arg(long)]
    ipv6: bool,
    /// With --only: also run the loaded table (all of it).
    #[arg(long)]
    loaded: bool,
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
    // The benchmark's own multi-thread runtime starts its workers before this thread is
    // pinned, so that they (the concurrency rows' native side and echo server) keep every
    // core; from here on, what this thread starts runs on its CPU.
    drop(in_wasm::enter());
    pin::contender();
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
            contenders::round_trip_rows(&mut contenders, &sizes, &mut rows)?;
        }
        if wanted(workload) {
            progress(&workload.title(&sizes));
            let runs = contenders.runs(workload, &sizes)?;
            let amount = workload.amount(&sizes);
            rows.push(Row::rate_runs(
                workload.title(&sizes),
                workload.unit(),
                amount,
                &runs,
            ));
        }
    }
    if args.only.is_none() || args.tls {
        tls::rows(&runtime, &policy, &client, &sizes, &mut rows)?;
    }
    // The round-trip and bulk rows again, plain and TLS, with every core kept busy.
    let mut loaded = Vec::new();
    if args.only.is_none() || args.loaded {
        progress("loaded: one spinning thread per core at nice 19");
        let _load = load::Load::start();
        contenders::round_trip_rows(&mut contenders, &sizes, &mut loaded)?;
        let receive = Workload::Receive;
        let runs = contenders.runs(receive, &sizes)?;
        let amount = receive.amount(&sizes);
        loaded.push(Row::rate_runs(
            receive.title(&sizes),
            receive.unit(),
            amount,
            &runs,
        ));
        tls::rows(&runtime, &policy, &client, &sizes, &mut loaded)?;
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
        let kib = runtime
            .component(alore_socket_host::Edition::Wasi02, &policy)?
            .len() as f64
            / 1024.0;
        rows.push(Row::from_host_only("component size".into(), "KiB", kib));
    }

    let node = if args.only.is_none() || args.node {
        node::table(
            &runtime.component(alore_socket_host::Edition::Wasi02, &policy)?,
            &composed,
            &peer,
            &sizes,
        )?
    } else {
        None
    };

    let p3_rows = if args.only.is_none() || args.p3 {
        p3::table(&runtime, &policy, &mut contenders.composed, &client, &sizes)?
    } else {
        Vec::new()
    };

    let ipv6_rows = if args.only.is_none() || args.ipv6 {
        ipv6::rows(&runtime, &sizes)?
    } else {
        Vec::new()
    };

    let report = report::report(
        &report::Tables {
            rows: &rows,
            loaded: &loaded,
            p3: &p3_rows,
            ipv6: &ipv6_rows,
            node: node.as_ref(),
        },
        args.quick,
    )?;
    print!("{report}");
    if !args.quick && args.only.is_none() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("results.md");
        std::fs::write(&path, &report)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}

/// One line of progress on stderr.
pub(crate) fn progress(what: &str) {
    eprintln!("alore-socket-bench: {what}…");
}
