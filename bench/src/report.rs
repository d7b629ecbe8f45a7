//! The results table: a row per workload, a column per contender, and the ratios that
//! compare the composed component with native code and with the peer.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::Result;

use crate::node;

/// The contenders, in the order of the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contender {
    Native,
    FromHost,
    Composed,
    Peer,
    Python,
}

impl Contender {
    pub(crate) const ALL: [Contender; 5] = [
        Contender::Native,
        Contender::FromHost,
        Contender::Composed,
        Contender::Peer,
        Contender::Python,
    ];

    fn name(self) -> &'static str {
        match self {
            Contender::Native => "native std::net",
            Contender::FromHost => "component (from host)",
            Contender::Composed => "composed component",
            Contender::Peer => "wasm std::net peer",
            Contender::Python => "Python socket",
        }
    }
}

/// One row of a table: a figure per contender, in the order of the table's columns (`None`:
/// not measured for it). Five contenders in the main table, four in the Node table.
pub(crate) struct Row<const N: usize = 5> {
    workload: String,
    unit: &'static str,
    higher_is_better: bool,
    figures: [Option<f64>; N],
    /// Each figure's min–max over the runs it is the median of, where it ran more than once.
    spread: [Option<(f64, f64)>; N],
}

/// A row of the Node table, in [`node::Contender::ALL`]'s order.
pub(crate) type NodeRow = Row<4>;

/// A row of the WASI 0.3 edition's table: native, composed WASI 0.2, composed WASI 0.3.
pub(crate) type Row3 = Row<3>;

impl<const N: usize> Row<N> {
    /// A rate row: `amount` of work done in each contender's `seconds`.
    pub(crate) fn rate(
        workload: String,
        unit: &'static str,
        amount: f64,
        seconds: [Option<f64>; N],
    ) -> Self {
        Row::more_is_better(workload, unit, seconds.map(|s| s.map(|s| amount / s)))
    }

    /// A row of figures where more is better (rates, shares).
    pub(crate) fn more_is_better(
        workload: String,
        unit: &'static str,
        figures: [Option<f64>; N],
    ) -> Self {
        Row {
            workload,
            unit,
            higher_is_better: true,
            figures,
            spread: [None; N],
        }
    }

    /// A row of times or sizes, where less is better.
    pub(crate) fn less_is_better(
        workload: String,
        unit: &'static str,
        figures: [Option<f64>; N],
    ) -> Self {
        Row {
            workload,
            unit,
            higher_is_better: false,
            figures,
            spread: [None; N],
        }
    }

    /// A row of the medians of repeated runs (`runs[c]`: contender `c`'s figures, one per
    /// run; empty when not measured), each with its min–max.
    pub(crate) fn of_runs(
        workload: String,
        unit: &'static str,
        higher_is_better: bool,
        runs: &[Vec<f64>; N],
    ) -> Self {
        let each = runs.each_ref().map(|r| crate::stats::median_and_spread(r));
        Row {
            workload,
            unit,
            higher_is_better,
            figures: each.map(|e| e.map(|(median, _)| median)),
            spread: std::array::from_fn(|c| {
                each[c]
                    .filter(|_| runs[c].len() > 1)
                    .map(|(_, spread)| spread)
            }),
        }
    }

    /// A rate row of repeated runs: `amount` of work in each run's seconds.
    pub(crate) fn rate_runs(
        workload: String,
        unit: &'static str,
        amount: f64,
        seconds: &[Vec<f64>; N],
    ) -> Self {
        let rates = seconds
            .each_ref()
            .map(|s| s.iter().map(|s| amount / s).collect());
        Row::of_runs(workload, unit, true, &rates)
    }
}

impl Row {
    /// A row with a figure for the component called from the host alone.
    pub(crate) fn from_host_only(workload: String, unit: &'static str, figure: f64) -> Self {
        let mut figures = [None; 5];
        figures[Contender::FromHost as usize] = Some(figure);
        Row::less_is_better(workload, unit, figures)
    }

    /// The figure for `contender`, if measured.
    pub(crate) fn of(&self, contender: Contender) -> Option<f64> {
        self.figures[contender as usize]
    }
}

