//! Loading the component: find it (building it when run from the workspace), compile it once
//! per process, and cache the compiled form on disk.

use std::hash::{Hash, Hasher};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;
use std::time::Duration;

use alore_socket_rules::{ETC_DIR, ETC_FILES, HOSTNAME_ENV, RESOLVER_ENV, ResolvConf};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::ProviderPre;
use crate::instance::Instance;
use crate::lookup::{self, Lookups};
use crate::{Error, Policy};

/// Names a component file to use instead of finding or building one.
pub const COMPONENT_ENV: &str = "ALORE_SOCKET_COMPONENT";
const GUEST_TARGET: &str = "wasm32-wasip2";
/// Set to `perfmap` to have wasmtime write `/tmp/perf-PID.map`, which names the compiled
/// guest and adapter functions for `perf` (or for reading a callgrind profile).
pub const PROFILE_ENV: &str = "ALORE_SOCKET_PROFILE";

/// The per-store state: the WASI context and its resource table.
pub struct State {
    ctx: WasiCtx,
    table: ResourceTable,
    /// The private `/etc` given to the component; it must outlive the instance's preopen.
    _etc: Option<TempDir>,
    limits: Limits,
    /// How long one call may run ([`Policy::call_deadline`]).
    pub(crate) call_deadline: Option<Duration>,
    /// The policy's own answers to name lookups, if it has any ([`Policy::lookup_table`]).
    lookups: Option<Lookups>,
}

/// How often the engine's epoch advances, and so how often running guest code yields to the
/// host: the granularity of call deadlines. Short enough to stop a runaway call promptly,
/// long enough that the ticking costs nothing measurable.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Table elements a table may have: the component's tables hold a few hundred functions.
const MAX_TABLE_ELEMENTS: usize = 10_000;
/// Core instances a store may hold: one component instance makes about a dozen, and a
/// composition with an application a few dozen.
const MAX_INSTANCES: usize = 100;

/// Keeps a store within the policy's limits. The memory limit bounds the sum of all the
/// store's linear memories, so a composition (the component plus the application it is
/// plugged into, each with a memory of its own) gets the limit once, not once per memory.
struct Limits {
    memory_limit: usize,
    /// Bytes of linear memory the store's memories have been allowed to grow to, together.
    memory_used: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Called for a memory's first allocation too (`current` 0), so every byte counts.
        let used = self
            .memory_used
            .saturating_add(desired.saturating_sub(current));
        if used > self.memory_limit {
            return Ok(false); // the guest's `memory.grow` returns -1; its allocator fails
        }
        self.memory_used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
}

impl State {
    fn new(mut builder: WasiCtxBuilder, etc: Option<TempDir>, policy: &Policy) -> Self {
        let limits = Limits {
            memory_limit: policy.memory_limit_bytes(),
            memory_used: 0,
        };
        State {
            ctx: builder.build(),
            table: ResourceTable::new(),
            _etc: etc,
            limits,
            call_deadline: policy.call_deadline_value(),
            lookups: policy.lookup_table_value().map(|table| Lookups {
                allowed: policy.allows_lookup(),
                table,
            }),
        }
    }

    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub(crate) fn lookups(&self) -> Option<&Lookups> {
        self.lookups.as_ref()
    }

    /// A store whose guest is kept within the policy's limits.
    fn store(
        engine: &Engine,
        builder: WasiCtxBuilder,
        etc: Option<TempDir>,
        policy: &Policy,
    ) -> Store<State> {
        let mut store = Store::new(engine, State::new(builder, etc, policy));
        store.limiter(|state| &mut state.limits);
        // Guest code yields to the executor at every epoch tick, so a deadline (the timer
        // beside each call in `block_on`) can stop even a guest that never calls the host.
        store.epoch_deadline_async_yield_and_update(1);
        store.set_epoch_deadline(1);
        store
    }
}

/// The Tokio runtime every instance's sockets live on: its worker threads drive the network
/// and the timers while the calling thread waits in [`block_on`]. The host's own, so that it
/// does not depend on whichever runtime a caller happens to be in.
static TOKIO: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("alore-socket-io")
        .enable_io()
        .enable_time()
        .build()
        .expect("a Tokio runtime for the host")
});

