//! The workloads, their sizes, and the one-connection servers on 127.0.0.1 they run against.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::thread::{self, JoinHandle};

use anyhow::{Result, bail};
use clap::ValueEnum;

/// Reads and writes move 64 KiB at a time: wasmtime's largest stream read.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Each line of the line workload: 39 bytes and a line feed.
const LINE: &[u8; 40] = b"abcdefghijklmnopqrstuvwxyz0123456789ABC\n";

/// How much each workload moves or repeats.
#[derive(Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) bulk: usize,
    pub(crate) lines: usize,
    pub(crate) round_trips: usize,
    pub(crate) connects: usize,
    pub(crate) lookups: usize,
    pub(crate) instantiations: usize,
    /// The most connections at once in the concurrency rows.
    pub(crate) concurrent_max: usize,
    /// Round trips in each concurrency row, shared among its connections.
    pub(crate) concurrent_trips: usize,
    /// Runs of each main, TLS and loaded row per contender ([`crate::stats::REPETITIONS`]).
    pub(crate) repetitions: usize,
}

/// Sized so the full run ends in a few minutes on 2 cores.
pub(crate) const FULL: Sizes = Sizes {
    bulk: 256 << 20,
    lines: 2_000_000,
    round_trips: 20_000,
    connects: 2_000,
    lookups: 2_000,
    instantiations: 200,
    concurrent_max: 1_000,
    concurrent_trips: 100_000,
    repetitions: crate::stats::REPETITIONS,
};

/// A smoke check that the benchmark still runs: well under a minute.
pub(crate) const QUICK: Sizes = Sizes {
    bulk: 16 << 20,
    lines: 100_000,
    round_trips: 1_000,
    connects: 100,
    lookups: 100,
    instantiations: 20,
    concurrent_max: 100,
    concurrent_trips: 2_000,
    repetitions: 1,
};

/// One workload, run through every contender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// Bulk receive in 64 KiB reads.
    Receive,
    /// Bulk send in 64 KiB writes.
    Send,
    /// Bulk receive through the streams `detach` hands over (composed only).
    ReceiveDetached,
    /// Bulk send through the streams `detach` hands over (composed only).
    SendDetached,
    /// read-ln of 40-byte lines.
    Lines,
    /// write-ln + read-ln against an echo server.
    RoundTrips,
    /// Connect and close.
    Connects,
    /// get-host-by-name("localhost").
    Lookups,
    /// Instantiating the component, and its size.
    Instantiation,
}

/// The workloads measured as a time for a fixed amount of work, shown as a rate.
pub(crate) const RATES: [Workload; 7] = [
    Workload::Receive,
    Workload::Send,
    Workload::ReceiveDetached,
    Workload::SendDetached,
    Workload::Lines,
    Workload::Connects,
    Workload::Lookups,
];

impl Workload {
    /// For a workload through `detach`: the plain workload it is measured against, which the
    /// other contenders run (they have no `detach`).
    pub(crate) fn detached_from(self) -> Option<Workload> {
        match self {
            Workload::ReceiveDetached => Some(Workload::Receive),
            Workload::SendDetached => Some(Workload::Send),
            _ => None,
        }
    }

    /// The row's title.
    pub(crate) fn title(self, sizes: &Sizes) -> String {
        match self {
            Workload::Receive => format!("bulk receive, {:.0} MiB in 64 KiB reads", mib(sizes)),
            Workload::Send => format!("bulk send, {:.0} MiB in 64 KiB writes", mib(sizes)),
            Workload::ReceiveDetached => {
                format!("bulk receive through `detach`, {:.0} MiB", mib(sizes))
            }
            Workload::SendDetached => format!("bulk send through `detach`, {:.0} MiB", mib(sizes)),
            Workload::Lines => format!("read-ln, {} lines of 40 bytes", sizes.lines),
            Workload::RoundTrips => "round trip (write-ln + read-ln, echo)".into(),
            Workload::Connects => "connect + close".into(),
            Workload::Lookups => "get-host-by-name(\"localhost\")".into(),
            Workload::Instantiation => "instantiate the component (precompiled)".into(),
        }
    }

