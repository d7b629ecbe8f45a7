//! [`Runtime`]: the component compiled once and linked with WASI, ready to instantiate under
//! any policy, compose into applications, and run them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

use crate::bindings::ProviderPre;
use crate::exec::block_on;
use crate::instance::Instance;
use crate::locate::{COMPONENT_ENV, locate_component, locate_tls_component};
use crate::policy::wasi;
use crate::store::{self, State};
use crate::{Error, Policy, cache, lookup};

/// Set to `perfmap` to have wasmtime write `/tmp/perf-PID.map`, which names the compiled
/// guest and adapter functions for `perf` (or for reading a callgrind profile).
pub const PROFILE_ENV: &str = "ALORE_SOCKET_PROFILE";

/// A compiled, linked component, ready to instantiate many times.
pub struct Runtime {
    engine: Engine,
    linkers: Linkers,
    /// The standard build: what every policy that does not allow TLS runs.
    standard: Arc<Build>,
    /// The TLS build, loaded the first time a policy allows TLS.
    tls: Mutex<Option<Arc<Build>>>,
    /// Where the standard build came from, and whether this workspace built it (then it
    /// builds the TLS build too; else that is expected beside it).
    path: PathBuf,
    built: bool,
    /// Where compiled forms are cached: beside the component.
    cache_dir: PathBuf,
}

/// The linkers a policy chooses from: WASI 0.2 with the store's bounds ([`crate::guard`]);
/// `wasi:tls` only where the policy allows TLS, so that nothing in a store it denies (the
/// application plugged into the component included) can reach it; and name lookups answered
/// from the policy's table where it has one ([`Policy::lookup_table`]).
struct Linkers {
    plain: Linker<State>,
    plain_table: Linker<State>,
    tls: Linker<State>,
    tls_table: Linker<State>,
}

impl Linkers {
    fn new(engine: &Engine) -> wasmtime::Result<Self> {
        let mut plain = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut plain)?;
        crate::guard::add_sockets_to_linker(&mut plain)?;
        crate::guard::add_streams_to_linker(&mut plain)?;
        let mut tls = plain.clone();
        let mut tls_options = wasmtime_wasi_tls::p2::LinkOptions::default();
        tls_options.tls(true);
        wasmtime_wasi_tls::p2::add_to_linker(&mut tls, &tls_options)?;
        crate::guard::add_tls_to_linker(&mut tls)?;
        let with_table = |linker: &Linker<State>| {
            let mut linker = linker.clone();
            lookup::add_to_linker(&mut linker).map(|()| linker)
        };
        Ok(Linkers {
            plain_table: with_table(&plain)?,
            tls_table: with_table(&tls)?,
            plain,
            tls,
        })
    }

    fn for_policy(&self, policy: &Policy) -> &Linker<State> {
        match (policy.allows_tls(), policy.lookup_table_value().is_some()) {
            (false, false) => &self.plain,
            (false, true) => &self.plain_table,
            (true, false) => &self.tls,
            (true, true) => &self.tls_table,
        }
    }
}

/// One build of the component, compiled and linked both ways.
struct Build {
    pre: ProviderPre<State>,
    table_pre: ProviderPre<State>,
    /// Its bytes, to plug into applications.
    wasm: Vec<u8>,
}

impl Build {
    fn new(
        runtime_parts: (&Engine, &Linker<State>, &Linker<State>),
        path: &Path,
    ) -> Result<Self, Error> {
        let (engine, linker, table_linker) = runtime_parts;
        let wasm = std::fs::read(path).map_err(|e| Error::load(path, e))?;
        let component = cache::load_cached(engine, path, &wasm)?;
        let prepare = |linker: &Linker<State>| {
            let pre = linker.instantiate_pre(&component).map_err(Error::wasm)?;
            ProviderPre::new(pre).map_err(Error::wasm)
        };
        Ok(Build {
            pre: prepare(linker)?,
            table_pre: prepare(table_linker)?,
            wasm,
        })
    }

    fn pre_for(&self, policy: &Policy) -> &ProviderPre<State> {
        match policy.lookup_table_value() {
            Some(_) => &self.table_pre,
            None => &self.pre,
        }
    }
}

/// Where a command's standard streams go.
#[derive(Debug, Clone)]
pub enum Stdio {
    /// This process's own stdin, stdout and stderr.
    Inherit,
    /// This stdin; stdout and stderr are captured into the [`CommandOutput`].
    Capture { stdin: Vec<u8> },
}

