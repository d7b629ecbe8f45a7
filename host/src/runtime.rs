//! [`Runtime`]: the component's two builds, embedded at build time, compiled once and linked
//! with WASI, ready to instantiate under any policy, compose into applications, and run them.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

use crate::bindings::ProviderPre;
use crate::exec::within;
use crate::instance::Instance;
use crate::policy::{Build, Plan};
use crate::store::{self, State};
use crate::{Error, Policy, cache, lookup};

/// Names a component file to run instead of the embedded standard build.
pub const COMPONENT_ENV: &str = "ALORE_SOCKET_COMPONENT";
/// Names a component file to run instead of the embedded TLS build.
pub const TLS_COMPONENT_ENV: &str = "ALORE_SOCKET_TLS_COMPONENT";
/// Names a component file to run instead of the embedded WASI 0.3 edition.
pub const P3_COMPONENT_ENV: &str = "ALORE_SOCKET_P3_COMPONENT";
/// Names a component file to run instead of the embedded WASI 0.3 edition's TLS build.
pub const P3_TLS_COMPONENT_ENV: &str = "ALORE_SOCKET_P3_TLS_COMPONENT";
/// The TLS build's file name, looked for beside a standard build given as a file.
pub const TLS_FILE: &str = "alore_socket_tls.wasm";
/// Set to `perfmap` to have wasmtime write `/tmp/perf-PID.map`, which names the compiled
/// guest and adapter functions for `perf` (or for reading a callgrind profile).
pub const PROFILE_ENV: &str = "ALORE_SOCKET_PROFILE";

/// The component's standard build, built by `build.rs` from this source tree.
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/alore_socket.wasm"));
/// Its TLS build.
static EMBEDDED_TLS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/alore_socket_tls.wasm"));
/// The WASI 0.3 edition.
static EMBEDDED_P3: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/alore_socket_p3.wasm"));
/// The WASI 0.3 edition's TLS build.
static EMBEDDED_P3_TLS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/alore_socket_p3_tls.wasm"));

/// The two editions of the component, each with its contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Edition {
    /// On WASI 0.2, contract `alore:socket@0.1.3`: every host that runs WASI 0.2.
    Wasi02,
    /// On WASI 0.3, contract `alore:socket@0.2.0`: async functions and `stream<u8>`.
    Wasi03,
}

impl Edition {
    /// The contract's interface names start so.
    fn contract_prefix(self) -> &'static str {
        match self {
            Edition::Wasi02 => "alore:socket/socket@0.1",
            Edition::Wasi03 => "alore:socket/socket@0.2",
        }
    }

    /// The edition an application importing `imports` was written against: the one whose
    /// contract it imports (the WASI 0.2 edition when it imports neither).
    fn of_imports<'a>(mut imports: impl Iterator<Item = &'a str>) -> Edition {
        let p3 = Edition::Wasi03.contract_prefix();
        let p3_server = "alore:socket/server-socket@0.2";
        if imports.any(|name| name.starts_with(p3) || name.starts_with(p3_server)) {
            Edition::Wasi03
        } else {
            Edition::Wasi02
        }
    }
}

/// The compiled, linked component, ready to instantiate many times, from any thread.
pub struct Runtime {
    /// The WASI 0.2 edition and the applications built on it: wasmtime without its support
    /// for concurrent guests, whose bookkeeping costs every call into a guest and every host
    /// call it makes (a fifth of a line round trip's CPU in this host).
    wasi02: Side,
    /// The WASI 0.3 edition and the applications built on it (the component model's async).
    wasi03: Side,
    /// The standard build: what every policy that does not allow TLS runs. Compiled by
    /// [`Runtime::new`], or the first time it is asked for after [`Runtime::lazy`].
    standard: Mutex<Option<Arc<Prepared>>>,
    standard_source: Source,
    /// The TLS build, compiled the first time a policy allows TLS.
    tls: Mutex<Option<Arc<Prepared>>>,
    tls_source: Source,
    /// The WASI 0.3 edition, compiled the first time an application needs it.
    p3: Mutex<Option<Arc<Compiled>>>,
    p3_source: Source,
    /// Its TLS build, compiled the first time a policy that allows TLS needs it.
    p3_tls: Mutex<Option<Arc<Compiled>>>,
    p3_tls_source: Source,
    /// Where compiled forms are cached, if anywhere.
    cache_dir: Option<PathBuf>,
}

