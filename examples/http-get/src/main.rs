//! `http-get URL`: a `wasi:cli/command` that imports `alore:socket/socket` and fetches
//! `http://HOST[:PORT]/PATH` or `https://…` from an HTTP/1.0 server, then prints the status
//! line and the body. For `https://` it calls `start-tls` after connecting: that needs the
//! component's TLS build and a host that allows TLS. The request goes out with `write-ln` and the head comes back with `read-ln`, Alore's
//! line semantics; then `detach` hands over the connection's own WASI input stream, and the
//! body comes from the host straight into this component's memory, without crossing the
//! socket component.

use std::io::Write;
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
use wasip2::io::streams::StreamError;

/// The most header lines a response may have: a server that sends more (an endless head)
/// is refused rather than read forever. Servers cap requests alike (Apache's default is 100).
const MAX_HEADER_LINES: usize = 100;
/// How much one read of the body asks for: wasmtime hands out at most 64 KiB per stream read.
const READ_CHUNK: u64 = 64 * 1024;

fn describe(error: Error) -> String {
    match error {
        Error::NameError(message) => format!("NameError: {message}"),
        Error::ValueError(message) => format!("ValueError: {message}"),
        Error::IoError(e) => format!("IoError ({:?}): {}", e.kind, e.message),
    }
}

/// `http://host[:port][/path]` or `https://…` → (TLS?, host, port, path).
fn parse(url: &str) -> Option<(bool, &str, u16, &str)> {
    let (tls, rest) = match url.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, url.strip_prefix("http://")?),
    };
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    Some((tls, host, port, path))
}

fn get(url: &str) -> Result<(), String> {
    let (tls, host, port, path) =
        parse(url).ok_or_else(|| format!("not an http:// or https:// URL: {url}"))?;
    // RFC 9110 §7.2: the port is part of Host unless it is the scheme's default.
    let host_header = match (tls, port) {
        (false, 80) | (true, 443) => host.to_owned(),
        _ => format!("{host}:{port}"),
    };
    let socket = Socket::new(host, port, Some(Buffering::Buffered)).map_err(describe)?;
    if tls {
        // The certificate must be for the host of the URL, the name connected to.
        socket.start_tls(None).map_err(describe)?;
    }
    // HTTP ends lines with CR LF: a CR before write-ln's LF.
    for line in [
        format!("GET {path} HTTP/1.0\r"),
        format!("Host: {host_header}\r"),
        "\r".to_owned(),
    ] {
        socket.write_ln(line.as_bytes()).map_err(describe)?;
    }
    socket.flush().map_err(describe)?;
    // One host call per block of output, not per line (under Node each is a trip to
    // preview2-shim's I/O thread).
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let failed = |e: std::io::Error| format!("stdout: {e}");
    let status = socket.read_ln().map_err(describe)?;
    out.write_all(&status).map_err(failed)?;
    out.write_all(b"\n").map_err(failed)?;
    // The head ends at an empty line.
    let mut header_lines = 0;
    while !socket.read_ln().map_err(describe)?.is_empty() {
        header_lines += 1;
        if header_lines > MAX_HEADER_LINES {
            return Err(format!("more than {MAX_HEADER_LINES} header lines"));
        }
    }
    if tls {
        // A TLS connection's streams belong to the host's TLS connection and cannot be
        // detached: the body comes through `read`.
        loop {
            let block = socket.read(Some(READ_CHUNK as u32)).map_err(describe)?;
            if block.is_empty() {
                return out.flush().map_err(failed);
            }
            out.write_all(&block).map_err(failed)?;
        }
    }
    // Kept whole, not destructured: the record drops its streams before their connection,
    // the order WASI asks for.
    let body = socket.detach().map_err(describe)?;
    out.write_all(&body.buffered).map_err(failed)?;
    // A child of the input stream: dropped before it, at the end of this block.
    let readable = body.input.subscribe();
    loop {
        // Non-blocking reads and a wait when there is nothing yet: portable. (Splicing to
        // stdout would save a copy under wasmtime, but preview2-shim 0.26.1's splice never
        // reports the end of the stream.)
        match body.input.read(READ_CHUNK) {
            Ok(bytes) if bytes.is_empty() => readable.block(),
            Ok(bytes) => out.write_all(&bytes).map_err(failed)?,
            // HTTP/1.0: the body ends with the connection.
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    drop(readable);
    out.flush().map_err(failed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, url] = args.as_slice() else {
        eprintln!("usage: http-get http[s]://HOST[:PORT]/PATH");
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
