//! The workloads under Node (jco 1.35, preview2-shim 0.26.1, pinned in `tests/node`), run by
//! `bench/node/bench.mjs` in a child process (a blocking call under jco holds Node's event
//! loop, so the servers stay in this process), when `node` is here (`$ALORE_SOCKET_BENCH_NODE`
//! names another Node binary). The components are transpiled by `tests/node/transpile.mjs`,
//! as docs/node.md tells users to:
//! (a) Node's own `net`; (b) the socket component called from JavaScript; (c) the composed
//! Rust consumer (`bench/alore-client`); (d) the wasm `std::net` peer, transpiled the same way.

use crate::progress;
use crate::report::{NodeRow, NodeTable};
use crate::stats::percentile;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workload::{Sizes, Workload};

/// The contenders under Node, in the order of the Node table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contender {
    Net,
    Component,
    Composed,
    Peer,
}

impl Contender {
    pub(crate) const ALL: [Contender; 4] = [
        Contender::Net,
        Contender::Component,
        Contender::Composed,
        Contender::Peer,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Contender::Net => "Node net",
            Contender::Component => "component from JS",
            Contender::Composed => "composed Rust consumer",
            Contender::Peer => "wasm std::net peer",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Contender::Net => "net",
            Contender::Component => "component",
            Contender::Composed => "composed",
            Contender::Peer => "peer",
        }
    }
}

/// The workloads measured under Node.
pub(crate) const WORKLOADS: [Workload; 4] = [
    Workload::Receive,
    Workload::ReceiveDetached,
    Workload::Lines,
    Workload::RoundTrips,
];

/// Node's sizes: a quarter of the bulk and a tenth of the rest, as every call there is slower
/// (the runs stay under a minute in all).
pub(crate) fn sizes(of: &Sizes) -> Sizes {
    Sizes {
        bulk: of.bulk / 4,
        lines: of.lines / 10,
        round_trips: of.round_trips / 10,
        ..*of
    }
}

/// The transpiled components and the script that runs them.
pub(crate) struct Node {
    node: PathBuf,
    script: PathBuf,
    dir: PathBuf,
}

const NODE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/node");
/// Names the Node binary to run, when not the `node` on the `PATH` (e.g. a newer one).
const NODE_ENV: &str = "ALORE_SOCKET_BENCH_NODE";

impl Node {
    /// Install the pinned npm packages if need be and transpile the three components; `None`
    /// when `node` is missing.
    pub(crate) fn prepare(component: &[u8], composed: &[u8], peer: &[u8]) -> Result<Option<Node>> {
        let node_binary = std::env::var_os(NODE_ENV).map_or_else(|| "node".into(), PathBuf::from);
        if Command::new(&node_binary)
            .arg("--version")
            .output()
            .is_err()
        {
            return Ok(None);
        }
        let node_dir = Path::new(NODE_DIR).canonicalize()?;
        let node_modules = node_dir.join("node_modules");
        if !node_modules.join("@bytecodealliance/jco").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&node_dir)
                .status()
                .context("npm runs")?;
            if !status.success() {
                bail!("npm ci in tests/node failed");
            }
        }
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-node");
        std::fs::create_dir_all(&target)?;
        let dir = target.canonicalize()?;
        // The transpiled modules import preview2-shim by name: Node finds it here.
        let link = dir.join("node_modules");
        if !link.exists() {
            std::os::unix::fs::symlink(&node_modules, &link)?;
        }
        let node = Node {
            node: node_binary,
            script: Path::new(env!("CARGO_MANIFEST_DIR")).join("node/bench.mjs"),
            dir,
        };
        std::fs::write(node.dir.join("alore_socket.wasm"), component)?;
        std::fs::write(node.dir.join("composed.wasm"), composed)?;
        std::fs::write(node.dir.join("peer.wasm"), peer)?;
        for (name, wasm) in [
            ("component", node.dir.join("alore_socket.wasm")),
            ("composed", node.dir.join("composed.wasm")),
            ("peer", node.dir.join("peer.wasm")),
        ] {
            let out = node.dir.join(name);
            node.node(
                &node_dir.join("transpile.mjs"),
                &[wasm.as_os_str(), out.as_os_str()],
            )?;
        }
        Ok(Some(node))
    }

    /// The Node binary's version.
    pub(crate) fn version(&self) -> String {
        Command::new(&self.node)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// Run `script` with `args`; its output.
    fn node(&self, script: &Path, args: &[&std::ffi::OsStr]) -> Result<String> {
        let out = Command::new(&self.node).arg(script).args(args).output()?;
        if !out.status.success() {
            bail!(
                "node {script:?} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// One run of `workload` by `contender` against a fresh server; the script's output.
    fn run(&self, contender: Contender, workload: Workload, sizes: &Sizes) -> Result<String> {
        let name = match workload {
            Workload::Receive => "receive",
            Workload::ReceiveDetached => "receive-detached",
            Workload::Lines => "lines",
            Workload::RoundTrips => "round-trips",
            other => bail!("no {other:?} under Node"),
        };
        let server = workload.server(sizes)?;
        let module = self.dir.join(contender.arg()).join("component.js");
        let port = server.port.to_string();
        let count = workload.count(sizes).to_string();
        let out = self.node(
            &self.script,
            &[
                contender.arg().as_ref(),
                name.as_ref(),
                port.as_ref(),
                count.as_ref(),
                module.as_os_str(),
            ],
        )?;
        server.finish()?;
        Ok(out)
    }

    /// Seconds for one run of a rate workload; `None` where the contender lacks it (only the
    /// composed consumer has `detach`: Node's `net` and the peer run the plain receive).
    pub(crate) fn seconds(
        &self,
        contender: Contender,
        workload: Workload,
        sizes: &Sizes,
    ) -> Result<Option<f64>> {
        let workload = match (workload.detached_from(), contender) {
            (Some(_), Contender::Component) => return Ok(None),
            (Some(plain), Contender::Net | Contender::Peer) => plain,
            _ => workload,
        };
        let nanos: f64 = self.run(contender, workload, sizes)?.parse()?;
        Ok(Some(nanos / 1e9))
    }

    /// Each round trip's time, in microseconds.
    pub(crate) fn round_trips(&self, contender: Contender, sizes: &Sizes) -> Result<Vec<f64>> {
        let out = self.run(contender, Workload::RoundTrips, sizes)?;
        parse_list(&out)
    }
}

/// A JSON list of numbers, as the script prints it.
fn parse_list(text: &str) -> Result<Vec<f64>> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .context("not a list")?;
    inner.split(',').map(|t| Ok(t.trim().parse()?)).collect()
}

/// The Node table, or none when `node` is missing.
pub(crate) fn table(
    component: &[u8],
    composed: &[u8],
    peer: &[u8],
    sizes: &Sizes,
) -> Result<Option<NodeTable>> {
    progress("transpiling for Node");
    let Some(node) = Node::prepare(component, composed, peer)? else {
        eprintln!("node is missing: no Node table");
        return Ok(None);
    };
    let sizes = self::sizes(sizes);
    let mut rows = Vec::new();
    for workload in WORKLOADS {
        progress(&format!("under Node: {}", workload.title(&sizes)));
        if workload == Workload::RoundTrips {
            let mut times = Vec::new();
            for contender in Contender::ALL {
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
        for (i, contender) in Contender::ALL.into_iter().enumerate() {
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
