//! `connect`: a line client through the component.

use std::io::{BufRead, Write};
use std::net::ToSocketAddrs;

use alore_socket_host::blocking::Socket;
use alore_socket_host::{
    Allow, Buffering, ConnectOptions, IoErrorKind, LookupTable, Policy, Runtime, blocking,
};
use anyhow::{Context, Result};

/// Allow the destination, then send stdin's lines and print the replies. The policy is on
/// addresses, so a name is resolved here, by this machine's resolver, to allow the addresses
/// it stands for; the component's own lookup of it is answered from that same answer (a
/// lookup table), so that round-robin DNS cannot hand it an address this answer lacked.
/// The name is checked first, by the component's own rule, so a malformed one sends no query.
pub(crate) fn connect(
    runtime: &Runtime,
    mut policy: Policy,
    host: &str,
    port: u16,
    how: Connection,
) -> Result<()> {
    let Connection {
        mode,
        timeout_ms,
        tls,
    } = how;
    alore_socket_rules::check_name(host).map_err(|why| anyhow::anyhow!("ValueError: {why}"))?;
    match alore_socket_rules::parse_ip(host) {
        Ok(address) => policy = policy.allow(Allow::host(address).port(port)),
        Err(e @ alore_socket_rules::AddressError::Zone) => {
            anyhow::bail!("ValueError: Invalid address: {e}")
        }
        Err(alore_socket_rules::AddressError::NotAnAddress) => {
            let addresses = (host, port)
                .to_socket_addrs()
                .with_context(|| format!("cannot resolve {host}"))?;
            let mut answer = LookupTable::default();
            // Both families, in the resolver's order: the component races them (RFC 8305).
            for address in addresses {
                let ip = alore_socket_rules::canonical(address.ip());
                policy = policy.allow(Allow::host(ip).port(port));
                answer.add(host, ip);
            }
            policy = policy.allow_lookup(true).lookup_table(answer);
        }
    }
    let options = ConnectOptions {
        buffering: Some(mode),
        timeout_ms: Some(timeout_ms),
    };
    let socket = blocking::Instance::new(runtime, &policy)?
        .connect_with(host, port, options)
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    socket.set_timeout(Some(timeout_ms))?;
    if let Some(server_name) = tls {
        socket
            .start_tls(server_name.as_deref())
            .with_context(|| format!("cannot start TLS with {host}"))?;
    }
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        socket.write_ln(line.context("cannot read stdin")?.as_bytes())?;
        socket.flush()?;
        if !print_reply(&socket, &mut out)? {
            break;
        }
    }
    socket.close()?;
    Ok(())
}

/// How `connect` talks to its server.
pub(crate) struct Connection {
    pub(crate) mode: Buffering,
    pub(crate) timeout_ms: u32,
    /// Start TLS after connecting, with this server name (none: HOST).
    pub(crate) tls: Option<Option<String>>,
}

/// Print one reply line, and any further whole lines that came with it. False when the
/// server has ended the stream.
fn print_reply(socket: &Socket, out: &mut impl Write) -> Result<bool> {
    loop {
        match socket.read_ln() {
            Ok(line) => {
                out.write_all(&line)?;
                out.write_all(b"\n")?;
            }
            Err(e) if e.io_kind() == Some(IoErrorKind::EndOfStream) => {
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        if !socket.peek()?.contains(&b'\n') {
            out.flush()?;
            return Ok(true);
        }
    }
}
