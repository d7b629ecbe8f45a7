//! `serve`: an echo server inside the component.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::thread;
use std::time::Duration;

use alore_socket_host::blocking::Socket;
use alore_socket_host::{Allow, Buffering, Error, IoErrorKind, Policy, Runtime, blocking};
use anyhow::{Context, Result};

/// `serve`'s default limit on sending a whole reply: a peer that does not take a line back in
/// this long is gone or hostile.
pub(crate) const SERVE_TIMEOUT_MS: u32 = 10_000;
/// `serve`'s default limit on receiving a whole line: two minutes is more than a person
/// typing into `connect` pauses, and bounds how long one peer holds the one-at-a-time server.
pub(crate) const SERVE_IDLE_TIMEOUT_MS: u32 = 120_000;
/// How long `serve` pauses after an accept that failed for lack of descriptors, so that it
/// does not spin while they are short.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long `serve` waits for a peer, in milliseconds: each a limit on a whole line
/// (`set-deadline`), not on each wait for the network, so that a peer that trickles bytes
/// (or takes them back a few at a time) cannot hold the server past it.
pub(crate) struct ServeTimeouts {
    /// For the peer to take a whole reply.
    pub(crate) reply: u32,
    /// For the peer's next whole line.
    pub(crate) idle: u32,
}

/// Echo every line of every connection, one connection at a time, until killed. A failed
/// connection ends that connection, never the server: only a failure of the listener itself
/// stops it.
pub(crate) fn serve(
    runtime: &Runtime,
    policy: Policy,
    address: IpAddr,
    port: u16,
    mode: Buffering,
    timeouts: ServeTimeouts,
) -> Result<()> {
    let loopback = Allow::network(Ipv4Addr::new(127, 0, 0, 0), 8).expect("8 is a prefix length");
    // Port 0 lets the system pick, so any port of the address is allowed then.
    let here = match port {
        0 => Allow::host(address),
        port => Allow::host(address).port(port),
    };
    let policy = policy
        .allow_listen(here)
        .allow(loopback)
        .allow(Allow::host(Ipv6Addr::LOCALHOST));
    let instance = blocking::Instance::new(runtime, &policy)?;
    let server = instance
        .listen(port, Some(&address.to_string()))
        .with_context(|| format!("cannot listen on {}", SocketAddr::new(address, port)))?;
    let local: IpAddr = server.local_address()?.parse()?;
    eprintln!(
        "alore-socket: echoing lines on {}",
        SocketAddr::new(local, server.local_port()?)
    );
    loop {
        let socket = match server.accept(Some(mode)) {
            Ok(socket) => socket,
            Err(e) => match e.io_kind() {
                // The peer went before we took it, or the host turned it away.
                Some(IoErrorKind::ConnectionReset | IoErrorKind::AccessDenied) => {
                    eprintln!("alore-socket: a connection failed before it began: {e}");
                    continue;
                }
                Some(IoErrorKind::LimitExceeded) => {
                    eprintln!("alore-socket: cannot accept now: {e}");
                    thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
                _ => return Err(e).context("the listener failed"),
            },
        };
        let peer = match (socket.remote_address(), socket.remote_port()) {
            (Ok(address), Ok(port)) => format!("{address}:{port}"),
            _ => "a peer".to_owned(),
        };
        eprintln!("alore-socket: {peer} connected");
        let ended = echo_lines(&socket, &timeouts);
        let _ = socket.close();
        match ended.io_kind() {
            Some(IoErrorKind::EndOfStream) => eprintln!("alore-socket: {peer} left"),
            Some(IoErrorKind::TimedOut) => eprintln!("alore-socket: {peer} timed out: {ended}"),
            Some(_) => eprintln!("alore-socket: {peer} left: {ended}"),
            // Not the contract's error: the instance itself failed, and with it the listener.
            None => return Err(ended).context("the component failed"),
        }
    }
}

/// Send every line back until the connection ends; returns how it ended.
fn echo_lines(socket: &Socket, timeouts: &ServeTimeouts) -> Error {
    let echo_one = || {
        socket.set_deadline(Some(timeouts.idle))?;
        let line = socket.read_ln()?;
        socket.set_deadline(Some(timeouts.reply))?;
        socket.write_ln(&line)?;
        socket.flush()
    };
    loop {
        if let Err(e) = echo_one() {
            return e;
        }
    }
}