/// How a command ended, and what it printed when [`Stdio::Capture`]d.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The most a captured stdout or stderr keeps, so a chatty command cannot exhaust the host.
pub const MAX_CAPTURED_OUTPUT: usize = 16 << 20;

impl Runtime {
    /// The component from `$ALORE_SOCKET_COMPONENT`, or else the workspace's build of it,
    /// built (and its Rust target installed) when needed.
    pub fn new() -> Result<Self, Error> {
        let built = std::env::var_os(COMPONENT_ENV).is_none();
        let mut runtime = Self::from_file(&locate_component()?)?;
        runtime.built = built;
        Ok(runtime)
    }

    /// The component at `path`; its TLS build, when a policy allows TLS, is
    /// `alore_socket_tls.wasm` beside it (or the file `$ALORE_SOCKET_TLS_COMPONENT` names).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        if std::env::var_os(PROFILE_ENV).is_some_and(|v| v == "perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(Error::wasm)?;
        store::tick(&engine);
        let cache_dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        let linkers = Linkers::new(&engine).map_err(Error::wasm)?;
        let standard = Arc::new(Build::new(
            (&engine, &linkers.plain, &linkers.plain_table),
            path,
        )?);
        Ok(Runtime {
            engine,
            linkers,
            standard,
            tls: Mutex::new(None),
            path: path.to_owned(),
            built: false,
            cache_dir,
        })
    }

    /// The build `policy` runs: the TLS build if it allows TLS, loaded (and in a workspace
    /// built) the first time.
    fn build_for(&self, policy: &Policy) -> Result<Arc<Build>, Error> {
        if !policy.allows_tls() {
            return Ok(Arc::clone(&self.standard));
        }
        let mut tls = self
            .tls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(build) = &*tls {
            return Ok(Arc::clone(build));
        }
        let path = locate_tls_component(&self.path, self.built)?;
        let build = Arc::new(Build::new(
            (&self.engine, &self.linkers.tls, &self.linkers.tls_table),
            &path,
        )?);
        *tls = Some(Arc::clone(&build));
        Ok(build)
    }

    /// Plug this component into `app`, a component that imports `alore:socket/socket` (or
    /// `server-socket`): the same composition as `wac plug APP --plug alore_socket.wasm`.
    /// The result imports only what the two import from WASI.
    pub fn compose(&self, app: &[u8]) -> Result<Vec<u8>, Error> {
        compose(&self.standard.wasm, app)
    }

    /// [`Runtime::compose`] with the build `policy` runs: the TLS build (`wac plug APP --plug
    /// alore_socket_tls.wasm`) if it allows TLS. The result then imports `wasi:tls` too.
    pub fn compose_for(&self, app: &[u8], policy: &Policy) -> Result<Vec<u8>, Error> {
        compose(&self.build_for(policy)?.wasm, app)
    }

    /// Run a `wasi:cli/command` component (e.g. one [`Runtime::compose`] made) under
    /// `policy`, with these arguments (the program name first) and standard streams.
    pub fn run_command(
        &self,
        command: &[u8],
        policy: &Policy,
        args: &[String],
        stdio: Stdio,
    ) -> Result<CommandOutput, Error> {
        use wasmtime_wasi::p2::bindings::Command;
        use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
        let component = self.compile(command)?;
        if !policy.allows_tls()
            && let Some((tls, _)) = component
                .component_type()
                .imports(&self.engine)
                .find(|(name, _)| name.starts_with("wasi:tls/"))
        {
            return Err(Error::Denied(format!(
                "the application imports {tls}, and the policy does not allow TLS"
            )));
        }
        let (mut builder, etc) = wasi::context(policy)?;
        builder.args(args);
        let captured = match stdio {
            Stdio::Inherit => {
                builder.inherit_stdio();
                None
            }
            Stdio::Capture { stdin } => {
                let (stdout, stderr) = (
                    MemoryOutputPipe::new(MAX_CAPTURED_OUTPUT),
                    MemoryOutputPipe::new(MAX_CAPTURED_OUTPUT),
                );
                builder
                    .stdin(MemoryInputPipe::new(stdin))
                    .stdout(stdout.clone())
                    .stderr(stderr.clone());
                Some((stdout, stderr))
            }
        };
        let mut store = State::store(&self.engine, builder, etc, policy)?;
        let deadline = policy.call_deadline_value();
        let run = block_on(deadline, async {
            let linker = self.linkers.for_policy(policy);
            let command = Command::instantiate_async(&mut store, &component, linker).await?;
            command.wasi_cli_run().call_run(&mut store).await
        });
        let code = match run.ok_or_else(|| Error::deadline(deadline))? {
            Ok(Ok(())) => 0,
            Ok(Err(())) => 1,
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => exit.0,
                None => return Err(Error::wasm(e)),
            },
        };
        let (stdout, stderr) = captured.map_or_else(Default::default, |(out, err)| {
            (out.contents().to_vec(), err.contents().to_vec())
        });
        Ok(CommandOutput {
            code,
            stdout,
            stderr,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker with WASI 0.2 (its async flavour) and the store's bounds, without
    /// `wasi:tls`, for instantiating other components (e.g. compositions) in stores from
    /// [`Runtime::new_store`]; drive them with [`block_on`].
    pub fn linker(&self) -> &Linker<State> {
        &self.linkers.plain
    }

    /// The linker for stores made under `policy`: [`Runtime::linker`], with `wasi:tls` when
    /// the policy allows TLS, and with name lookups answered from the policy's
    /// [`Policy::lookup_table`] when it has one.
    pub fn linker_for(&self, policy: &Policy) -> &Linker<State> {
        self.linkers.for_policy(policy)
    }

    /// Compile any component for this runtime's engine, through the same on-disk cache.
    pub fn compile(&self, wasm: &[u8]) -> Result<Component, Error> {
        cache::load_cached(&self.engine, &self.cache_dir.join("component.wasm"), wasm)
    }

    /// A store set up as `policy` says (network, `/etc`, memory limit), for any component
    /// this runtime compiled. Its calls must be async ([`block_on`] drives them); pass it
    /// the policy's call deadline to have one.
    pub fn new_store(&self, policy: &Policy) -> Result<Store<State>, Error> {
        let (builder, etc) = wasi::context(policy)?;
        State::store(&self.engine, builder, etc, policy)
    }

    /// The names of the interfaces the component imports, e.g. `wasi:sockets/tcp@0.2.12`.
    pub fn imports(&self) -> Vec<String> {
        let ty = self.standard_type();
        ty.imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The standard build's component type.
    fn standard_type(&self) -> wasmtime::component::types::Component {
        self.standard
            .pre
            .instance_pre()
            .component()
            .component_type()
    }

    /// The names of the interfaces another component imports (e.g. a composition).
    pub fn imports_of(&self, wasm: &[u8]) -> Result<Vec<String>, Error> {
        let component = self.compile(wasm)?;
        let ty = component.component_type();
        Ok(ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect())
    }

    /// The names of the interfaces the component exports, e.g. `alore:socket/socket@0.1.3`. That
    /// each export has the contract's type was checked when the runtime was made.
    pub fn exports(&self) -> Vec<String> {
        let ty = self.standard_type();
        ty.exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// A fresh instance of the component (its own memory and sockets) under `policy`.
    pub fn instantiate(&self, policy: &Policy) -> Result<Instance, Error> {
        let mut store = self.new_store(policy)?;
        let deadline = policy.call_deadline_value();
        let build = self.build_for(policy)?;
        let bindings = block_on(
            deadline,
            build.pre_for(policy).instantiate_async(&mut store),
        )
        .ok_or_else(|| Error::deadline(deadline))?
        .map_err(Error::wasm)?;
        Ok(Instance::new(store, bindings))
    }
}

/// `wac plug APP --plug PROVIDER`, as a library call.
fn compose(provider: &[u8], app: &[u8]) -> Result<Vec<u8>, Error> {
    use wac_graph::{CompositionGraph, EncodeOptions, types::Package};
    let failed =
        |e: &dyn std::fmt::Display| Error::Compose(crate::error::one_line(&format!("{e:#}")));
    let mut graph = CompositionGraph::new();
    let provider = Package::from_bytes("alore:socket", None, provider.to_vec(), graph.types_mut())
        .map_err(|e| failed(&e))?;
    let app = Package::from_bytes("app:app", None, app.to_vec(), graph.types_mut())
        .map_err(|e| failed(&e))?;
    let provider = graph.register_package(provider).map_err(|e| failed(&e))?;
    let app = graph.register_package(app).map_err(|e| failed(&e))?;
    wac_graph::plug(&mut graph, vec![provider], app).map_err(|e| failed(&e))?;
    graph
        .encode(EncodeOptions::default())
        .map_err(|e| failed(&e))
}
