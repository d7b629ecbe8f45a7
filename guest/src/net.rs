//! A connected TCP/IPv4 socket over `wasi:sockets/tcp` and `wasi:io`: the only code that
//! touches WASI socket streams.
//!
//! Three WASI 0.2 rules shape it (`../shared/notes/wasi-brief.md`): an empty non-blocking
//! read means "not yet" and `closed` means the end of the stream; writes go through
//! `check-write`/`write` (the `blocking-*` calls trap on large buffers or repeated spurious
//! wakeups); child resources are dropped before their parents.

use std::net::Ipv4Addr;

use wasip2::io::poll::Pollable;
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

use crate::error::{self, Error, IoKind};
use crate::stream::Transport;

/// A connected socket and its two streams.
pub struct TcpConnection {
    // Declaration order is drop order, and WASI traps when a parent resource is dropped
    // before its children: pollables before their streams, streams before their socket.
    readable: Pollable,
    writable: Pollable,
    input: InputStream,
    output: OutputStream,
    socket: TcpSocket,
}

impl TcpConnection {
    /// Connect to `address:port`. A socket can try to connect only once, so each attempt
    /// gets a fresh one.
    pub fn connect(address: Ipv4Addr, port: u16) -> Result<Self, Error> {
        let network = instance_network();
        let socket = create_tcp_socket(IpAddressFamily::Ipv4).map_err(error::from_code)?;
        let [a, b, c, d] = address.octets();
        let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port,
            address: (a, b, c, d),
        });
        socket
            .start_connect(&network, remote)
            .map_err(error::from_code)?;
        let (input, output) = {
            let connected = socket.subscribe();
            loop {
                match socket.finish_connect() {
                    Ok(streams) => break streams,
                    // A pollable may wake early: ask again until it is really done.
                    Err(ErrorCode::WouldBlock) => connected.block(),
                    Err(code) => return Err(error::from_code(code)),
                }
            }
        };
        Ok(TcpConnection {
            readable: input.subscribe(),
            writable: output.subscribe(),
            input,
            output,
            socket,
        })
    }

    pub fn local_address(&self) -> Result<(Ipv4Addr, u16), Error> {
        ipv4_of(self.socket.local_address())
    }

    pub fn remote_address(&self) -> Result<(Ipv4Addr, u16), Error> {
        ipv4_of(self.socket.remote_address())
    }

    /// Wait until the output stream can take more bytes; returns how many.
    fn writable_bytes(&self) -> Result<usize, Error> {
        loop {
            match self.output.check_write() {
                Ok(0) => self.writable.block(),
                Ok(n) => return Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                Err(e) => return Err(write_failed(e)),
            }
        }
    }
}

impl Transport for TcpConnection {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        loop {
            match self.input.read(max as u64) {
                Ok(bytes) if bytes.is_empty() => self.readable.block(),
                Ok(bytes) => return Ok(bytes),
                Err(StreamError::Closed) => return Ok(Vec::new()),
                Err(StreamError::LastOperationFailed(e)) => return Err(error::from_stream(&e)),
            }
        }
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), Error> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = self.writable_bytes()?.min(rest.len());
            self.output.write(&rest[..n]).map_err(write_failed)?;
            rest = &rest[n..];
        }
        // Wait until the host has taken every byte, so a write that returns Ok has really
        // been handed to the network and a failure shows up at the call that caused it.
        self.output.flush().map_err(write_failed)?;
        self.writable_bytes().map(drop)
    }
}

/// A failed write: `closed` on an output stream means the peer is gone (EPIPE).
fn write_failed(e: StreamError) -> Error {
    match e {
        StreamError::Closed => Error::io(IoKind::ConnectionReset, "Broken pipe [EPIPE]"),
        StreamError::LastOperationFailed(e) => error::from_stream(&e),
    }
}

fn ipv4_of(address: Result<IpSocketAddress, ErrorCode>) -> Result<(Ipv4Addr, u16), Error> {
    match address.map_err(error::from_code)? {
        IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port,
            address: (a, b, c, d),
        }) => Ok((Ipv4Addr::new(a, b, c, d), port)),
        IpSocketAddress::Ipv6(_) => Err(Error::io(IoKind::Other, "Not an IPv4 socket")),
    }
}
