//! `line-client HOST PORT`: a `wasi:cli/command` that imports `alore:socket/socket`. Each line
//! of stdin goes out with `write-ln`; the reply line is printed. Plug the alore-socket
//! component into it with `wac plug` to run it.

use std::io::{BufRead, Write};
use std::process::ExitCode;

// `generate_all`: bindings also for the WASI types the contract names (`detach`).
wit_bindgen::generate!({ path: "../../wit", world: "client", generate_all });

use alore::socket::socket::{Error, Socket};

fn describe(error: Error) -> String {
    match error {
        Error::NameError(message) => format!("NameError: {message}"),
        Error::ValueError(message) => format!("ValueError: {message}"),
        Error::IoError(e) => format!("IoError ({:?}): {}", e.kind, e.message),
    }
}

fn run(host: &str, port: &str) -> Result<(), String> {
    let port: u16 = port.parse().map_err(|_| format!("not a port: {port}"))?;
    let socket = Socket::new(host, port, None).map_err(describe)?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        socket.write_ln(line.as_bytes()).map_err(describe)?;
        let reply = socket.read_ln().map_err(describe)?;
        out.write_all(&reply)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| e.to_string())?;
    }
    socket.close().map_err(describe)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port] = args.as_slice() else {
        eprintln!("usage: line-client HOST PORT");
        return ExitCode::from(2);
    };
    match run(host, port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("line-client: {e}");
            ExitCode::FAILURE
        }
    }
}
