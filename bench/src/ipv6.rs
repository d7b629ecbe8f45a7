//! IPv6 beside IPv4, same run: bulk receive and the line round trip over `::1` and over
//! 127.0.0.1, for native `std::net` and for the component called from the host (the WASI 0.2
//! edition; the WASI 0.3 edition's sockets are the same host calls). Each figure is the best
//! of three runs, the two families taking turns, so a busy moment hurts both alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alore_socket_host::blocking::Instance;
use alore_socket_host::{Allow, Policy, Runtime};
use anyhow::Result;

use crate::report::Row;
use crate::stats::percentile;
use crate::workload::{Sizes, Workload};
use crate::{from_host, native};

/// The table's rows, in the order of [`crate::report::ipv6_table`]'s columns: native IPv4,
/// native IPv6, component IPv4, component IPv6.
pub(crate) type Row6 = Row<4>;

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
    let receive = Workload::Receive;
    let [n4, n6] = alternating(sizes, |ip| native::seconds_on(ip, receive, sizes))?;
    let [c4, c6] = alternating(sizes, |ip| {
        from_host::seconds_on(&instance, ip, receive, sizes)
    })?;
    let receive = [n4, n6, c4, c6];
    let p50 = |times: Vec<f64>| percentile(&times, 0.5);
    let [n4, n6] = alternating(sizes, |ip| native::round_trips_on(ip, sizes).map(p50))?;
    let [c4, c6] = alternating(sizes, |ip| {
        from_host::round_trips_on(&instance, ip, sizes).map(p50)
    })?;
    let trips = [n4, n6, c4, c6];
    let mib = Workload::Receive.count(sizes) as f64 / (1 << 20) as f64;
    Ok(vec![
        Row::rate_runs(Workload::Receive.title(sizes), "MiB/s", mib, &receive),
        Row::of_runs(
            format!("{}, p50", Workload::RoundTrips.title(sizes)),
            "µs",
            false,
            &trips,
        ),
    ])
}

/// [`Sizes::repetitions`] runs of `run` for each family, the families taking turns.
fn alternating(sizes: &Sizes, mut run: impl FnMut(IpAddr) -> Result<f64>) -> Result<[Vec<f64>; 2]> {
    let mut runs: [Vec<f64>; 2] = Default::default();
    for _ in 0..sizes.repetitions {
        for (i, ip) in FAMILIES.into_iter().enumerate() {
            runs[i].push(run(ip)?);
        }
    }
    Ok(runs)
}