/// Drive `call`, a future of calls into a store from [`Runtime::new_store`] (e.g.
/// `call_async` of generated bindings), to completion on the host's Tokio runtime; no later
/// than `deadline` when there is one, and then `None`: the call was stopped and its instance
/// cannot be used again. It blocks the thread, so it panics inside an async runtime.
pub fn block_on<F: Future>(deadline: Option<Duration>, call: F) -> Option<F::Output> {
    let _context = TOKIO.enter();
    let mut call = std::pin::pin!(async move {
        match deadline {
            // Dropping the future on expiry unwinds the guest's stack: wasmtime resumes the
            // suspended fiber with an error, so nothing of the call runs after this returns.
            Some(deadline) => tokio::time::timeout(deadline, call).await.ok(),
            None => Some(call.await),
        }
    });
    // Most calls finish without waiting for the network: poll once before paying for a
    // blocking executor.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if let std::task::Poll::Ready(out) = call.as_mut().poll(&mut cx) {
        return out;
    }
    TOKIO.block_on(call)
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A compiled, linked component, ready to instantiate many times.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    pre: ProviderPre<State>,
    /// The same, with name lookups answered from the policy's table: for policies that have
    /// one ([`Policy::lookup_table`]).
    table_linker: Linker<State>,
    table_pre: ProviderPre<State>,
    /// The component's bytes, to plug into applications.
    wasm: Vec<u8>,
    /// Where compiled forms are cached: beside the component.
    cache_dir: PathBuf,
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
        Self::from_file(&locate_component()?)
    }

    /// The component at `path`.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        if std::env::var_os(PROFILE_ENV).is_some_and(|v| v == "perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(Error::wasm)?;
        tick(&engine);
        let wasm = std::fs::read(path).map_err(|e| Error::load(path, e))?;
        let cache_dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        let component = load_cached(&engine, path, &wasm)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(Error::wasm)?;
        let mut table_linker = linker.clone();
        lookup::add_to_linker(&mut table_linker).map_err(Error::wasm)?;
        let prepare = |linker: &Linker<State>| {
            let pre = linker.instantiate_pre(&component).map_err(Error::wasm)?;
            ProviderPre::new(pre).map_err(Error::wasm)
        };
        let (pre, table_pre) = (prepare(&linker)?, prepare(&table_linker)?);
        Ok(Runtime {
            engine,
            linker,
            pre,
            table_linker,
            table_pre,
            wasm,
            cache_dir,
        })
    }

    /// Plug this component into `app`, a component that imports `alore:socket/socket` (or
    /// `server-socket`): the same composition as `wac plug APP --plug alore_socket.wasm`.
    /// The result imports only what the two import from WASI.
    pub fn compose(&self, app: &[u8]) -> Result<Vec<u8>, Error> {
        use wac_graph::{CompositionGraph, EncodeOptions, types::Package};
        let failed =
            |e: &dyn std::fmt::Display| Error::Compose(crate::error::one_line(&format!("{e:#}")));
        let mut graph = CompositionGraph::new();
        let provider =
            Package::from_bytes("alore:socket", None, self.wasm.clone(), graph.types_mut())
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
        let (mut builder, etc) = self.context(policy)?;
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
        let mut store = State::store(&self.engine, builder, etc, policy);
        let deadline = policy.call_deadline_value();
        let run = block_on(deadline, async {
            let linker = self.linker_for(policy);
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

    /// The linker with WASI 0.2 (its async flavour), for instantiating other components (e.g.
    /// compositions) in stores from [`Runtime::new_store`]; drive them with [`block_on`].
    pub fn linker(&self) -> &Linker<State> {
        &self.linker
    }

    /// The linker for stores made under `policy`: [`Runtime::linker`], or, when the policy
    /// has a [`Policy::lookup_table`], one whose name lookups are answered from it.
    pub fn linker_for(&self, policy: &Policy) -> &Linker<State> {
        match policy.lookup_table_value() {
            Some(_) => &self.table_linker,
            None => &self.linker,
        }
    }

    /// Compile any component for this runtime's engine, through the same on-disk cache.
    pub fn compile(&self, wasm: &[u8]) -> Result<Component, Error> {
        load_cached(&self.engine, &self.cache_dir.join("component.wasm"), wasm)
    }

    /// A store set up as `policy` says (network, `/etc`, memory limit), for any component
    /// this runtime compiled. Its calls must be async ([`block_on`] drives them); pass it
    /// the policy's call deadline to have one.
    pub fn new_store(&self, policy: &Policy) -> Result<Store<State>, Error> {
        let (builder, etc) = self.context(policy)?;
        Ok(State::store(&self.engine, builder, etc, policy))
    }

    /// The names of the interfaces the component imports, e.g. `wasi:sockets/tcp@0.2.12`.
    pub fn imports(&self) -> Vec<String> {
        let ty = self.pre.instance_pre().component().component_type();
        ty.imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
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

    /// The names of the interfaces the component exports, e.g. `alore:socket/socket@0.1.1`. That
    /// each export has the contract's type was checked when the runtime was made.
    pub fn exports(&self) -> Vec<String> {
        let ty = self.pre.instance_pre().component().component_type();
        ty.exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// A fresh instance of the component (its own memory and sockets) under `policy`.
    pub fn instantiate(&self, policy: &Policy) -> Result<Instance, Error> {
        let (builder, etc) = self.context(policy)?;
        let mut store = State::store(&self.engine, builder, etc, policy);
        let deadline = policy.call_deadline_value();
        let pre = match policy.lookup_table_value() {
            Some(_) => &self.table_pre,
            None => &self.pre,
        };
        let bindings = block_on(deadline, pre.instantiate_async(&mut store))
            .ok_or_else(|| Error::deadline(deadline))?
            .map_err(Error::wasm)?;
        Ok(Instance::new(store, bindings))
    }

    /// The WASI context `policy` asks for, and the private `/etc` it may need kept alive.
    fn context(&self, policy: &Policy) -> Result<(WasiCtxBuilder, Option<TempDir>), Error> {
        let mut builder = WasiCtxBuilder::new();
        let mut resolvers = Vec::new();
        let etc = if policy.allows_reverse_lookup() {
            let etc = private_etc(policy.etc_source())?;
            builder
                .preopened_dir(etc.path(), ETC_DIR, FsPerms::ReadOnly)
                .map_err(|e| {
                    Error::load(etc.path(), format!("cannot give the component /etc: {e:#}"))
                })?;
            if let Some(name) = policy.host_name_value() {
                builder.env(HOSTNAME_ENV, name);
            }
            resolvers = match policy.resolver_override() {
                Some(resolver) => {
                    builder.env(RESOLVER_ENV, resolver.to_string());
                    vec![resolver]
                }
                None => nameservers(&etc.path().join("resolv.conf")),
            };
            Some(etc)
        } else {
            None
        };
        policy.apply(&mut builder, resolvers);
        Ok((builder, etc))
    }
}

/// Advance `engine`'s epoch every [`EPOCH_TICK`] for as long as the engine lives.
fn tick(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("alore-socket-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("a thread for the epoch ticker");
}

/// A private temporary directory holding copies of the few `/etc` files the component reads,
/// and nothing else: the real `/etc` holds secrets. Missing files are left out.
fn private_etc(source: &Path) -> Result<TempDir, Error> {
    let etc = tempfile::Builder::new()
        .prefix("alore-socket-etc-")
        .tempdir()
        .map_err(|e| Error::load(source, format!("cannot make a private /etc: {e}")))?;
    for file in ETC_FILES {
        if let Ok(text) = std::fs::read(source.join(file)) {
            std::fs::write(etc.path().join(file), text)
                .map_err(|e| Error::load(etc.path(), format!("cannot copy {file}: {e}")))?;
        }
    }
    Ok(etc)
}

/// The `nameserver`s of a `resolv.conf` the component will use, read by the same rules it
/// reads them by: the only DNS servers it may reach.
fn nameservers(resolv_conf: &Path) -> Vec<SocketAddrV4> {
    let text = std::fs::read_to_string(resolv_conf).unwrap_or_default();
    ResolvConf::parse(&text).nameservers
}

/// The component file to load. From a workspace checkout this runs `cargo build`, which is a
/// no-op when the component is up to date, so a changed guest is never run stale.
pub fn locate_component() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os(COMPONENT_ENV) {
        return Ok(PathBuf::from(path));
    }
    build_wasm("alore-socket", "alore_socket")
}

/// Build a package of this workspace for `wasm32-wasip2` (release) and return the path of its
/// `artifact` (e.g. `alore_socket`, `line-client`). Fails outside a workspace checkout.
pub fn build_wasm(package: &str, artifact: &str) -> Result<PathBuf, Error> {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = host.parent().unwrap_or(host);
    if !workspace.join("guest/Cargo.toml").is_file() {
        return Err(Error::load(
            workspace,
            format!("no workspace to build {package} in; set {COMPONENT_ENV} for the component"),
        ));
    }
    ensure_guest_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(workspace)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            package,
            "--target",
            GUEST_TARGET,
        ])
        .status()
        .map_err(|e| Error::load(workspace, format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(Error::load(
            workspace,
            format!("cargo build of {package} failed ({status})"),
        ));
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    Ok(target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join(format!("{artifact}.wasm")))
}

/// Install the `wasm32-wasip2` standard library when rustc lacks it: these machines set
/// `RUSTUP_AUTO_INSTALL=0`, so nothing else will.
fn ensure_guest_target() -> Result<(), Error> {
    let libdir = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", GUEST_TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if libdir.is_some_and(|dir| dir.is_dir()) {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", GUEST_TARGET])
        .status()
        .map_err(|e| {
            Error::load(
                GUEST_TARGET,
                format!("the Rust target is missing and rustup cannot run: {e}"),
            )
        })?;
    if !status.success() {
        return Err(Error::load(
            GUEST_TARGET,
            format!("rustup target add failed ({status})"),
        ));
    }
    Ok(())
}

/// Compile `wasm`, read from `source` (named in errors), or load its compiled form from the
/// cache beside `source`, named after it. The cache file is
/// named by a SHA-256 of the component's bytes and of the engine's compatibility hash
/// (wasmtime version, target, settings), so a rebuilt component or a new wasmtime misses.
fn load_cached(engine: &Engine, source: &Path, wasm: &[u8]) -> Result<Component, Error> {
    let cache = cache_path(engine, source, wasm);
    if let Ok(compiled) = std::fs::read(&cache) {
        // SAFETY: wasmtime requires these bytes to be the unmodified output of
        // `precompile_component` by a compatible engine. This file was written only by the
        // code below, from `engine.precompile_component`, under a temporary name and then
        // renamed into place, so it is never seen half-written; its name binds it to these
        // exact component bytes and this engine's compatibility hash, and wasmtime itself
        // rejects a header from an incompatible engine. Whoever could replace this file could
        // as well replace the component next to it, so it is trusted as much as the
        // component is. The bytes are read into memory, so later changes to the file cannot
        // affect the loaded code.
        #[allow(unsafe_code)]
        if let Ok(component) = unsafe { Component::deserialize(engine, &compiled) } {
            return Ok(component);
        }
    }
    let compiled = engine.precompile_component(wasm).map_err(|e| {
        Error::load(
            source,
            format!("not a component wasmtime can compile: {e:#}"),
        )
    })?;
    store_in_cache(&cache, &compiled);
    // SAFETY: `compiled` was produced by `precompile_component` of this very engine just now.
    #[allow(unsafe_code)]
    unsafe { Component::deserialize(engine, &compiled) }
        .map_err(|e| Error::load(source, format!("{e:#}")))
}

fn cache_path(engine: &Engine, path: &Path, wasm: &[u8]) -> PathBuf {
    /// Feeds `Hash` values into SHA-256, which, unlike `DefaultHasher`, is stable across runs
    /// and Rust versions.
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            let digest = self.0.clone().finalize();
            u64::from_le_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
        }
    }
    let mut sha = Sha(Sha256::new());
    sha.write(wasm);
    engine.precompile_compatibility_hash().hash(&mut sha);
    let digest = sha.0.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}.{hex}.cwasm"))
}

