//! `alore-socket-bench [--quick]`: every workload through each contender, on loopback, in one
//! process and one run:
//! 1. native `std::net` in this process: the limit;
//! 2. the alore-socket component, called from this host;
//! 3. the component called from another component composed with it (`bench/alore-client`,
//!    plugged as `wac plug` does): how users run it;
//! 4. the peer: the same workloads on Rust's `std::net` compiled to wasm32-wasip2
//!    (`bench/std-peer`), run by the same engine;
//! 5. Python's `socket` module (`bench/peer.py`), when `python3` exists.
//!
//! A full run writes `bench/results.md`; `--quick` (for CI) and `--only WORKLOAD` (receive,
//! send, lines, round-trips, connects, lookups, instantiation) only print. Progress goes to
//! stderr.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::Command;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use alore_socket_host::embed::block_on;
use alore_socket_host::{Allow, Buffering, Instance, Policy, Runtime};
use anyhow::{Context, Result, bail};

/// Reads and writes move 64 KiB at a time: wasmtime's largest stream read.
const CHUNK: usize = 64 * 1024;
/// Each line of the line workload: 39 bytes and a line feed.
const LINE: &[u8; 40] = b"abcdefghijklmnopqrstuvwxyz0123456789ABC\n";

/// How much each workload moves or repeats.
struct Sizes {
    bulk: usize,
    lines: usize,
    round_trips: usize,
    connects: usize,
    lookups: usize,
    instantiations: usize,
}

/// Sized so the full run ends in a few minutes on 2 cores.
const FULL: Sizes = Sizes {
    bulk: 256 << 20,
    lines: 2_000_000,
    round_trips: 20_000,
    connects: 2_000,
    lookups: 2_000,
    instantiations: 200,
};

/// A smoke check that the benchmark still runs: well under a minute.
const QUICK: Sizes = Sizes {
    bulk: 16 << 20,
    lines: 100_000,
    round_trips: 1_000,
    connects: 100,
    lookups: 100,
    instantiations: 20,
};

/// The contenders, in the order of the table.
const CONTENDERS: [&str; 5] = [
    "native std::net",
    "component (from host)",
    "composed component",
    "wasm std::net peer",
    "Python socket",
];
const NATIVE: usize = 0;
const HOST: usize = 1;
const COMPOSED: usize = 2;
const PEER: usize = 3;

/// One row of the results: a figure per contender (`None`: not measured for it).
struct Row {
    workload: String,
    unit: &'static str,
    higher_is_better: bool,
    figures: [Option<f64>; 5],
}

wasmtime::component::bindgen!({ path: "wit", world: "runner", exports: { default: async } });

/// A workload component (contender 3 or 4) in a store of its own.
struct InWasm {
    store: wasmtime::Store<alore_socket_host::embed::State>,
    runner: Runner,
}

type Workloads = exports::alore::socket_bench::workloads::Guest;
type Store = wasmtime::Store<alore_socket_host::embed::State>;

impl InWasm {
    fn new(runtime: &Runtime, policy: &Policy, wasm: &[u8]) -> Result<Self> {
        let component = runtime.compile(wasm)?;
        let mut store = runtime.new_store(policy)?;
        let runner = block_on(
            None,
            Runner::instantiate_async(&mut store, &component, runtime.linker()),
        )
        .expect("no deadline")?;
        Ok(InWasm { store, runner })
    }

