//! `alore-socket`: run Alore's socket module, as a WebAssembly component, under a network
//! policy that denies everything it is not told to allow. Each command is a module; this
//! file holds the flags, the policy they make, and the dispatch.

mod connect;
mod demo;
mod kube;
mod oci;
mod run;
mod serve;

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use alore_socket_host::flags::{Implied, PolicyDocument, PolicyFlags, clap_error_line};
use alore_socket_host::{Buffering, Edition, Policy, Runtime, blocking};
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
    #[command(flatten)]
    policy: PolicyFlags,
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
    /// Plug the component into APP and write the composed app as an OCI image layout
    /// tarball (for `ctr image import`, registries), carrying the policy flags given, which
    /// containerd-shim-alore-v1 enforces (docs/cluster.md). As in `run`, the grants are the
    /// whole composition's.
    Image {
        app: PathBuf,
        /// Where to write the tarball.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The image's name [default: localhost/APP:latest].
        #[arg(long, value_name = "REF")]
        name: Option<String>,
        /// plain: one tar layer (containerd 1.6 on); wasm: the Wasm OCI artifact
        /// (application/wasm; containerd 1.6.25 / 1.7.7 on).
        #[arg(long, value_enum, default_value_t = oci::Form::Plain)]
        form: oci::Form,
    },
    /// Print a Kubernetes NetworkPolicy for the pods labelled app=APP: what the cluster can
    /// enforce of IMAGE's policy (or of the policy flags given) outside the sandbox.
    NetworkPolicy {
        /// An image `image` wrote.
        image: Option<PathBuf>,
        /// The pods' `app` label.
        #[arg(long)]
        app: String,
    },
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
            // One line, like every other error, and clap's usage status.
            eprintln!("alore-socket: {} (see --help)", clap_error_line(&e));
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
    let implied = Implied {
        reverse_lookup: matches!(cli.command, Command::Reverse { .. } | Command::Hostname),
        tls: matches!(cli.command, Command::Connect { tls: true, .. }),
    };
    let policy = cli.policy.policy(implied)?;
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
        Command::Image {
            app,
            output,
            name,
            form,
        } => {
            let bytes =
                std::fs::read(&app).with_context(|| format!("cannot read {}", app.display()))?;
            let composed = runtime.compose(&bytes, &policy)?;
            let document = PolicyDocument::new(&cli.policy)?;
            let stem = app.file_stem().unwrap_or_default().to_string_lossy();
            let name = name.unwrap_or_else(|| format!("localhost/{}:latest", stem.to_lowercase()));
            let tarball = oci::image(&composed, &document, &name, form)?;
            std::fs::write(&output, tarball)
                .with_context(|| format!("cannot write {}", output.display()))
        }
        Command::NetworkPolicy { image, app } => {
            let yaml = match image {
                Some(path) => {
                    let tarball = std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let document =
                        oci::policy_of(&tarball).with_context(|| format!("{}", path.display()))?;
                    kube::network_policy(
                        document.flags(),
                        &app,
                        &format!("the policy of {}", path.display()),
                    )
                }
                None => kube::network_policy(&cli.policy, &app, "the policy flags given"),
            };
            print(yaml.trim_end().to_owned())
        }
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