/// Best effort: a read-only directory just means compiling every time.
fn store_in_cache(cache: &Path, compiled: &[u8]) {
    let temporary = cache.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&temporary, compiled).is_ok() && std::fs::rename(&temporary, cache).is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    prune_cache(cache);
}

/// How many compiled forms of one name the cache keeps, newest first: a debug and a release
/// host, and a rebuild or two, without every build leaving a megabyte behind for good.
const MAX_CACHED_PER_NAME: usize = 4;

/// Delete all but the newest [`MAX_CACHED_PER_NAME`] `NAME.HASH.cwasm` files beside `cache`.
/// Loads read a cache file into memory, so deleting one never disturbs a running process.
fn prune_cache(cache: &Path) {
    let Some((dir, name)) = cache
        .parent()
        .zip(cache.file_name().and_then(|n| n.to_str()))
    else {
        return;
    };
    let Some((stem, _hash)) = name.strip_suffix(".cwasm").and_then(|n| n.rsplit_once('.')) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut cached: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let hashed = name.strip_suffix(".cwasm").and_then(|n| n.rsplit_once('.'));
            hashed.is_some_and(|(other, _)| other == stem)
        })
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    cached.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, old) in cached.into_iter().skip(MAX_CACHED_PER_NAME) {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_follows_the_component_bytes() {
        let engine = Engine::default();
        let path = Path::new("/x/alore_socket.wasm");
        let a = cache_path(&engine, path, b"component a");
        assert_eq!(a, cache_path(&engine, path, b"component a"), "stable");
        assert_ne!(
            a,
            cache_path(&engine, path, b"component b"),
            "a rebuild misses"
        );
        assert!(a.starts_with("/x") && a.extension().is_some_and(|e| e == "cwasm"));
    }

    #[test]
    fn the_cache_keeps_only_the_newest_few_of_each_name() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for (i, name) in ["app.{}.cwasm", "other.{}.cwasm"].iter().enumerate() {
            for age in 0..6u64 {
                let path = dir
                    .path()
                    .join(name.replace("{}", &format!("{i}{age:031}")));
                std::fs::write(&path, b"x").unwrap();
                let file = std::fs::File::options().write(true).open(&path).unwrap();
                file.set_modified(base + Duration::from_secs(age)).unwrap();
            }
        }
        std::fs::write(dir.path().join("app.wasm"), b"keep").unwrap();
        prune_cache(&dir.path().join("app.0x.cwasm"));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let apps: Vec<&String> = left.iter().filter(|n| n.starts_with("app.0")).collect();
        assert_eq!(apps.len(), MAX_CACHED_PER_NAME, "{left:?}");
        assert!(
            apps.iter()
                .all(|n| !n.ends_with("0000.cwasm") && !n.ends_with("0001.cwasm")),
            "the oldest went: {left:?}"
        );
        assert_eq!(
            left.iter().filter(|n| n.starts_with("other.")).count(),
            6,
            "other names untouched"
        );
        assert!(left.contains(&"app.wasm".to_owned()), "only cache files go");
    }

    #[test]
    fn the_private_etc_holds_only_the_three_files() {
        let source = tempfile::tempdir().unwrap();
        for file in [
            "hosts",
            "resolv.conf",
            "hostname",
            "shadow",
            "passwd",
            "ssl",
        ] {
            std::fs::write(source.path().join(file), file).unwrap();
        }
        let etc = private_etc(source.path()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(etc.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["hostname", "hosts", "resolv.conf"]);
        assert_eq!(
            std::fs::read_to_string(etc.path().join("hosts")).unwrap(),
            "hosts"
        );
    }

    #[test]
    fn the_host_allows_the_nameservers_the_component_will_use() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("resolv.conf");
        // A comment sign right after the address, IPv6, and more servers than count.
        let text = "# x\nnameserver 10.0.0.53;x\nnameserver ::1\nsearch example\n\
                    nameserver 127.0.0.1#y\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n";
        std::fs::write(&conf, text).unwrap();
        let expected = ResolvConf::parse(text).nameservers;
        assert_eq!(expected.len(), alore_socket_rules::MAX_NAMESERVERS);
        assert_eq!(expected[0], "10.0.0.53:53".parse().unwrap());
        assert_eq!(expected[1], "127.0.0.1:53".parse().unwrap());
        assert_eq!(nameservers(&conf), expected);
        assert!(nameservers(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn the_cache_key_follows_the_engine_settings() {
        let mut config = Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::None);
        let other = Engine::new(&config).unwrap();
        let path = Path::new("/x/alore_socket.wasm");
        let bytes = b"the same component";
        assert_ne!(
            cache_path(&Engine::default(), path, bytes),
            cache_path(&other, path, bytes)
        );
    }
}
