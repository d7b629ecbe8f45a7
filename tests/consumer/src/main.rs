//! `test-consumer COMMAND PORT [ARG]`: a `wasi:cli/command` the end-to-end tests compose with
//! the component, for what no example does. Connects to `127.0.0.1:PORT`.
//!
//! - `read-lines PORT`: `read-lines` to the end, then prints how many lines and bytes it held.
//! - `detach PORT ORDER`: reads the server's first line with `read-ln`, writes `hello` (held in
//!   a buffered socket), detaches, writes `world` through the output stream, prints every byte
//!   it reads after the first line (`buffered`, then the input stream to its end), and then
//!   drops the socket (`s`), the input (`i`), the output (`o`) and the connection (`c`) in
//!   `ORDER`, a permutation of `sioc`.

use std::io::Write;
use std::process::ExitCode;

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

use alore::socket::socket::{Buffering, Detached, Error, Socket};
use wasip2::io::streams::StreamError;

fn describe(error: Error) -> String {
    match error {
        Error::NameError(message) => format!("NameError: {message}"),
        Error::ValueError(message) => format!("ValueError: {message}"),
        Error::IoError(e) => format!("IoError ({:?}): {}", e.kind, e.message),
    }
}

fn connect(port: &str, buffering: Option<Buffering>) -> Result<Socket, String> {
    let port: u16 = port.parse().map_err(|_| format!("not a port: {port}"))?;
    Socket::new("127.0.0.1", port, buffering).map_err(describe)
}

fn read_lines(port: &str) -> Result<(), String> {
    let lines = connect(port, Some(Buffering::Buffered))?
        .read_lines()
        .map_err(describe)?;
    let bytes: usize = lines.iter().map(Vec::len).sum();
    println!("{} lines, {bytes} bytes", lines.len());
    Ok(())
}

fn detach(port: &str, order: &str) -> Result<(), String> {
    let mut sorted: Vec<char> = order.chars().collect();
    sorted.sort_unstable();
    if sorted != ['c', 'i', 'o', 's'] {
        return Err(format!("not a permutation of sioc: {order}"));
    }
    let socket = connect(port, Some(Buffering::Buffered))?;
    socket.read_ln().map_err(describe)?;
    socket.write_ln(b"hello").map_err(describe)?;
    let Detached {
        buffered,
        input,
        output,
        connection,
    } = socket.detach().map_err(describe)?;
    output
        .blocking_write_and_flush(b"world\n")
        .map_err(|e| format!("{e:?}"))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&buffered).map_err(|e| e.to_string())?;
    loop {
        match input.blocking_read(64 * 1024) {
            Ok(bytes) => out.write_all(&bytes).map_err(|e| e.to_string())?,
            Err(StreamError::Closed) => break,
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    let (mut socket, mut input, mut output, mut connection) =
        (Some(socket), Some(input), Some(output), Some(connection));
    for part in order.chars() {
        match part {
            's' => drop(socket.take()),
            'i' => drop(input.take()),
            'o' => drop(output.take()),
            _ => drop(connection.take()),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.as_slice() {
        [_, command, port] if command == "read-lines" => read_lines(port),
        [_, command, port, order] if command == "detach" => detach(port, order),
        _ => {
            eprintln!("usage: test-consumer read-lines PORT | detach PORT ORDER");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("test-consumer: {e}");
            ExitCode::FAILURE
        }
    }
}
