//! `alore-socket`: run Alore's socket module, as a WebAssembly component, under a network
//! policy that denies everything it is not told to allow.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use alore_socket_host::{
    Allow, Buffering, ConnectOptions, Error, Instance, IoErrorKind, Policy, Runtime, Socket, Stdio,
    one_line,
};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "alore-socket",
    version,
    about = "Alore's socket module as a WebAssembly component, run by wasmtime under a network policy"
)]
struct Cli {
    /// Allow TCP connections to these addresses and ports (repeatable), e.g. 127.0.0.1:8080,
    /// 10.0.0.0/8, 127.0.0.1:8000-8099.
    #[arg(
        long = "allow",
        value_name = "ADDR[/BITS][:PORT[-PORT]]",
        global = true
    )]
    allow: Vec<Allow>,
    /// Allow server sockets on these addresses and ports (repeatable), e.g. 127.0.0.1:8000.
    /// Accepted peers must be allowed by --allow, as if the component had connected to them.
    #[arg(
        long = "allow-listen",
        value_name = "ADDR[/BITS][:PORT[-PORT]]",
        global = true
    )]
    allow_listen: Vec<Allow>,
    /// Allow host name lookups through this machine's resolver.
    #[arg(long, global = true)]
    allow_lookup: bool,
    /// Give the component what reverse lookups and host-name need, for commands that do not
    /// get it by default (run, connect, serve, lookup): a private read-only /etc with copies
    /// of hosts, resolv.conf and hostname; $HOSTNAME; UDP and TCP to the resolvers on their
    /// port. In `run` the whole composition shares these grants: the application can then
    /// send its own packets to those resolvers.
    #[arg(long, global = true, conflicts_with = "no_reverse_lookup")]
    allow_reverse_lookup: bool,
    /// Withhold what reverse lookups need from `reverse` and `hostname`, which get it by
    /// default.
    #[arg(long, global = true)]
    no_reverse_lookup: bool,
    /// Allow TLS (start-tls): the component's TLS build runs, and the store gets wasi:tls,
    /// trusting Mozilla's roots and --tls-ca. In `run` the application can then make TLS
    /// connections of its own too, over the connections --allow grants.
    #[arg(long, global = true)]
    allow_tls: bool,
    /// Also trust the CA certificates in this PEM file (repeatable), e.g. a private CA's.
    /// Needs --allow-tls (or connect --tls).
    #[arg(long, value_name = "FILE", global = true)]
    tls_ca: Vec<PathBuf>,
    /// Send reverse lookups to this DNS server instead of resolv.conf's nameservers.
    #[arg(long, value_name = "IP[:PORT]", global = true, value_parser = alore_socket_rules::parse_resolver)]
    resolver: Option<SocketAddrV4>,
    /// The component to run [default: $ALORE_SOCKET_COMPONENT, or this workspace's build].
    #[arg(long, value_name = "FILE", global = true)]
    component: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start an echo server on 127.0.0.1 and run a short scripted session through the
    /// component.
    Demo,
    /// A line client: each line of stdin goes out with write-ln, and the reply lines are
    /// printed. The destination itself is allowed.
    Connect {
        host: String,
        port: u16,
        #[arg(long, value_enum, default_value_t = Mode::Unbuffered)]
        buffering: Mode,
        /// Give up on the connect, and on each wait for the network after it (a reply that
        /// does not come), after this many milliseconds.
        #[arg(long, value_name = "MS", default_value_t = CONNECT_TIMEOUT_MS)]
        timeout: u32,
        /// Start TLS right after connecting (implies --allow-tls); the server's certificate
        /// must be for HOST, or for --server-name.
        #[arg(long)]
        tls: bool,
        /// The name the server's certificate must match (SNI and verification), e.g. when
        /// HOST is an address.
        #[arg(long, value_name = "NAME", requires = "tls")]
        server_name: Option<String>,
    },
    /// An echo server inside the component: listen on ADDRESS:PORT (0: any free port) and
    /// send every line back. Listening there, and peers on 127.0.0.0/8, are allowed.
    Serve {
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        address: Ipv4Addr,
        #[arg(long, value_enum, default_value_t = Mode::Unbuffered)]
        buffering: Mode,
        /// Drop a connection whose peer does not take our whole reply within this many
        /// milliseconds (however slowly it reads).
        #[arg(long, value_name = "MS", default_value_t = SERVE_TIMEOUT_MS)]
        timeout: u32,
        /// Drop a connection that sends no whole line within this many milliseconds (however
        /// it trickles its bytes), so that no peer holds the server longer than this and the
        /// reply timeout (it serves one connection at a time).
        #[arg(long, value_name = "MS", default_value_t = SERVE_IDLE_TIMEOUT_MS)]
        idle_timeout: u32,
    },
    /// Plug the component into APP (a wasi:cli/command that imports alore:socket/socket)
    /// and run it under the policy flags, passing ARGS, stdin and stdout through.
    Run {
        app: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the IPv4 address of a host name (get-host-by-name).
    Lookup { name: String },
    /// Print the name of a dotted-decimal IPv4 address (get-host-by-address).
    Reverse { address: String },
    /// Print this host's name, as the component learns it (get-host-name).
    Hostname,
}

