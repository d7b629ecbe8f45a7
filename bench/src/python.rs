//! Contender 5: Python's `socket` module (`bench/peer.py`), when `python3` exists.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::workload::{Sizes, Workload};

/// Whether `python3` runs here.
pub(crate) fn present() -> bool {
    Command::new("python3").arg("--version").output().is_ok()
}

/// Run `peer.py WORKLOAD PORT COUNT` against a fresh server; its one line of output.
fn run(workload: Workload, sizes: &Sizes) -> Result<String> {
    let name = match workload {
        Workload::Receive => "receive",
        Workload::Send => "send",
        Workload::Lines => "lines",
        Workload::RoundTrips => "roundtrip",
        Workload::Connects => "connect",
        Workload::Lookups => "lookup",
        Workload::Instantiation | Workload::ReceiveDetached | Workload::SendDetached => {
            unreachable!("no Python contender")
        }
    };
    let server = workload.server(sizes)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer.py");
    let count = workload.count(sizes).to_string();
    let out = Command::new("python3")
        .arg(script)
        .args([name, &server.port.to_string(), &count])
        .output()?;
    if !out.status.success() {
        bail!("python {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    server.finish()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Seconds for one run of a rate workload.
pub(crate) fn seconds(workload: Workload, sizes: &Sizes) -> Result<f64> {
    Ok(run(workload, sizes)?.parse()?)
}

/// Each round trip's time, in microseconds.
pub(crate) fn round_trips(sizes: &Sizes) -> Result<Vec<f64>> {
    run(Workload::RoundTrips, sizes)?
        .split_whitespace()
        .map(|t| Ok(t.parse()?))
        .collect()
}
