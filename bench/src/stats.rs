//! The few statistics the tables need.

/// The `quantile` (0 to 1) of `times`, the nearest rank.
pub(crate) fn percentile(times: &[f64], quantile: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}

/// How many times the main and loaded tables run each row per contender (the contenders
/// taking turns), so that every figure comes with its spread: loopback on a shared machine
/// moves a figure by a fifth from run to run, and a loaded one by 4×.
pub(crate) const REPETITIONS: usize = 3;

/// The median of `figures` (the middle one; the lower middle of an even count) and their
/// min–max; `None` when there are none.
pub(crate) fn median_and_spread(figures: &[f64]) -> Option<(f64, (f64, f64))> {
    let mut sorted = figures.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = *sorted.get((sorted.len().checked_sub(1)?) / 2)?;
    Some((median, (sorted[0], sorted[sorted.len() - 1])))
}
