//! Contender 3: the benchmark's workloads on `alore:socket/socket`, imported. Composed with
//! the alore-socket component, as users run it.

use std::time::Instant;

wit_bindgen::generate!({ path: "../wit", world: "alore-client", generate_all });

use alore::socket::socket::{Buffering, Error, Socket, get_host_by_name};
use exports::alore::socket_bench::detached::Guest as Detached;
use exports::alore::socket_bench::tls::Guest as Tls;
use exports::alore::socket_bench::workloads::Guest;
use wasi::io::streams::StreamError;

/// Reads and writes move 64 KiB at a time, as for every contender.
const CHUNK: usize = 64 * 1024;

struct Workloads;

/// `count` times: write "ping" and a line feed, read the echoed line; each one's time.
fn time_round_trips(socket: &Socket, count: u32) -> Result<Vec<u64>, String> {
    (0..count)
        .map(|_| {
            let started = Instant::now();
            socket.write_ln(b"ping").map_err(text)?;
            socket.read_ln().map_err(text)?;
            Ok(nanos(started))
        })
        .collect()
}

fn text(e: Error) -> String {
    format!("{e:?}")
}

fn nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn connect(port: u16, buffering: Option<Buffering>) -> Result<Socket, String> {
    Socket::new("127.0.0.1", port, buffering).map_err(text)
}

impl Guest for Workloads {
    fn receive(port: u16, bytes: u64) -> Result<u64, String> {
        let socket = connect(port, None)?;
        let started = Instant::now();
        let mut got = 0;
        while got < bytes {
            got += socket.read(Some(CHUNK as u32)).map_err(text)?.len() as u64;
        }
        Ok(nanos(started))
    }

    fn send(port: u16, bytes: u64) -> Result<u64, String> {
        let socket = connect(port, None)?;
        let chunk = vec![7u8; CHUNK];
        let started = Instant::now();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            socket.write(&chunk[..n]).map_err(text)?;
            left -= n as u64;
        }
        socket.read(Some(1)).map_err(text)?;
        Ok(nanos(started))
    }

    fn lines(port: u16, count: u32) -> Result<u64, String> {
        let socket = connect(port, Some(Buffering::Buffered))?;
        let started = Instant::now();
        for _ in 0..count {
            socket.read_ln().map_err(text)?;
        }
        Ok(nanos(started))
    }

    fn round_trips(port: u16, count: u32) -> Result<Vec<u64>, String> {
        time_round_trips(&connect(port, None)?, count)
    }

    fn connects(port: u16, count: u32) -> Result<u64, String> {
        let started = Instant::now();
        for _ in 0..count {
            connect(port, None)?.close().map_err(text)?;
        }
        Ok(nanos(started))
    }

    fn lookups(count: u32) -> Result<u64, String> {
        let started = Instant::now();
        for _ in 0..count {
            get_host_by_name("localhost").map_err(text)?;
        }
        Ok(nanos(started))
    }
}

fn stream_text(e: StreamError) -> String {
    match e {
        StreamError::Closed => "the stream ended".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}

impl Detached for Workloads {
    fn receive(port: u16, bytes: u64) -> Result<u64, String> {
        let socket = connect(port, None)?;
        let started = Instant::now();
        let body = socket.detach().map_err(text)?;
        let mut got = body.buffered.len() as u64;
        while got < bytes {
            got += body
                .input
                .blocking_read(CHUNK as u64)
                .map_err(stream_text)?
                .len() as u64;
        }
        Ok(nanos(started))
    }

    fn send(port: u16, bytes: u64) -> Result<u64, String> {
        let socket = connect(port, None)?;
        let chunk = vec![7u8; CHUNK];
        let started = Instant::now();
        let body = socket.detach().map_err(text)?;
        let output = &body.output;
        let ready = output.subscribe();
        let mut left = bytes as usize;
        while left > 0 {
            // WASI's write protocol: ask how much the stream takes now, wait when nothing.
            let room = output.check_write().map_err(stream_text)? as usize;
            if room == 0 {
                ready.block();
                continue;
            }
            let n = left.min(room).min(CHUNK);
            output.write(&chunk[..n]).map_err(stream_text)?;
            left -= n;
        }
        // The receipt: the server has every byte.
        body.input.blocking_read(1).map_err(stream_text)?;
        drop(ready);
        Ok(nanos(started))
    }
}

/// A connection to 127.0.0.1:`port` with TLS started, the certificate for "localhost".
fn connect_tls(port: u16, buffering: Option<Buffering>) -> Result<Socket, String> {
    let socket = connect(port, buffering)?;
    socket.start_tls(Some("localhost")).map_err(text)?;
    Ok(socket)
}

impl Tls for Workloads {
    fn receive(port: u16, bytes: u64) -> Result<u64, String> {
        let socket = connect_tls(port, None)?;
        let started = Instant::now();
        let mut got = 0;
        while got < bytes {
            got += socket.read(Some(CHUNK as u32)).map_err(text)?.len() as u64;
        }
        Ok(nanos(started))
    }

    fn round_trips(port: u16, count: u32) -> Result<Vec<u64>, String> {
        time_round_trips(&connect_tls(port, None)?, count)
    }
}

export!(Workloads);