/// `connect`'s default limit on the connect and on each wait for a reply: long enough for a
/// slow server, short enough that a dead one does not hang an interactive session.
const CONNECT_TIMEOUT_MS: u32 = 30_000;
/// `serve`'s default limit on sending a whole reply: a peer that does not take a line back in
/// this long is gone or hostile.
const SERVE_TIMEOUT_MS: u32 = 10_000;
/// `serve`'s default limit on receiving a whole line: two minutes is more than a person
/// typing into `connect` pauses, and bounds how long one peer holds the one-at-a-time server.
const SERVE_IDLE_TIMEOUT_MS: u32 = 120_000;
/// How long `serve` pauses after an accept that failed for lack of descriptors, so that it
/// does not spin while they are short.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Unbuffered,
    LineBuffered,
    Buffered,
}

impl From<Mode> for Buffering {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Unbuffered => Buffering::Unbuffered,
            Mode::LineBuffered => Buffering::LineBuffered,
            Mode::Buffered => Buffering::Buffered,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // clap's first paragraph says what is wrong; the rest is usage advice. One line,
            // like every other error, and clap's usage status.
            let text = e.render().to_string();
            let what = text.split("\n\n").next().unwrap_or_default();
            let what = what.strip_prefix("error: ").unwrap_or(what);
            eprintln!("alore-socket: {} (see --help)", one_line(what));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alore-socket: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let runtime = match &cli.component {
        Some(path) => Runtime::from_file(path)?,
        None => Runtime::new()?,
    };
    let mut policy = cli
        .allow
        .iter()
        .fold(Policy::deny_all(), |p, &rule| p.allow(rule));
    // Reverse lookups need grants (an /etc, UDP and TCP to the resolvers) that a composition
    // would share with the application: only the commands that are reverse lookups get them
    // unasked.
    let reverse = match cli.command {
        Command::Reverse { .. } | Command::Hostname => !cli.no_reverse_lookup,
        _ => cli.allow_reverse_lookup,
    };
    policy = cli
        .allow_listen
        .iter()
        .fold(policy, |p, &rule| p.allow_listen(rule))
        .allow_lookup(cli.allow_lookup)
        .allow_reverse_lookup(reverse);
    if let Some(resolver) = cli.resolver {
        policy = policy.resolver(resolver);
    }
    let tls_asked = matches!(cli.command, Command::Connect { tls: true, .. });
    let tls_allowed = cli.allow_tls || tls_asked;
    if !cli.tls_ca.is_empty() && !tls_allowed {
        anyhow::bail!("--tls-ca needs --allow-tls (or connect --tls)");
    }
    policy = policy.allow_tls(tls_allowed);
    for file in &cli.tls_ca {
        let pem = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        policy = policy.tls_root_pem(&pem, &file.display().to_string())?;
    }
    match cli.command {
        Command::Demo => demo(&runtime, &mut std::io::stdout().lock()),
        Command::Connect {
            host,
            port,
            buffering,
            timeout,
            tls,
            server_name,
        } => {
            let how = Connection {
                mode: buffering.into(),
                timeout_ms: timeout,
                tls: tls.then_some(server_name),
            };
            connect(&runtime, policy, &host, port, how)
        }
        Command::Serve {
            port,
            address,
            buffering,
            timeout,
            idle_timeout,
        } => {
            let limits = ServeTimeouts {
                reply: timeout,
                idle: idle_timeout,
            };
            serve(&runtime, policy, address, port, buffering.into(), limits)
        }
        Command::Run { app, args } => run_app(&runtime, &policy, &app, args),
        Command::Lookup { name } => print(runtime.instantiate(&policy)?.get_host_by_name(&name)?),
        Command::Reverse { address } => print(
            runtime
                .instantiate(&policy)?
                .get_host_by_address(&address)?,
        ),
        Command::Hostname => print(runtime.instantiate(&policy)?.get_host_name()?),
    }
}

fn print(line: String) -> Result<()> {
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}

