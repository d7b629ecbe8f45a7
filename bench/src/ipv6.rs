//! IPv6 beside IPv4, same run: bulk receive and the line round trip over `::1` and over
//! 127.0.0.1, for native `std::net` and for the component called from the host (the WASI 0.2
//! edition; the WASI 0.3 edition's sockets are the same host calls). Each figure is the best
//! of three runs, the two families taking turns, so a busy moment hurts both alike.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream};
use std::time::Instant;

use alore_socket_host::blocking::Instance;
use alore_socket_host::{Allow, Policy, Runtime};
use anyhow::Result;

use crate::from_host::time_round_trips;
use crate::report::Row;
use crate::stats::percentile;
use crate::workload::{CHUNK, Sizes, Workload};

/// The table's rows, in the order of [`crate::report::ipv6_table`]'s columns: native IPv4,
/// native IPv6, component IPv4, component IPv6.
pub(crate) type Row6 = Row<4>;

/// Runs of each workload per family: as `stats::best`, three.
const RUNS: usize = 3;

const FAMILIES: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

pub(crate) fn rows(runtime: &Runtime, sizes: &Sizes) -> Result<Vec<Row6>> {
    crate::progress("IPv6 beside IPv4");
    let policy = Policy::deny_all()
        .allow(Allow::host(FAMILIES[0]))
        .allow(Allow::host(FAMILIES[1]));
    let instance = Instance::new(runtime, &policy)?;
    let [n4, n6] = alternating(|ip| native_receive(ip, sizes))?;
    let [c4, c6] = alternating(|ip| component_receive(&instance, ip, sizes))?;
    let receive = [Some(n4), Some(n6), Some(c4), Some(c6)];
    let p50 = |times: Vec<f64>| percentile(&times, 0.5);
    let [n4, n6] = alternating(|ip| native_round_trips(ip, sizes).map(p50))?;
    let [c4, c6] = alternating(|ip| component_round_trips(&instance, ip, sizes).map(p50))?;
    let trips = [Some(n4), Some(n6), Some(c4), Some(c6)];
    let mib = Workload::Receive.count(sizes) as f64 / (1 << 20) as f64;
    Ok(vec![
        Row::more_is_better(
            Workload::Receive.title(sizes),
            "MiB/s",
            receive.map(|s| s.map(|s| mib / s)),
        ),
        Row::less_is_better(
            format!("{}, p50", Workload::RoundTrips.title(sizes)),
            "µs",
            trips,
        ),
    ])
}

/// The least of three runs of `run` for each family, the families taking turns.
fn alternating(mut run: impl FnMut(IpAddr) -> Result<f64>) -> Result<[f64; 2]> {
    let mut least = [f64::INFINITY; 2];
    for _ in 0..RUNS {
        for (i, ip) in FAMILIES.into_iter().enumerate() {
            least[i] = least[i].min(run(ip)?);
        }
    }
    Ok(least)
}

fn native_receive(ip: IpAddr, sizes: &Sizes) -> Result<f64> {
    let count = Workload::Receive.count(sizes);
    let server = Workload::Receive.server_on(ip, sizes)?;
    let mut s = TcpStream::connect((ip, server.port))?;
    let mut buf = vec![0u8; CHUNK];
    let started = Instant::now();
    let mut got = 0;
    while got < count {
        got += s.read(&mut buf)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    server.finish()?;
    Ok(seconds)
}

fn component_receive(instance: &Instance, ip: IpAddr, sizes: &Sizes) -> Result<f64> {
    let count = Workload::Receive.count(sizes);
    let server = Workload::Receive.server_on(ip, sizes)?;
    let socket = instance.connect(&ip.to_string(), server.port, None)?;
    let started = Instant::now();
    let mut got = 0;
    while got < count {
        got += socket.read(Some(CHUNK as u32))?.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    socket.close()?;
    server.finish()?;
    Ok(seconds)
}

fn native_round_trips(ip: IpAddr, sizes: &Sizes) -> Result<Vec<f64>> {
    let server = Workload::RoundTrips.server_on(ip, sizes)?;
    let s = TcpStream::connect((ip, server.port))?;
    s.set_nodelay(true)?;
    let mut writer = s.try_clone()?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    let mut times = Vec::with_capacity(sizes.round_trips);
    for _ in 0..sizes.round_trips {
        let started = Instant::now();
        writer.write_all(b"ping\n")?;
        line.clear();
        reader.read_line(&mut line)?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop((writer, reader));
    server.finish()?;
    Ok(times)
}

fn component_round_trips(instance: &Instance, ip: IpAddr, sizes: &Sizes) -> Result<Vec<f64>> {
    let server = Workload::RoundTrips.server_on(ip, sizes)?;
    let socket = instance.connect(&ip.to_string(), server.port, None)?;
    let times = time_round_trips(&socket, sizes)?;
    socket.close()?;
    server.finish()?;
    Ok(times)
}
