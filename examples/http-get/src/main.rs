//! `http-get URL`: a `wasi:cli/command` that imports `alore:socket/socket` and fetches
//! `http://HOST[:PORT]/PATH` from an HTTP/1.0 server with `write-ln` and `read-lines`, then
//! prints the status line and the body.

use std::io::Write;
use std::process::ExitCode;

wit_bindgen::generate!({ path: "../../wit", world: "client" });

use alore::socket::socket::{Buffering, Error, Socket};

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
    let lines = socket.read_lines().map_err(describe)?;
    let status = lines.first().ok_or("the server sent nothing")?;
    let body = lines.iter().skip_while(|l| !l.is_empty()).skip(1);
    // Buffered: stdout is line-buffered, and each line would be a host call of its own (under
    // Node, two trips to preview2-shim's I/O thread).
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let mut print = |line: &[u8]| out.write_all(line).and_then(|()| out.write_all(b"\n"));
    print(status).map_err(|e| e.to_string())?;
    for line in body {
        print(line).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
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
