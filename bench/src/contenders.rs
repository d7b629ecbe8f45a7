//! The contenders of the main table, ready to run each workload, and the round-trip rows.

use anyhow::Result;

use alore_socket_host::blocking::Instance;

use crate::in_wasm::InWasm;
use crate::report::Row;
use crate::workload::{Sizes, Workload};
use crate::{from_host, native, progress, python, stats::percentile};

/// Every contender, ready to run workloads.
pub(crate) struct Contenders {
    pub(crate) instance: Instance,
    pub(crate) composed: InWasm,
    pub(crate) peer: InWasm,
    pub(crate) python: bool,
}

impl Contenders {
    /// Seconds for one run of a rate workload by each contender, in the table's order.
    pub(crate) fn seconds(
        &mut self,
        workload: Workload,
        sizes: &Sizes,
    ) -> Result<[Option<f64>; 5]> {
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

    /// Seconds of [`Sizes::repetitions`] runs of a rate workload by each contender, the
    /// contenders taking turns (so that they share the machine's moods alike).
    pub(crate) fn runs(&mut self, workload: Workload, sizes: &Sizes) -> Result<[Vec<f64>; 5]> {
        let mut runs: [Vec<f64>; 5] = Default::default();
        for _ in 0..sizes.repetitions {
            for (c, seconds) in self.seconds(workload, sizes)?.into_iter().enumerate() {
                runs[c].extend(seconds);
            }
        }
        Ok(runs)
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

/// The round-trip rows: the 50th and the 99th percentile of each contender's trips, as the
/// median over [`Sizes::repetitions`] runs, with their spread.
pub(crate) fn round_trip_rows(
    contenders: &mut Contenders,
    sizes: &Sizes,
    rows: &mut Vec<Row>,
) -> Result<()> {
    progress("round trips");
    let quantiles = [("p50", 0.50), ("p99", 0.99)];
    let mut runs: [[Vec<f64>; 5]; 2] = Default::default();
    for _ in 0..sizes.repetitions {
        let times = contenders.round_trips(sizes)?;
        for (q, (_, quantile)) in quantiles.iter().enumerate() {
            for (c, times) in times.iter().enumerate() {
                runs[q][c].extend(times.as_ref().map(|t| percentile(t, *quantile)));
            }
        }
    }
    for ((name, _), runs) in quantiles.iter().zip(&runs) {
        let title = format!("{}, {name}", Workload::RoundTrips.title(sizes));
        rows.push(Row::of_runs(title, "µs", false, runs));
    }
    Ok(())
}