    /// Run one workload and return what it measured.
    fn run<T>(
        &mut self,
        call: impl AsyncFnOnce(&Workloads, &mut Store) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T> {
        let workloads = self.runner.alore_socket_bench_workloads();
        block_on(None, call(workloads, &mut self.store))
            .expect("no deadline")?
            .map_err(anyhow::Error::msg)
    }

    fn seconds(
        &mut self,
        call: impl AsyncFnOnce(&Workloads, &mut Store) -> wasmtime::Result<Result<u64, String>>,
    ) -> Result<f64> {
        Ok(self.run(call)? as f64 / 1e9)
    }
}

fn wasm_artifact(package: &str, artifact: &str) -> Result<Vec<u8>> {
    Ok(std::fs::read(alore_socket_host::embed::build_wasm(
        package, artifact,
    )?)?)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only WORKLOAD` runs one workload (through every contender), e.g. for a profiler.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let wanted = |workload: &str| only.is_none_or(|o| o == workload);
    let sizes = if quick { QUICK } else { FULL };
    let runtime = Runtime::new()?;
    let policy = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST))
        .allow_lookup(true);
    let instance = runtime.instantiate(&policy)?;
    progress("composing the consumer component");
    let client = wasm_artifact(
        "alore-socket-bench-alore-client",
        "alore_socket_bench_alore_client",
    )?;
    let mut composed = InWasm::new(&runtime, &policy, &runtime.compose(&client)?)?;
    let mut peer = InWasm::new(
        &runtime,
        &policy,
        &wasm_artifact("alore-socket-bench-std-peer", "alore_socket_bench_std_peer")?,
    )?;
    let python = Command::new("python3").arg("--version").output().is_ok();
    if !python {
        eprintln!("python3 is missing: its column stays empty");
    }
    let mut rows = Vec::new();

    let mb = sizes.bulk as f64 / (1 << 20) as f64;
    let bulk = sizes.bulk as u64;
    if wanted("receive") {
        progress("bulk receive");
        rows.push(Row {
            workload: format!("bulk receive, {mb:.0} MiB in 64 KiB reads"),
            unit: "MiB/s",
            higher_is_better: true,
            figures: [
                Some(native_receive(sizes.bulk)?),
                Some(component_receive(&instance, sizes.bulk)?),
                Some(composed.seconds(async |w, s| {
                    w.call_receive(s, sized_server(sizes.bulk, serve_bytes), bulk)
                        .await
                })?),
                Some(peer.seconds(async |w, s| {
                    w.call_receive(s, sized_server(sizes.bulk, serve_bytes), bulk)
                        .await
                })?),
                python
                    .then(|| {
                        python_seconds("receive", sized_server(sizes.bulk, serve_bytes), sizes.bulk)
                    })
                    .transpose()?,
            ]
            .map(|s| s.map(|s| mb / s)),
        });
    }
    if wanted("send") {
        progress("bulk send");
        rows.push(Row {
            workload: format!("bulk send, {mb:.0} MiB in 64 KiB writes"),
            unit: "MiB/s",
            higher_is_better: true,
            figures: [
                Some(native_send(sizes.bulk)?),
                Some(component_send(&instance, sizes.bulk)?),
                Some(composed.seconds(async |w, s| {
                    w.call_send(s, sized_server(sizes.bulk, take_bytes), bulk)
                        .await
                })?),
                Some(peer.seconds(async |w, s| {
                    w.call_send(s, sized_server(sizes.bulk, take_bytes), bulk)
                        .await
                })?),
                python
                    .then(|| {
                        python_seconds("send", sized_server(sizes.bulk, take_bytes), sizes.bulk)
                    })
                    .transpose()?,
            ]
            .map(|s| s.map(|s| mb / s)),
        });
    }
    if wanted("lines") {
        progress("lines");
        let lines = sizes.lines as f64;
        let count = sizes.lines as u32;
        rows.push(Row {
            workload: format!("read-ln, {} lines of 40 bytes", sizes.lines),
            unit: "lines/s",
            higher_is_better: true,
            figures: [
                Some(native_lines(sizes.lines)?),
                Some(component_lines(&instance, sizes.lines)?),
                Some(composed.seconds(async |w, s| {
                    w.call_lines(s, sized_server(sizes.lines, serve_lines), count)
                        .await
                })?),
                Some(peer.seconds(async |w, s| {
                    w.call_lines(s, sized_server(sizes.lines, serve_lines), count)
                        .await
                })?),
                python
                    .then(|| {
                        python_seconds("lines", sized_server(sizes.lines, serve_lines), sizes.lines)
                    })
                    .transpose()?,
            ]
            .map(|s| s.map(|s| lines / s)),
        });
    }
    if wanted("round-trips") {
        progress("round trips");
        let trips = sizes.round_trips as u32;
        let micros = |ns: Vec<u64>| ns.into_iter().map(|n| n as f64 / 1e3).collect::<Vec<_>>();
        let round_trips: [Option<Vec<f64>>; 5] = [
            Some(native_round_trips(sizes.round_trips)?),
            Some(component_round_trips(&instance, sizes.round_trips)?),
            Some(micros(composed.run(async |w, s| {
                w.call_round_trips(s, echo_server(), trips).await
            })?)),
            Some(micros(peer.run(async |w, s| {
                w.call_round_trips(s, echo_server(), trips).await
            })?)),
            python
                .then(|| python_round_trips(sizes.round_trips))
                .transpose()?,
        ];
        for (name, quantile) in [("p50", 0.50), ("p99", 0.99)] {
            rows.push(Row {
                workload: format!("round trip (write-ln + read-ln, echo), {name}"),
                unit: "µs",
                higher_is_better: false,
                figures: round_trips
                    .each_ref()
                    .map(|t| t.as_ref().map(|t| percentile(t, quantile))),
            });
        }
    }
    if wanted("connects") {
        progress("connect + close");
        let connects = sizes.connects as f64;
        let count = sizes.connects as u32;
        rows.push(Row {
            workload: "connect + close".into(),
            unit: "per s",
            higher_is_better: true,
            figures: [
                Some(native_connects(sizes.connects)?),
                Some(component_connects(&instance, sizes.connects)?),
                Some(composed.seconds(async |w, s| {
                    w.call_connects(s, sized_server(sizes.connects, accept_all), count)
                        .await
                })?),
                Some(peer.seconds(async |w, s| {
                    w.call_connects(s, sized_server(sizes.connects, accept_all), count)
                        .await
                })?),
                python
                    .then(|| {
                        python_seconds(
                            "connect",
                            sized_server(sizes.connects, accept_all),
                            sizes.connects,
                        )
                    })
                    .transpose()?,
            ]
            .map(|s| s.map(|s| connects / s)),
        });
    }
    if wanted("lookups") {
        progress("lookups");
        let lookups = sizes.lookups as f64;
        let count = sizes.lookups as u32;
        rows.push(Row {
            workload: "get-host-by-name(\"localhost\")".into(),
            unit: "per s",
            higher_is_better: true,
            figures: [
                Some(time(|| native_lookups(sizes.lookups))?),
                Some(time(|| component_lookups(&instance, sizes.lookups))?),
                Some(composed.seconds(async |w, s| w.call_lookups(s, count).await)?),
                Some(peer.seconds(async |w, s| w.call_lookups(s, count).await)?),
                python
                    .then(|| python_seconds("lookup", 0, sizes.lookups))
                    .transpose()?,
            ]
            .map(|s| s.map(|s| lookups / s)),
        });
    }
    if wanted("instantiation") {
        progress("instantiation");
        let started = Instant::now();
        for _ in 0..sizes.instantiations {
            runtime.instantiate(&policy)?;
        }
        let mut figures = [None; 5];
        figures[HOST] = Some(started.elapsed().as_secs_f64() * 1e6 / sizes.instantiations as f64);
        rows.push(Row {
            workload: "instantiate the component (precompiled)".into(),
            unit: "µs",
            higher_is_better: false,
            figures,
        });
        let mut figures = [None; 5];
        figures[HOST] = Some(
            std::fs::metadata(alore_socket_host::embed::locate_component()?)?.len() as f64 / 1024.0,
        );
        rows.push(Row {
            workload: "component size".into(),
            unit: "KiB",
            higher_is_better: false,
            figures,
        });
    }

    let report = report(&rows, quick)?;
    print!("{report}");
    if !quick && only.is_none() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("results.md");
        std::fs::write(&path, &report)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}

/// An echo server for one connection, on a port of its own.
fn echo_server() -> u16 {
    server(echo_lines).map(|(port, _)| port).unwrap_or(0)
}

fn progress(what: &str) {
    eprintln!("alore-socket-bench: {what}…");
}

fn time(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed().as_secs_f64())
}

fn percentile(times: &[f64], quantile: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}

// ---- servers: one thread each, on 127.0.0.1 ------------------------------------------------

/// A server for one workload: its port, and the thread to join.
fn server(
    serve: impl FnOnce(TcpListener) -> Result<()> + Send + 'static,
) -> Result<(u16, JoinHandle<Result<()>>)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    Ok((port, thread::spawn(move || serve(listener))))
}

fn sized_server(size: usize, serve: fn(TcpListener, usize) -> Result<()>) -> u16 {
    server(move |l| serve(l, size))
        .map(|(port, _)| port)
        .unwrap_or(0)
}

fn serve_bytes(listener: TcpListener, size: usize) -> Result<()> {
    let (mut s, _) = listener.accept()?;
    let chunk = vec![7u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK);
        s.write_all(&chunk[..n])?;
        left -= n;
    }
    Ok(())
}

fn take_bytes(listener: TcpListener, size: usize) -> Result<()> {
    let (mut s, _) = listener.accept()?;
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    while got < size {
        let n = s.read(&mut buf)?;
        if n == 0 {
            bail!("the sender stopped after {got} bytes");
        }
        got += n;
    }
    s.write_all(b"k")?;
    Ok(())
}

fn serve_lines(listener: TcpListener, lines: usize) -> Result<()> {
    let (mut s, _) = listener.accept()?;
    let block: Vec<u8> = LINE.repeat(CHUNK / LINE.len());
    let per_block = block.len() / LINE.len();
    let mut left = lines;
    while left > 0 {
        let n = left.min(per_block);
        s.write_all(&block[..n * LINE.len()])?;
        left -= n;
    }
    Ok(())
}

fn echo_lines(listener: TcpListener) -> Result<()> {
    let (s, _) = listener.accept()?;
    s.set_nodelay(true)?;
    let mut writer = s.try_clone()?;
    let mut reader = BufReader::new(s);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        writer.write_all(&line)?;
        line.clear();
    }
    Ok(())
}

fn accept_all(listener: TcpListener, count: usize) -> Result<()> {
    for _ in 0..count {
        drop(listener.accept()?);
    }
    Ok(())
}

fn join(handle: JoinHandle<Result<()>>) -> Result<()> {
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("a server thread panicked"))?
}

// ---- native std::net ---------------------------------------------------------------------

fn native_receive(size: usize) -> Result<f64> {
    let (port, handle) = server(move |l| serve_bytes(l, size))?;
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    let mut buf = vec![0u8; CHUNK];
    let started = Instant::now();
    let mut got = 0;
    while got < size {
        got += s.read(&mut buf)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    join(handle)?;
    Ok(elapsed)
}

fn native_send(size: usize) -> Result<f64> {
    let (port, handle) = server(move |l| take_bytes(l, size))?;
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    let chunk = vec![7u8; CHUNK];
    let started = Instant::now();
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK);
        s.write_all(&chunk[..n])?;
        left -= n;
    }
    s.read_exact(&mut [0u8; 1])?;
    let elapsed = started.elapsed().as_secs_f64();
    join(handle)?;
    Ok(elapsed)
}

fn native_lines(lines: usize) -> Result<f64> {
    let (port, handle) = server(move |l| serve_lines(l, lines))?;
    let mut reader = BufReader::new(TcpStream::connect((Ipv4Addr::LOCALHOST, port))?);
    let mut line = String::new();
    let started = Instant::now();
    for _ in 0..lines {
        line.clear();
        reader.read_line(&mut line)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    join(handle)?;
    Ok(elapsed)
}

fn native_round_trips(count: usize) -> Result<Vec<f64>> {
    let (port, handle) = server(echo_lines)?;
    let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_nodelay(true)?;
    let mut writer = s.try_clone()?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        writer.write_all(b"ping\n")?;
        line.clear();
        reader.read_line(&mut line)?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop((writer, reader));
    join(handle)?;
    Ok(times)
}

fn native_connects(count: usize) -> Result<f64> {
    let (port, handle) = server(move |l| accept_all(l, count))?;
    let started = Instant::now();
    for _ in 0..count {
        drop(TcpStream::connect((Ipv4Addr::LOCALHOST, port))?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    join(handle)?;
    Ok(elapsed)
}

fn native_lookups(count: usize) -> Result<()> {
    for _ in 0..count {
        let first = ("localhost", 0).to_socket_addrs()?.find(|a| a.is_ipv4());
        first.context("localhost has no IPv4 address")?;
    }
    Ok(())
}

// ---- the component, called from this host ---------------------------------------------------

fn component_receive(instance: &Instance, size: usize) -> Result<f64> {
    let (port, handle) = server(move |l| serve_bytes(l, size))?;
    let socket = instance.connect("127.0.0.1", port, None)?;
    let started = Instant::now();
    let mut got = 0;
    while got < size {
        got += socket.read(Some(CHUNK as u32))?.len();
    }
    let elapsed = started.elapsed().as_secs_f64();
    socket.close()?;
    join(handle)?;
    Ok(elapsed)
}

fn component_send(instance: &Instance, size: usize) -> Result<f64> {
    let (port, handle) = server(move |l| take_bytes(l, size))?;
    let socket = instance.connect("127.0.0.1", port, None)?;
    let chunk = vec![7u8; CHUNK];
    let started = Instant::now();
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK);
        socket.write(&chunk[..n])?;
        left -= n;
    }
    socket.read(Some(1))?;
    let elapsed = started.elapsed().as_secs_f64();
    socket.close()?;
    join(handle)?;
    Ok(elapsed)
}

fn component_lines(instance: &Instance, lines: usize) -> Result<f64> {
    let (port, handle) = server(move |l| serve_lines(l, lines))?;
    // Buffered: 8 KiB refills, as BufReader's 8 KiB buffer.
    let socket = instance.connect("127.0.0.1", port, Some(Buffering::Buffered))?;
    let started = Instant::now();
    for _ in 0..lines {
        socket.read_ln()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    socket.close()?;
    join(handle)?;
    Ok(elapsed)
}

fn component_round_trips(instance: &Instance, count: usize) -> Result<Vec<f64>> {
    let (port, handle) = server(echo_lines)?;
    let socket = instance.connect("127.0.0.1", port, None)?;
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        socket.write_ln(b"ping")?;
        socket.read_ln()?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    socket.close()?;
    join(handle)?;
    Ok(times)
}

fn component_connects(instance: &Instance, count: usize) -> Result<f64> {
    let (port, handle) = server(move |l| accept_all(l, count))?;
    let started = Instant::now();
    for _ in 0..count {
        instance.connect("127.0.0.1", port, None)?.close()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    join(handle)?;
    Ok(elapsed)
}

fn component_lookups(instance: &Instance, count: usize) -> Result<()> {
    for _ in 0..count {
        instance.get_host_by_name("localhost")?;
    }
    Ok(())
}

// ---- Python ----------------------------------------------------------------------------------

fn python(workload: &str, port: u16, count: usize) -> Result<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer.py");
    let out = Command::new("python3")
        .arg(script)
        .args([workload, &port.to_string(), &count.to_string()])
        .output()?;
    if !out.status.success() {
        bail!(
            "python {workload}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn python_seconds(workload: &str, port: u16, count: usize) -> Result<f64> {
    Ok(python(workload, port, count)?.parse()?)
}

fn python_round_trips(count: usize) -> Result<Vec<f64>> {
    let (port, handle) = server(echo_lines)?;
    let times = python("roundtrip", port, count)?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<f64>, _>>()?;
    join(handle)?;
    Ok(times)
}

// ---- the report ------------------------------------------------------------------------------

/// How `figure` compares with `base`, as the share of `base` it reaches: above 1.00× is
/// better than `base`, whichever way the unit runs.
fn ratio(figure: Option<f64>, base: Option<f64>, higher_is_better: bool) -> String {
    match (figure, base) {
        (Some(f), Some(b)) if f > 0.0 && b > 0.0 => {
            format!("{:.2}×", if higher_is_better { f / b } else { b / f })
        }
        _ => "—".into(),
    }
}

fn figure(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "—".into(),
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn report(rows: &[Row], quick: bool) -> Result<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = String::new();
    writeln!(
        out,
        "# alore-socket benchmark{}\n",
        if quick { " (quick)" } else { "" }
    )?;
    writeln!(
        out,
        "{} UTC, commit {}, {cores} cores, {cpu}, loopback. Host built in {} (wasmtime 48), \
         components in release. A ratio is the share of the other figure reached: 1.00× \
         matches it, above is better (for times too).\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M"]),
        command_output("git", &["rev-parse", "--short", "HEAD"]),
        if cfg!(debug_assertions) {
            "debug (figures not comparable)"
        } else {
            "release"
        },
    )?;
    write!(out, "| workload | unit |")?;
    for name in CONTENDERS {
        write!(out, " {name} |")?;
    }
    writeln!(
        out,
        " composed vs native | composed vs peer | from host vs native |"
    )?;
    writeln!(
        out,
        "|---|---|{}---:|---:|---:|",
        "---:|".repeat(CONTENDERS.len())
    )?;
    for row in rows {
        write!(out, "| {} | {} |", row.workload, row.unit)?;
        for value in row.figures {
            write!(out, " {} |", figure(value))?;
        }
        let f = &row.figures;
        writeln!(
            out,
            " {} | {} | {} |",
            ratio(f[COMPOSED], f[NATIVE], row.higher_is_better),
            ratio(f[COMPOSED], f[PEER], row.higher_is_better),
            ratio(f[HOST], f[NATIVE], row.higher_is_better),
        )?;
    }
    Ok(out)
}
