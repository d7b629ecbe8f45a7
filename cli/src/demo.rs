//! `demo`: a scripted session through the component, against an echo server of its own.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::thread;

use alore_socket_host::blocking::{Instance, Socket};
use alore_socket_host::{Allow, Buffering, Error, Policy, Runtime};
use anyhow::Result;

/// An echo server for the demo: every line that comes in goes back out.
fn echo_server() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || echo(stream));
        }
    });
    Ok(port)
}

fn echo(stream: TcpStream) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).split(b'\n') {
        let mut line = line?;
        line.push(b'\n');
        writer.write_all(&line)?;
    }
    Ok(())
}

fn show(bytes: &[u8]) -> String {
    format!("= {:?}", String::from_utf8_lossy(bytes))
}

/// One line of the demo's transcript: the call, then what came of it.
fn step<T>(
    out: &mut impl Write,
    call: impl std::fmt::Display,
    result: Result<T, Error>,
    ok: impl FnOnce(T) -> String,
) -> std::io::Result<()> {
    let outcome = match result {
        Ok(value) => ok(value),
        Err(e) => format!("fails: {e}"),
    };
    writeln!(out, "{call:<46} {outcome}")
}

pub(crate) fn demo(runtime: &Runtime, out: &mut impl Write) -> Result<()> {
    let port = echo_server()?;
    // A port where nobody listens: bound, then released.
    let refused = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let elsewhere = if port == u16::MAX { port - 1 } else { port + 1 };
    let policy = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(port))
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(refused))
        .allow_lookup(true);
    writeln!(
        out,
        "An echo server listens on 127.0.0.1:{port}. The component may connect to"
    )?;
    writeln!(
        out,
        "127.0.0.1:{port} and 127.0.0.1:{refused} (where nobody listens), and look names up.\n"
    )?;
    let instance = Instance::new(runtime, &policy)?;
    let connected = |s: Socket| {
        describe_ends(&s).map_or_else(|e| e.to_string(), |ends| format!("connected {ends}"))
    };
    let sent = |()| "sent".to_owned();

    step(
        out,
        "get-host-by-name(\"localhost\")",
        instance.get_host_by_name("localhost"),
        |a| format!("= {a:?}"),
    )?;
    let socket = instance.connect("localhost", port, None)?;
    writeln!(
        out,
        "{:<46} connected {}",
        format!("socket(\"localhost\", {port})"),
        describe_ends(&socket)?
    )?;
    step(
        out,
        "  write-ln(\"hello, component\")",
        socket.write_ln(b"hello, component"),
        sent,
    )?;
    step(out, "  read-ln()", socket.read_ln(), |l| show(&l))?;
    step(out, "  close()", socket.close(), |()| "closed".into())?;
    step(out, "  read-ln()", socket.read_ln(), |l| show(&l))?;

    let buffered = instance.connect("127.0.0.1", port, Some(Buffering::LineBuffered))?;
    writeln!(out, "socket(\"127.0.0.1\", {port}, line-buffered)")?;
    let held = buffered.write(b"held until a line ends");
    step(out, "  write(\"held until a line ends\")", held, |()| {
        "held in the 256-byte buffer".into()
    })?;
    let line_end = buffered.write(b"; now it does\n");
    step(out, "  write(\"; now it does\\n\")", line_end, |()| {
        "the line feed sent the buffer".into()
    })?;
    step(out, "  read-ln()", buffered.read_ln(), |l| show(&l))?;
    drop(buffered);

    for (destination, to) in [
        ("127.0.0.1", refused),
        ("127.0.0.1", elsewhere),
        ("no-such-host.invalid", port),
        ("", port),
    ] {
        step(
            out,
            format!("socket({destination:?}, {to})"),
            instance.connect(destination, to, None),
            connected,
        )?;
    }
    step(
        out,
        "get-host-by-address(\"localhost\")",
        instance.get_host_by_address("localhost"),
        |n| n,
    )?;
    Ok(())
}

fn describe_ends(s: &Socket) -> Result<String, Error> {
    Ok(format!(
        "{}:{} -> {}:{}",
        s.local_address()?,
        s.local_port()?,
        s.remote_address()?,
        s.remote_port()?
    ))
}