/// Where a build's bytes come from.
#[derive(Debug, Clone)]
enum Source {
    Embedded {
        name: &'static str,
        wasm: &'static [u8],
    },
    File(PathBuf),
}

impl Source {
    fn read(&self) -> Result<Cow<'static, [u8]>, Error> {
        match self {
            Source::Embedded { wasm, .. } => Ok(Cow::Borrowed(wasm)),
            Source::File(path) => std::fs::read(path)
                .map(Cow::Owned)
                .map_err(|e| Error::load(self.describe(), e)),
        }
    }

    /// What errors call it.
    fn describe(&self) -> String {
        match self {
            Source::Embedded { name, .. } => format!("the embedded {name}"),
            Source::File(path) => format!("the component from {}", path.display()),
        }
    }

    /// The name its compiled forms are cached under.
    fn cache_name(&self) -> String {
        match self {
            // Letters and hyphens only: a dot would end the name early in the cache's files.
            Source::Embedded { name, .. } => name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect(),
            Source::File(path) => path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into(),
        }
    }
}

/// Where the WASI 0.3 edition (its TLS build if `tls`) comes from: the file its variable
/// names, else the build this host carries.
fn p3_source(tls: bool) -> Source {
    let (env, name, wasm) = if tls {
        (
            P3_TLS_COMPONENT_ENV,
            "WASI 0.3 TLS component",
            EMBEDDED_P3_TLS,
        )
    } else {
        (P3_COMPONENT_ENV, "WASI 0.3 component", EMBEDDED_P3)
    };
    std::env::var_os(env).map_or(Source::Embedded { name, wasm }, |path| {
        Source::File(PathBuf::from(path))
    })
}

/// The WASI 0.3 edition, compiled and linked.
struct Compiled {
    pre: crate::bindings::p3::ProviderPre<State>,
    wasm: Cow<'static, [u8]>,
}

/// One build of the component, compiled and linked.
struct Prepared {
    pre: ProviderPre<State>,
    /// Its bytes, to plug into applications.
    wasm: Cow<'static, [u8]>,
}

/// One engine and its two linkers: WASI (its async flavour) with the store's bounds
/// ([`crate::guard`]) and lookups from a policy's table where it has one ([`crate::lookup`]);
/// and the same with `wasi:tls`, only for policies that allow TLS, so that nothing in a
/// store they deny (the application plugged into the component included) can reach it.
struct Side {
    engine: Engine,
    standard: Linker<State>,
    tls: Linker<State>,
}

impl Side {
    /// WASI 0.2, and with `wasi03` WASI 0.3 beside it (for the WASI 0.3 edition and the apps
    /// built on it, which import some of 0.2 too when built with Rust's standard library).
    fn new(wasi03: bool) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.concurrency_support(wasi03);
        if std::env::var_os(PROFILE_ENV).is_some_and(|v| v == "perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let mut standard = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut standard)?;
        crate::guard::add_sockets_to_linker(&mut standard)?;
        crate::guard::add_streams_to_linker(&mut standard)?;
        lookup::add_to_linker(&mut standard)?;
        if wasi03 {
            wasmtime_wasi::p3::add_to_linker(&mut standard)?;
            lookup::add_p3_to_linker(&mut standard)?;
            crate::guard::add_p3_sockets_to_linker(&mut standard)?;
        }
        let mut tls = standard.clone();
        crate::tls::p2::add_to_linker(&mut tls)?;
        if wasi03 {
            crate::tls::p3::add_to_linker(&mut tls)?;
        }
        Ok(Side {
            engine,
            standard,
            tls,
        })
    }

    /// The linker for a build's stores.
    fn linker(&self, build: Build) -> &Linker<State> {
        match build {
            Build::Standard => &self.standard,
            Build::Tls => &self.tls,
        }
    }
}

