//! `http-get URL`: a `wasi:cli/command` that imports `alore:socket/socket` and fetches
//! `http://HOST[:PORT]/PATH` from an HTTP/1.0 server, then prints the status line and the
//! body. The request goes out with `write-ln` and the head comes back with `read-ln`, Alore's
//! line semantics; then `detach` hands over the connection's own WASI input stream and the
//! body is spliced from it to stdout by the host, never copied through either component.

use std::process::ExitCode;

// The contract's WASI types are those of the `wasip2` crate, so the streams `detach` returns
// have its methods.
wit_bindgen::generate!({
    path: "../../wit",
    world: "client",
    with: {
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:sockets/network@0.2.12": wasip2::sockets::network,
        "wasi:sockets/tcp@0.2.12": wasip2::sockets::tcp,
    },
});

use alore::socket::socket::{Buffering, Error, Socket};
use wasip2::io::streams::{OutputStream, StreamError};

/// The most header lines a response may have: a server that sends more (an endless head)
/// is refused rather than read forever. Servers cap requests alike (Apache's default is 100).
const MAX_HEADER_LINES: usize = 100;
/// How much one splice moves: wasmtime hands out at most 64 KiB per stream read.
const SPLICE_CHUNK: u64 = 64 * 1024;
/// WASI's `blocking-write-and-flush` takes at most 4096 bytes per call.
const WRITE_CHUNK: usize = 4096;

fn describe(error: Error) -> String {
    match error {
        Error::NameError(message) => format!("NameError: {message}"),
        Error::ValueError(message) => format!("ValueError: {message}"),
        Error::IoError(e) => format!("IoError ({:?}): {}", e.kind, e.message),
    }
}

/// `http://host[:port][/path]` → (host, port, path).
fn parse(url: &str) -> Option<(&str, u16, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, 80),
    };
    Some((host, port, path))
}

fn get(url: &str) -> Result<(), String> {
    let (host, port, path) = parse(url).ok_or_else(|| format!("not an http:// URL: {url}"))?;
    // RFC 9110 §7.2: the port is part of Host unless it is the scheme's default.
    let host_header = match port {
        80 => host.to_owned(),
        port => format!("{host}:{port}"),
    };
    let socket = Socket::new(host, port, Some(Buffering::Buffered)).map_err(describe)?;
    // HTTP ends lines with CR LF: a CR before write-ln's LF.
    for line in [
        format!("GET {path} HTTP/1.0\r"),
        format!("Host: {host_header}\r"),
        "\r".to_owned(),
    ] {
        socket.write_ln(line.as_bytes()).map_err(describe)?;
    }
    socket.flush().map_err(describe)?;
    let stdout = wasip2::cli::stdout::get_stdout();
    let mut status = socket.read_ln().map_err(describe)?;
    status.push(b'\n');
    write_all(&stdout, &status)?;
    // The head ends at an empty line.
    let mut header_lines = 0;
    while !socket.read_ln().map_err(describe)?.is_empty() {
        header_lines += 1;
        if header_lines > MAX_HEADER_LINES {
            return Err(format!("more than {MAX_HEADER_LINES} header lines"));
        }
    }
    // Kept whole, not destructured: the record drops its streams before their connection,
    // the order WASI asks for.
    let body = socket.detach().map_err(describe)?;
    write_all(&stdout, &body.buffered)?;
    loop {
        match stdout.blocking_splice(&body.input, SPLICE_CHUNK) {
            Ok(_) => {}
            // HTTP/1.0: the body ends with the connection.
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
}

fn write_all(out: &OutputStream, bytes: &[u8]) -> Result<(), String> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        out.blocking_write_and_flush(chunk)
            .map_err(|e| format!("stdout: {e:?}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, url] = args.as_slice() else {
        eprintln!("usage: http-get http://HOST[:PORT]/PATH");
        return ExitCode::from(2);
    };
    match get(url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http-get: {e}");
            ExitCode::FAILURE
        }
    }
}