    /// The unit of a rate row.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Workload::Receive
            | Workload::Send
            | Workload::ReceiveDetached
            | Workload::SendDetached => "MiB/s",
            Workload::Lines => "lines/s",
            _ => "per s",
        }
    }

    /// How much work one run does, in the rate's unit.
    pub(crate) fn amount(self, sizes: &Sizes) -> f64 {
        match self {
            Workload::Receive
            | Workload::Send
            | Workload::ReceiveDetached
            | Workload::SendDetached => mib(sizes),
            Workload::Lines => sizes.lines as f64,
            Workload::RoundTrips => sizes.round_trips as f64,
            Workload::Connects => sizes.connects as f64,
            Workload::Lookups => sizes.lookups as f64,
            Workload::Instantiation => sizes.instantiations as f64,
        }
    }

    /// How many bytes, lines or times the workload's server serves.
    pub(crate) fn count(self, sizes: &Sizes) -> usize {
        match self {
            Workload::Receive
            | Workload::Send
            | Workload::ReceiveDetached
            | Workload::SendDetached => sizes.bulk,
            Workload::Lines => sizes.lines,
            Workload::RoundTrips => sizes.round_trips,
            Workload::Connects => sizes.connects,
            Workload::Lookups => sizes.lookups,
            Workload::Instantiation => sizes.instantiations,
        }
    }

    /// A fresh server on 127.0.0.1 for one run of the workload (lookups need none: port 0).
    pub(crate) fn server(self, sizes: &Sizes) -> Result<Server> {
        self.server_on(Ipv4Addr::LOCALHOST.into(), sizes)
    }

    /// [`Workload::server`] on `ip` (127.0.0.1 or ::1).
    pub(crate) fn server_on(self, ip: IpAddr, sizes: &Sizes) -> Result<Server> {
        let count = self.count(sizes);
        let start = |serve| Server::start(ip, serve);
        match self {
            Workload::Receive | Workload::ReceiveDetached => {
                start(Box::new(move |l| serve_bytes(l, count)))
            }
            Workload::Send | Workload::SendDetached => {
                start(Box::new(move |l| take_bytes(l, count)))
            }
            Workload::Lines => start(Box::new(move |l| serve_lines(l, count))),
            Workload::RoundTrips => start(Box::new(echo_lines)),
            Workload::Connects => start(Box::new(move |l| accept_all(l, count))),
            Workload::Lookups | Workload::Instantiation => Ok(Server::none()),
        }
    }
}

fn mib(sizes: &Sizes) -> f64 {
    sizes.bulk as f64 / (1 << 20) as f64
}

/// The workload servers' listen backlog. std's 128 let a fast client (native code) fill the
/// accept queue faster than the server thread, sharing two cores with it, empties it: Linux
/// then drops the next SYN, and that connect waits a whole second for its retry. That, not
/// the client, made native `connect + close` the slowest contender (279/s). Linux caps it at
/// `net.core.somaxconn` (4096 on this project's machines).
const BACKLOG: i32 = 4096;

/// A listener on a free port of `ip`, with [`BACKLOG`].
fn listen_on(ip: IpAddr) -> Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address((ip, 0).into()), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&std::net::SocketAddr::new(ip, 0).into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// What a server does with its listener.
type Serve = Box<dyn FnOnce(TcpListener) -> Result<()> + Send + 'static>;

/// A server for one run on its own thread; [`Server::finish`] reports how it went.
pub(crate) struct Server {
    pub(crate) port: u16,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Server {
    fn start(ip: IpAddr, serve: Serve) -> Result<Self> {
        assert!(ip.is_loopback(), "the benchmark connects only to loopback");
        let listener = listen_on(ip)?;
        let port = listener.local_addr()?.port();
        let thread = Some(thread::spawn(move || {
            crate::pin::server();
            serve(listener)
        }));
        Ok(Server { port, thread })
    }

    fn none() -> Self {
        Server {
            port: 0,
            thread: None,
        }
    }

    /// Wait for the server's thread and pass on its failure.
    pub(crate) fn finish(self) -> Result<()> {
        match self.thread {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("a server thread panicked"))?,
            None => Ok(()),
        }
    }
}

/// Call `write` with slices of one 64 KiB chunk that add up to `size` bytes.
pub(crate) fn in_chunks(size: usize, mut write: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let chunk = vec![7u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK);
        write(&chunk[..n])?;
        left -= n;
    }
    Ok(())
}

fn serve_bytes(listener: TcpListener, size: usize) -> Result<()> {
    let (mut s, _) = listener.accept()?;
    in_chunks(size, |chunk| Ok(s.write_all(chunk)?))
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