impl Prepared {
    fn new(
        engine: &Engine,
        linker: &Linker<State>,
        source: &Source,
        cache_dir: Option<&Path>,
    ) -> Result<Self, Error> {
        let wasm = source.read()?;
        let what = source.describe();
        let component = cache::load_cached(engine, cache_dir, &source.cache_name(), &what, &wasm)?;
        let pre = linker.instantiate_pre(&component).map_err(Error::wasm)?;
        Ok(Prepared {
            pre: ProviderPre::new(pre).map_err(Error::wasm)?,
            wasm,
        })
    }
}

/// Where a command's standard streams go.
#[derive(Debug, Clone)]
pub enum Stdio {
    /// This process's own stdin, stdout and stderr.
    Inherit,
    /// This stdin; stdout and stderr are captured into the [`CommandOutput`].
    Capture {
        /// What the command reads from its stdin.
        stdin: Vec<u8>,
    },
}

/// How a command ended, and what it printed when [`Stdio::Capture`]d.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Its exit status: 0 for success, 1 for `run` returning an error, else `exit`'s.
    pub code: i32,
    /// What it printed to stdout (captured only), at most [`MAX_CAPTURED_OUTPUT`] bytes.
    pub stdout: Vec<u8>,
    /// What it printed to stderr (captured only), at most [`MAX_CAPTURED_OUTPUT`] bytes.
    pub stderr: Vec<u8>,
}

/// The most a captured stdout or stderr keeps, so a chatty command cannot exhaust the host.
pub const MAX_CAPTURED_OUTPUT: usize = 16 << 20;

impl Runtime {
    /// The component this host carries (built with it), unless `$ALORE_SOCKET_COMPONENT`
    /// (and `$ALORE_SOCKET_TLS_COMPONENT`) name files to run instead. Compiles the standard
    /// build, or loads its compiled form from the user's cache (`$ALORE_SOCKET_CACHE_DIR`,
    /// else `$XDG_CACHE_HOME/alore-socket` or `~/.cache/alore-socket`): seconds the first
    /// time, milliseconds after. It blocks; from async code, call it in `spawn_blocking`.
    pub fn new() -> Result<Self, Error> {
        let runtime = Self::lazy()?;
        runtime.prepared(Build::Standard)?;
        Ok(runtime)
    }

    /// [`Runtime::new`], compiling nothing yet: each build of the component is compiled (or
    /// loaded from the cache) the first time something needs it. For hosts that run only
    /// applications already composed with it ([`Runtime::run_command`]), such as the
    /// containerd shim, whose containers start without a compiled component to load.
    pub fn lazy() -> Result<Self, Error> {
        let file = |name| std::env::var_os(name).map(|path| Source::File(PathBuf::from(path)));
        let standard = file(COMPONENT_ENV).unwrap_or(Source::Embedded {
            name: "component",
            wasm: EMBEDDED,
        });
        let tls = file(TLS_COMPONENT_ENV).unwrap_or(Source::Embedded {
            name: "TLS component",
            wasm: EMBEDDED_TLS,
        });
        Self::with(standard, tls, p3_source(false), p3_source(true))
    }

