//! `alore-socket`: run Alore's socket module, as a WebAssembly component, under a network
//! policy that denies everything it is not told to allow. Each command is a module; this
//! file holds the flags, the policy they make, and the dispatch.

mod connect;
mod demo;
mod run;
mod serve;

use std::io::Write;
use std::net::{IpAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;

use alore_socket_host::{
    Allow, AllowName, Buffering, Edition, ParseAllowError, ParseAllowNameError, Policy, Runtime,
    blocking,
};
use alore_socket_rules::one_line;
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
    /// 10.0.0.0/8, 127.0.0.1:8000-8099, [::1]:8080, [2001:db8::]/32:443 (IPv6 in brackets
    /// when a port follows). An IPv4 rule also covers the IPv4-mapped IPv6 form of its
    /// addresses, and nothing else of IPv6. Or to a service by name: redis.internal:6379,
    /// *.svc.cluster.local:6379 (one label), .example.com:443 (any depth): the name may be
    /// looked up, and the addresses that lookup answers may be connected to on those ports,
    /// for five minutes.
    #[arg(
        long = "allow",
        value_name = "ADDR[/BITS][:PORT[-PORT]]|NAME[:PORT[-PORT]]",
        global = true
    )]
    allow: Vec<Rule>,
    /// Allow server sockets on these addresses and ports (repeatable), e.g. 127.0.0.1:8000,
    /// [::1]:8000.
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
    /// The component to run [default: $ALORE_SOCKET_COMPONENT, or the one this binary
    /// carries].
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
    /// send every line back. Listening there, and peers on 127.0.0.0/8 and ::1, are allowed.
    Serve {
        port: u16,
        /// IPv4 or IPv6 (e.g. ::1).
        #[arg(long, default_value = "127.0.0.1")]
        address: IpAddr,
        #[arg(long, value_enum, default_value_t = Mode::Unbuffered)]
        buffering: Mode,
        /// Drop a connection whose peer does not take our whole reply within this many
        /// milliseconds (however slowly it reads).
        #[arg(long, value_name = "MS", default_value_t = serve::SERVE_TIMEOUT_MS)]
        timeout: u32,
        /// Drop a connection that sends no whole line within this many milliseconds (however
        /// it trickles its bytes), so that no peer holds the server longer than this and the
        /// reply timeout (it serves one connection at a time).
        #[arg(long, value_name = "MS", default_value_t = serve::SERVE_IDLE_TIMEOUT_MS)]
        idle_timeout: u32,
    },
    /// Plug the component into APP (a wasi:cli/command that imports alore:socket/socket)
    /// and run it under the policy flags, passing ARGS, stdin and stdout through.
    Run {
        app: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the address of a host name: its first IPv4 one, else its first IPv6 one
    /// (get-host-by-name).
    Lookup { name: String },
    /// Print the name of an IPv4 or IPv6 address (get-host-by-address).
    Reverse { address: String },
    /// Print this host's name, as the component learns it (get-host-name).
    Hostname,
    /// Write the component this binary carries (its TLS build with --allow-tls) to FILE,
    /// to plug into applications with `wac plug` or run on another host.
    Component {
        /// Where to write it.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Which edition: on WASI 0.2 (contract alore:socket@0.1.3) or on WASI 0.3
        /// (alore:socket@0.2.0).
        #[arg(long, value_enum, default_value_t = Wasi::P2)]
        wasi: Wasi,
    },
}

/// `connect`'s default limit on the connect and on each wait for a reply: long enough for a
/// slow server, short enough that a dead one does not hang an interactive session.
const CONNECT_TIMEOUT_MS: u32 = 30_000;
/// The WASI version of an edition of the component.
#[derive(Clone, Copy, ValueEnum)]
enum Wasi {
    /// WASI 0.2.
    #[value(name = "0.2")]
    P2,
    /// WASI 0.3.
    #[value(name = "0.3")]
    P3,
}

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
        .fold(Policy::deny_all(), |p, rule| match rule {
            Rule::Address(rule) => p.allow(*rule),
            Rule::Name(rule) => p.allow_name(rule.clone()),
        });
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
        Command::Demo => demo::demo(&runtime, &mut std::io::stdout().lock()),
        Command::Connect {
            host,
            port,
            buffering,
            timeout,
            tls,
            server_name,
        } => {
            let how = connect::Connection {
                mode: buffering.into(),
                timeout_ms: timeout,
                tls: tls.then_some(server_name),
            };
            connect::connect(&runtime, policy, &host, port, how)
        }
        Command::Serve {
            port,
            address,
            buffering,
            timeout,
            idle_timeout,
        } => {
            let limits = serve::ServeTimeouts {
                reply: timeout,
                idle: idle_timeout,
            };
            serve::serve(&runtime, policy, address, port, buffering.into(), limits)
        }
        Command::Run { app, args } => run::run_app(&runtime, &policy, &app, args),
        Command::Lookup { name } => print(instance(&runtime, &policy)?.get_host_by_name(&name)?),
        Command::Reverse { address } => {
            print(instance(&runtime, &policy)?.get_host_by_address(&address)?)
        }
        Command::Hostname => print(instance(&runtime, &policy)?.get_host_name()?),
        Command::Component { output, wasi } => {
            let edition = match wasi {
                Wasi::P2 => Edition::Wasi02,
                Wasi::P3 => Edition::Wasi03,
            };
            let wasm = runtime.component(edition, &policy)?;
            std::fs::write(&output, wasm)
                .with_context(|| format!("cannot write {}", output.display()))
        }
    }
}

fn instance(runtime: &Runtime, policy: &Policy) -> Result<blocking::Instance> {
    Ok(blocking::Instance::new(runtime, policy)?)
}

fn print(line: String) -> Result<()> {
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}

/// An `--allow` rule: by address, or by name.
#[derive(Debug, Clone)]
enum Rule {
    Address(Allow),
    Name(AllowName),
}

/// An address rule when the text starts with an address (or a bracket), else a name rule;
/// each says what is wrong with it in its own terms.
impl std::str::FromStr for Rule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let head = text.split(['/', ':']).next().unwrap_or_default();
        let address = text.starts_with('[')
            || text.matches(':').count() > 1
            || alore_socket_rules::parse_ip(head).is_ok()
            || head.parse::<std::net::IpAddr>().is_ok();
        if address {
            text.parse()
                .map(Rule::Address)
                .map_err(|e: ParseAllowError| e.to_string())
        } else {
            text.parse()
                .map(Rule::Name)
                .map_err(|e: ParseAllowNameError| e.to_string())
        }
    }
}