/// A table in Markdown: a column per contender (`names`), then three ratio columns, each
/// `(title, figure's column, base's column)`.
fn table<const N: usize>(
    out: &mut String,
    names: [&str; N],
    ratios: [(&str, usize, usize); 3],
    rows: &[Row<N>],
) -> Result<()> {
    write!(out, "| workload | unit |")?;
    for name in names.iter().chain(ratios.iter().map(|(title, _, _)| title)) {
        write!(out, " {name} |")?;
    }
    writeln!(out, "\n|---|---|{}", "---:|".repeat(N + ratios.len()))?;
    for row in rows {
        write!(out, "| {} | {} |", row.workload, row.unit)?;
        for (value, spread) in row.figures.into_iter().zip(row.spread) {
            match spread {
                Some((min, max)) => write!(
                    out,
                    " {} ({}–{}) |",
                    figure(value),
                    figure(Some(min)),
                    figure(Some(max))
                )?,
                None => write!(out, " {} |", figure(value))?,
            }
        }
        for (_, of, base) in ratios {
            let compared = ratio(row.figures[of], row.figures[base], row.higher_is_better);
            write!(out, " {compared} |")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

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
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
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

/// The Node table: the Node version it ran on, and its rows.
pub(crate) struct NodeTable {
    pub(crate) version: String,
    pub(crate) rows: Vec<NodeRow>,
}

/// The Node table, in Markdown.
fn node_table(out: &mut String, node: &NodeTable) -> Result<()> {
    use node::Contender as N;
    writeln!(
        out,
        "\nUnder Node {} with jco 1.35.0 and preview2-shim 0.26.1, transpiled by \
         `tests/node/transpile.mjs` (`bench/node/bench.mjs`; a quarter of the bulk and a tenth \
         of the lines and round trips above):\n",
        node.version,
    )?;
    table(
        out,
        N::ALL.map(N::name),
        [
            ("composed vs peer", N::Composed as usize, N::Peer as usize),
            (
                "composed vs Node net",
                N::Composed as usize,
                N::Net as usize,
            ),
            (
                "component vs Node net",
                N::Component as usize,
                N::Net as usize,
            ),
        ],
        &node.rows,
    )
}

/// The WASI 0.3 edition's table, in Markdown.
fn p3_table(out: &mut String, rows: &[Row3]) -> Result<()> {
    writeln!(
        out,
        "\nThe WASI 0.3 edition (`alore:socket@0.2.0`), composed with `bench/alore-client-p3`, \
         beside native code and the composed WASI 0.2 consumer, same run. Its bulk rows move \
         through `receive`'s and `send`'s `stream<u8>`; the WASI 0.2 consumer's through `read` \
         and `write` (no `detach`). The concurrency rows hold that many connections at once in \
         one instance; native is tokio, a task each.\n"
    )?;
    table(
        out,
        ["native", "composed 0.2", "composed 0.3"],
        [
            ("0.3 vs native", 2, 0),
            ("0.3 vs 0.2", 2, 1),
            ("0.2 vs native", 1, 0),
        ],
        rows,
    )
}

fn ipv6_table(out: &mut String, rows: &[crate::ipv6::Row6]) -> Result<()> {
    writeln!(
        out,
        "\nIPv6 beside IPv4, same run: the same workloads over `::1` and over 127.0.0.1, native \
         `std::net` and the component called from the host (the families taking turns).\n"
    )?;
    table(
        out,
        [
            "native IPv4",
            "native IPv6",
            "component IPv4",
            "component IPv6",
        ],
        [
            ("component IPv6 vs IPv4", 3, 2),
            ("native IPv6 vs IPv4", 1, 0),
            ("component IPv6 vs native IPv6", 3, 1),
        ],
        rows,
    )
}

/// Every table of one run.
pub(crate) struct Tables<'a> {
    pub(crate) rows: &'a [Row],
    /// The round-trip and bulk rows again, under the background load.
    pub(crate) loaded: &'a [Row],
    pub(crate) p3: &'a [Row3],
    pub(crate) ipv6: &'a [crate::ipv6::Row6],
    pub(crate) node: Option<&'a NodeTable>,
}

/// The main table's columns and ratios.
const MAIN_RATIOS: [(&str, usize, usize); 3] = [
    (
        "composed vs native",
        Contender::Composed as usize,
        Contender::Native as usize,
    ),
    (
        "composed vs peer",
        Contender::Composed as usize,
        Contender::Peer as usize,
    ),
    (
        "from host vs native",
        Contender::FromHost as usize,
        Contender::Native as usize,
    ),
];

/// The results as Markdown: when and where they were taken, then the tables.
pub(crate) fn report(tables: &Tables<'_>, quick: bool) -> Result<String> {
    let Tables {
        rows,
        loaded,
        p3,
        ipv6,
        node,
    } = *tables;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = crate::pin::cpus();
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
         matches it, above is better (for times too). A figure with a range is the median of {} \
         runs, the contenders taking turns, with their min–max; ratios are of medians.\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M"]),
        command_output("git", &["rev-parse", "--short", "HEAD"]),
        if cfg!(debug_assertions) {
            "debug (figures not comparable)"
        } else {
            "release"
        },
        crate::stats::REPETITIONS,
    )?;
    table(
        &mut out,
        Contender::ALL.map(Contender::name),
        MAIN_RATIOS,
        rows,
    )?;
    if !loaded.is_empty() {
        writeln!(
            out,
            "\nThe round-trip and bulk rows again, same run, while one spinning thread per core \
             (at nice 19) keeps every core busy, as on a loaded server: a hop between threads \
             then costs a scheduling decision, not the wake-up of an idle core.\n"
        )?;
        table(
            &mut out,
            Contender::ALL.map(Contender::name),
            MAIN_RATIOS,
            loaded,
        )?;
    }
    if !p3.is_empty() {
        p3_table(&mut out, p3)?;
    }
    if !ipv6.is_empty() {
        ipv6_table(&mut out, ipv6)?;
    }
    if let Some(node) = node {
        node_table(&mut out, node)?;
    }
    if !quick {
        // The profiles behind the figures: measured by hand (perf), kept beside the bench.
        out.push('\n');
        out.push_str(include_str!("../profile.md"));
    }
    Ok(out)
}