/// Allow the destination, then send stdin's lines and print the replies. The policy is on
/// addresses, so a name is resolved here, by this machine's resolver, to allow the addresses
/// it stands for (and the component then looks it up itself, which needs lookups allowed).
/// The name is checked first, by the component's own rule, so a malformed one sends no query.
fn connect(
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
    if let Some(address) = alore_socket_rules::parse_ipv4(host) {
        policy = policy.allow(Allow::host(address).port(port));
    } else {
        let addresses = (host, port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?;
        for address in addresses {
            if let IpAddr::V4(ip) = address.ip() {
                policy = policy.allow(Allow::host(ip).port(port));
            }
        }
        policy = policy.allow_lookup(true);
    }
    let options = ConnectOptions {
        buffering: Some(mode),
        timeout_ms: Some(timeout_ms),
    };
    let socket = runtime
        .instantiate(&policy)?
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
struct Connection {
    mode: Buffering,
    timeout_ms: u32,
    /// Start TLS after connecting, with this server name (none: HOST).
    tls: Option<Option<String>>,
}

/// Compose APP with the component (its TLS build under --allow-tls) and run it; its exit
/// status becomes ours.
fn run_app(
    runtime: &Runtime,
    policy: &Policy,
    app: &std::path::Path,
    args: Vec<String>,
) -> Result<()> {
    let bytes = std::fs::read(app).with_context(|| format!("cannot read {}", app.display()))?;
    let composed = runtime.compose_for(&bytes, policy)?;
    let name = app
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let argv: Vec<String> = std::iter::once(name).chain(args).collect();
    let output = runtime.run_command(&composed, policy, &argv, Stdio::Inherit)?;
    std::process::exit(output.code)
}

/// How long `serve` waits for a peer, in milliseconds: each a limit on a whole line
/// (`set-deadline`), not on each wait for the network, so that a peer that trickles bytes
/// (or takes them back a few at a time) cannot hold the server past it.
struct ServeTimeouts {
    /// For the peer to take a whole reply.
    reply: u32,
    /// For the peer's next whole line.
    idle: u32,
}

/// Echo every line of every connection, one connection at a time, until killed. A failed
/// connection ends that connection, never the server: only a failure of the listener itself
/// stops it.
fn serve(
    runtime: &Runtime,
    policy: Policy,
    address: Ipv4Addr,
    port: u16,
    mode: Buffering,
    timeouts: ServeTimeouts,
) -> Result<()> {
    let loopback = Allow::network(Ipv4Addr::new(127, 0, 0, 0), 8).expect("8 is a prefix length");
    // Port 0 lets the system pick, so any port of the address is allowed then.
    let here = match port {
        0 => Allow::host(address),
        port => Allow::host(address).port(port),
    };
    let policy = policy.allow_listen(here).allow(loopback);
    let instance = runtime.instantiate(&policy)?;
    let server = instance
        .listen(port, Some(&address.to_string()))
        .with_context(|| format!("cannot listen on {address}:{port}"))?;
    eprintln!(
        "alore-socket: echoing lines on {}:{}",
        server.local_address()?,
        server.local_port()?
    );
    loop {
        let socket = match server.accept(Some(mode)) {
            Ok(socket) => socket,
            Err(e) => match e.io_kind() {
                // The peer went before we took it, or the host turned it away.
                Some(IoErrorKind::ConnectionReset | IoErrorKind::AccessDenied) => {
                    eprintln!("alore-socket: a connection failed before it began: {e}");
                    continue;
                }
                Some(IoErrorKind::LimitExceeded) => {
                    eprintln!("alore-socket: cannot accept now: {e}");
                    thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
                _ => return Err(e).context("the listener failed"),
            },
        };
        let peer = match (socket.remote_address(), socket.remote_port()) {
            (Ok(address), Ok(port)) => format!("{address}:{port}"),
            _ => "a peer".to_owned(),
        };
        eprintln!("alore-socket: {peer} connected");
        let ended = echo_lines(&socket, &timeouts);
        let _ = socket.close();
        match ended.io_kind() {
            Some(IoErrorKind::EndOfStream) => eprintln!("alore-socket: {peer} left"),
            Some(IoErrorKind::TimedOut) => eprintln!("alore-socket: {peer} timed out: {ended}"),
            Some(_) => eprintln!("alore-socket: {peer} left: {ended}"),
            // Not the contract's error: the instance itself failed, and with it the listener.
            None => return Err(ended).context("the component failed"),
        }
    }
}

/// Send every line back until the connection ends; returns how it ended.
fn echo_lines(socket: &Socket, timeouts: &ServeTimeouts) -> Error {
    let echo_one = || {
        socket.set_deadline(Some(timeouts.idle))?;
        let line = socket.read_ln()?;
        socket.set_deadline(Some(timeouts.reply))?;
        socket.write_ln(&line)?;
        socket.flush()
    };
    loop {
        if let Err(e) = echo_one() {
            return e;
        }
    }
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

fn demo(runtime: &Runtime, out: &mut impl Write) -> Result<()> {
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
    let instance: Instance = runtime.instantiate(&policy)?;
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
