//! The few statistics the tables need.

use anyhow::Result;

/// The shortest of three runs: loopback on a shared machine moves ±20% from run to run, and a
/// share of two figures doubles that.
pub(crate) fn best(mut run: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut shortest = f64::INFINITY;
    for _ in 0..3 {
        shortest = shortest.min(run()?);
    }
    Ok(shortest)
}

/// The `quantile` (0 to 1) of `times`, the nearest rank.
pub(crate) fn percentile(times: &[f64], quantile: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}