    /// The component at `path`; its TLS build, when a policy allows TLS, is
    /// `alore_socket_tls.wasm` beside it (or the file `$ALORE_SOCKET_TLS_COMPONENT` names).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let tls = std::env::var_os(TLS_COMPONENT_ENV)
            .map_or_else(|| path.with_file_name(TLS_FILE), PathBuf::from);
        let runtime = Self::with(
            Source::File(path.to_owned()),
            Source::File(tls),
            p3_source(false),
            p3_source(true),
        )?;
        runtime.prepared(Build::Standard)?;
        Ok(runtime)
    }

    fn with(
        standard: Source,
        tls_source: Source,
        p3_source: Source,
        p3_tls_source: Source,
    ) -> Result<Self, Error> {
        let wasi02 = Side::new(false).map_err(Error::wasm)?;
        let wasi03 = Side::new(true).map_err(Error::wasm)?;
        store::tick(&[&wasi02.engine, &wasi03.engine]);
        let cache_dir = cache::user_cache_dir();
        Ok(Runtime {
            wasi02,
            wasi03,
            standard: Mutex::new(None),
            standard_source: standard,
            tls: Mutex::new(None),
            tls_source,
            p3: Mutex::new(None),
            p3_source,
            p3_tls: Mutex::new(None),
            p3_tls_source,
            cache_dir,
        })
    }

    /// A build, prepared: compiled (or loaded from the cache) the first time it is asked for.
    fn prepared(&self, build: Build) -> Result<Arc<Prepared>, Error> {
        let (slot, source) = match build {
            Build::Standard => (&self.standard, &self.standard_source),
            Build::Tls => (&self.tls, &self.tls_source),
        };
        let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(prepared) = &*slot {
            return Ok(Arc::clone(prepared));
        }
        let prepared = Arc::new(Prepared::new(
            &self.wasi02.engine,
            self.wasi02.linker(build),
            source,
            self.cache_dir.as_deref(),
        )?);
        *slot = Some(Arc::clone(&prepared));
        Ok(prepared)
    }

    /// The WASI 0.3 edition in `build`, compiled the first time it is asked for.
    fn p3(&self, build: Build) -> Result<Arc<Compiled>, Error> {
        let (slot, source) = match build {
            Build::Standard => (&self.p3, &self.p3_source),
            Build::Tls => (&self.p3_tls, &self.p3_tls_source),
        };
        let mut p3 = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(built) = &*p3 {
            return Ok(Arc::clone(built));
        }
        let wasm = source.read()?;
        let what = source.describe();
        let dir = self.cache_dir.as_deref();
        let name = source.cache_name();
        let component = cache::load_cached(&self.wasi03.engine, dir, &name, &what, &wasm)?;
        let pre = self
            .wasi03
            .linker(build)
            .instantiate_pre(&component)
            .map_err(Error::wasm)?;
        let pre = crate::bindings::p3::ProviderPre::new(pre).map_err(Error::wasm)?;
        let built = Arc::new(Compiled { pre, wasm });
        *p3 = Some(Arc::clone(&built));
        Ok(built)
    }

    /// The engine and linkers `component` was compiled for.
    fn side_of(&self, component: &Component) -> &Side {
        if Engine::same(component.engine(), &self.wasi03.engine) {
            &self.wasi03
        } else {
            &self.wasi02
        }
    }

    /// The bytes of `edition`'s component, in the build `policy` runs (the edition's TLS
    /// build if it allows TLS): the file to give `wac plug --plug`, or another
    /// host.
    pub fn component(&self, edition: Edition, policy: &Policy) -> Result<Vec<u8>, Error> {
        // The bytes as they are: nothing needs compiling to hand them out.
        let source = match (edition, Build::of(policy)) {
            (Edition::Wasi02, Build::Standard) => &self.standard_source,
            (Edition::Wasi02, Build::Tls) => &self.tls_source,
            (Edition::Wasi03, Build::Standard) => &self.p3_source,
            (Edition::Wasi03, Build::Tls) => &self.p3_tls_source,
        };
        Ok(source.read()?.into_owned())
    }

    /// Plug the component into `app`, a component that imports `alore:socket/socket` (or
    /// `server-socket`): the same composition as `wac plug APP --plug alore_socket.wasm`.
    /// The edition is the one whose contract `app` imports (`@0.1.x`: WASI 0.2, `@0.2.x`:
    /// WASI 0.3), in the build `policy` runs (the edition's TLS build, which makes the result
    /// import `wasi:tls` too, if it allows TLS). The result imports only what the
    /// two import from WASI.
    #[cfg(feature = "compose")]
    pub fn compose(&self, app_bytes: &[u8], policy: &Policy) -> Result<Vec<u8>, Error> {
        let app = self.compile(app_bytes)?;
        let app_type = app.component_type();
        let imports = app_type.imports(app.engine());
        match Edition::of_imports(imports.map(|(name, _)| name)) {
            Edition::Wasi02 => compose(&self.prepared(Build::of(policy))?.wasm, app_bytes),
            Edition::Wasi03 => compose(&self.p3(Build::of(policy))?.wasm, app_bytes),
        }
    }

    /// Run a `wasi:cli/command` component (e.g. one [`Runtime::compose`] made) under
    /// `policy`, with these arguments (the program name first) and standard streams, on the
    /// caller's Tokio runtime (I/O and time enabled). The whole run is one call: the policy's
    /// deadline bounds it.
    pub async fn run_command(
        &self,
        command: &[u8],
        policy: &Policy,
        args: &[String],
        stdio: Stdio,
    ) -> Result<CommandOutput, Error> {
        self.run_command_with_env(command, policy, args, &[], stdio)
            .await
    }

    /// [`Runtime::run_command`] with these environment variables too (a container's, say),
    /// after any the policy gives (`$HOSTNAME` for reverse lookups).
    pub async fn run_command_with_env(
        &self,
        command: &[u8],
        policy: &Policy,
        args: &[String],
        env: &[(String, String)],
        stdio: Stdio,
    ) -> Result<CommandOutput, Error> {
        use wasmtime_wasi::p2::bindings::Command;
        use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
        let component = self.compile(command)?;
        let side = self.side_of(&component);
        let p3_run = component
            .component_type()
            .exports(&side.engine)
            .any(|(name, _)| name.starts_with("wasi:cli/run@0.3"));
        let mut plan = Plan::of(policy)?;
        if plan.build == Build::Standard
            && let Some((tls, _)) = component
                .component_type()
                .imports(&side.engine)
                .find(|(name, _)| name.starts_with("wasi:tls/"))
        {
            return Err(Error::Denied(format!(
                "the application imports {tls}, and the policy does not allow TLS"
            )));
        }
        plan.wasi.args(args).envs(env);
        let captured = match stdio {
            Stdio::Inherit => {
                plan.wasi.inherit_stdio();
                None
            }
            Stdio::Capture { stdin } => {
                let (stdout, stderr) = (
                    MemoryOutputPipe::new(MAX_CAPTURED_OUTPUT),
                    MemoryOutputPipe::new(MAX_CAPTURED_OUTPUT),
                );
                plan.wasi
                    .stdin(MemoryInputPipe::new(stdin))
                    .stdout(stdout.clone())
                    .stderr(stderr.clone());
                Some((stdout, stderr))
            }
        };
        let linker = side.linker(plan.build);
        let deadline = plan.deadline;
        let mut store = State::store(&side.engine, plan);
        let run = within(deadline, async {
            if p3_run {
                use wasmtime_wasi::p3::bindings::Command as Command3;
                let command = Command3::instantiate_async(&mut store, &component, linker).await?;
                let ran = store
                    .run_concurrent(async move |store| command.wasi_cli_run().call_run(store).await)
                    .await;
                ran.and_then(|ran| ran)
            } else {
                let command = Command::instantiate_async(&mut store, &component, linker).await?;
                command.wasi_cli_run().call_run(&mut store).await
            }
        });
        let code = match run.await? {
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

    /// A fresh instance of the WASI 0.2 edition (its own memory and sockets) under `policy`,
    /// on the caller's Tokio runtime (I/O and time enabled): [`Runtime::instantiate_edition`]
    /// with [`Edition::Wasi02`], the edition every host runs.
    pub async fn instantiate(&self, policy: &Policy) -> Result<Instance, Error> {
        self.instantiate_edition(Edition::Wasi02, policy).await
    }

    /// A fresh instance of `edition` under `policy`. The two editions' instances answer the
    /// same calls alike (the WASI 0.3 edition has no constructors).
    pub async fn instantiate_edition(
        &self,
        edition: Edition,
        policy: &Policy,
    ) -> Result<Instance, Error> {
        use crate::instance::Bindings;
        let plan = Plan::of(policy)?;
        let deadline = plan.deadline;
        match edition {
            Edition::Wasi02 => {
                let prepared = self.prepared(plan.build)?;
                let mut store = State::store(&self.wasi02.engine, plan);
                let bindings = within(deadline, prepared.pre.instantiate_async(&mut store))
                    .await?
                    .map_err(Error::wasm)?;
                Ok(Instance::new(store, Bindings::Wasi02(bindings)))
            }
            Edition::Wasi03 => {
                let compiled = self.p3(plan.build)?;
                let mut store = State::store(&self.wasi03.engine, plan);
                let bindings = within(deadline, compiled.pre.instantiate_async(&mut store))
                    .await?
                    .map_err(Error::wasm)?;
                Ok(Instance::new(store, Bindings::Wasi03(bindings)))
            }
        }
    }

    /// Compile any component (a composition, an embedder's own) through the same cache, for
    /// the engine it needs: the WASI 0.2 edition's, without wasmtime's support for concurrent
    /// guests (cheaper calls), unless it uses the component model's async features (WASI
    /// 0.3 does), which only the other engine validates. Run it in a store from
    /// [`Runtime::new_store`], linked by [`Runtime::linker_for`].
    pub fn compile(&self, wasm: &[u8]) -> Result<Component, Error> {
        let dir = self.cache_dir.as_deref();
        let (name, what) = ("application", "the application");
        // The first engine refuses an async component while validating it, before it
        // compiles anything: the second try costs a parse.
        cache::load_cached(&self.wasi02.engine, dir, name, what, wasm)
            .or_else(|_| cache::load_cached(&self.wasi03.engine, dir, name, what, wasm))
    }

    /// A store for `component` (which [`Runtime::compile`] made) set up as `policy` says
    /// (network, `/etc`, limits), with the same WASI set-up and limits as the component's
    /// own stores; link it with [`Runtime::linker_for`]. Calls into it must be async; wrap
    /// each in a timeout to give it the policy's call deadline.
    pub fn new_store(&self, component: &Component, policy: &Policy) -> Result<Store<State>, Error> {
        Ok(State::store(component.engine(), Plan::of(policy)?))
    }

    /// The linker for `component`'s stores under `policy`: WASI 0.2 (its async flavour), and
    /// WASI 0.3 for a component that needs it, with the store's bounds and the policy's
    /// lookup table, and `wasi:tls` if it allows TLS.
    pub fn linker_for(&self, component: &Component, policy: &Policy) -> &Linker<State> {
        self.side_of(component).linker(Build::of(policy))
    }

    /// The names of the interfaces a component imports (e.g. a composition's): with `None`,
    /// this component's, e.g. `wasi:sockets/tcp@0.2.12`.
    pub fn imports(&self, wasm: Option<&[u8]>) -> Result<Vec<String>, Error> {
        let component = match wasm {
            Some(wasm) => self.compile(wasm)?,
            None => self
                .prepared(Build::Standard)?
                .pre
                .instance_pre()
                .component()
                .clone(),
        };
        Ok(component
            .component_type()
            .imports(component.engine())
            .map(|(name, _)| name.to_owned())
            .collect())
    }

    /// The names of the interfaces the component exports, e.g. `alore:socket/socket@0.1.3`.
    /// That each export has the contract's type was checked when it was compiled.
    ///
    /// # Errors
    /// As [`Runtime::new`], when the standard build is compiled now (after [`Runtime::lazy`]).
    pub fn exports(&self) -> Result<Vec<String>, Error> {
        let ty = self
            .prepared(Build::Standard)?
            .pre
            .instance_pre()
            .component()
            .component_type();
        Ok(ty
            .exports(&self.wasi02.engine)
            .map(|(name, _)| name.to_owned())
            .collect())
    }
}

/// `wac plug APP --plug PROVIDER`, as a library call.
#[cfg(feature = "compose")]
fn compose(provider: &[u8], app: &[u8]) -> Result<Vec<u8>, Error> {
    use wac_graph::{CompositionGraph, EncodeOptions, types::Package};
    let failed =
        |e: &dyn std::fmt::Display| Error::Compose(alore_socket_rules::one_line(&format!("{e:#}")));
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
