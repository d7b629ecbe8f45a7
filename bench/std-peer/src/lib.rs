//! Contender 4, the WASM peer: the benchmark's workloads written with Rust's `std::net` (and
//! `BufReader` for lines) and compiled to wasm32-wasip2, run by the same engine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

wit_bindgen::generate!({ path: "../wit", world: "runner" });

use exports::alore::socket_bench::workloads::Guest;

/// Reads and writes move 64 KiB at a time, as for every contender.
const CHUNK: usize = 64 * 1024;

struct Workloads;

fn text(e: std::io::Error) -> String {
    e.to_string()
}

fn nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn connect(port: u16) -> Result<TcpStream, String> {
    TcpStream::connect(("127.0.0.1", port)).map_err(text)
}

impl Guest for Workloads {
    fn receive(port: u16, bytes: u64) -> Result<u64, String> {
        let mut stream = connect(port)?;
        let mut buf = vec![0u8; CHUNK];
        let started = Instant::now();
        let mut got = 0;
        while got < bytes {
            got += stream.read(&mut buf).map_err(text)? as u64;
        }
        Ok(nanos(started))
    }

    fn send(port: u16, bytes: u64) -> Result<u64, String> {
        let mut stream = connect(port)?;
        let chunk = vec![7u8; CHUNK];
        let started = Instant::now();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            stream.write_all(&chunk[..n]).map_err(text)?;
            left -= n as u64;
        }
        stream.read_exact(&mut [0u8; 1]).map_err(text)?;
        Ok(nanos(started))
    }

    fn lines(port: u16, count: u32) -> Result<u64, String> {
        let mut reader = BufReader::new(connect(port)?);
        let mut line = String::new();
        let started = Instant::now();
        for _ in 0..count {
            line.clear();
            reader.read_line(&mut line).map_err(text)?;
        }
        Ok(nanos(started))
    }

    fn round_trips(port: u16, count: u32) -> Result<Vec<u64>, String> {
        // One stream for both directions: `try_clone` is not supported on wasm32-wasip2.
        let mut reader = BufReader::new(connect(port)?);
        let mut line = String::new();
        (0..count)
            .map(|_| {
                let started = Instant::now();
                reader.get_mut().write_all(b"ping\n").map_err(text)?;
                line.clear();
                reader.read_line(&mut line).map_err(text)?;
                Ok(nanos(started))
            })
            .collect()
    }

    fn connects(port: u16, count: u32) -> Result<u64, String> {
        let started = Instant::now();
        for _ in 0..count {
            drop(connect(port)?);
        }
        Ok(nanos(started))
    }

    fn lookups(count: u32) -> Result<u64, String> {
        let started = Instant::now();
        for _ in 0..count {
            ("localhost", 0).to_socket_addrs().map_err(text)?.next();
        }
        Ok(nanos(started))
    }
}

export!(Workloads);
