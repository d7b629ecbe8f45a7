//! The per-store state: the WASI context and resource table, the limits that keep a guest
//! in bounds, and the epoch that lets a deadline stop running guest code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tempfile::TempDir;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::guard::Sockets;
use crate::lookup::Lookups;
use crate::policy::Plan;

/// The state of a store this host made ([`crate::Runtime::new_store`]): the WASI context and
/// resource table, and the policy's bounds. Opaque: link it with [`crate::Runtime::linker_for`].
pub struct State {
    ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    /// The sockets the guest holds, against the policy's limit ([`crate::guard`]).
    pub(crate) sockets: Sockets,
    /// The private `/etc` given to the component; it must outlive the instance's preopen.
    _etc: Option<TempDir>,
    limits: Limits,
    /// How long one call may run ([`crate::Policy::call_deadline`]).
    pub(crate) call_deadline: Option<Duration>,
    /// What the store may look up, from where, and its pinned answers.
    pub(crate) lookups: Lookups,
    /// The peer of each TCP input stream (by its handle) a connect or an accept made, for
    /// binding TLS to the name a connection was allowed for ([`crate::guard`]). A handle is
    /// an index of the resource table, so the map is bounded by it; a new stream at a reused
    /// handle replaces the entry.
    pub(crate) stream_peers: HashMap<u32, SocketAddr>,
    /// `wasi:tls`'s configuration: verifying as the policy says; none when it denies TLS
    /// (and every handshake is refused).
    pub(crate) tls: Option<Arc<ClientConfig>>,
}

/// How often the engine's epoch advances, and so how often running guest code yields to the
/// host: the granularity of call deadlines. Short enough to stop a runaway call promptly,
/// long enough that the ticking costs nothing measurable.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Entries of a store's concurrency table (WASI 0.3's streams, futures, waiting calls) per
/// handle the policy allows ([`crate::Policy::max_handles`]). A WASI 0.3 connection keeps
/// about 18 there (its two streams and their ends' futures, three entries each, and a task for
/// each call that waits) where a WASI 0.2 connection keeps 5 handles: four times is room for
/// the same number of connections, with some to spare.
const CONCURRENT_ENTRIES_PER_HANDLE: usize = 4;

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
    /// A store for `plan` (its WASI context as the caller left it: arguments, standard
    /// streams), its guest kept within the plan's limits.
    pub(crate) fn store(engine: &Engine, mut plan: Plan) -> Store<State> {
        let plan_handles = plan.limits.handles;
        let mut table = ResourceTable::new();
        table.set_max_capacity(plan.limits.handles);
        let state = State {
            ctx: plan.wasi.build(),
            table,
            sockets: Sockets::new(plan.limits.sockets),
            _etc: plan.etc,
            limits: Limits {
                memory_limit: plan.limits.memory,
                memory_used: 0,
            },
            call_deadline: plan.deadline,
            lookups: plan.lookups,
            stream_peers: HashMap::new(),
            tls: plan.tls,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limits);
        // WASI 0.3's streams, futures and tasks live in the store's concurrency table: bounded
        // by the same policy (wasmtime's own default is a million entries).
        if let Some(table) = store.concurrent_resource_table() {
            table.set_max_capacity(plan_handles.saturating_mul(CONCURRENT_ENTRIES_PER_HANDLE));
        }
        // Guest code yields to the executor at every epoch tick, so a deadline (the timer
        // beside each call) can stop even a guest that never calls the host.
        store.epoch_deadline_async_yield_and_update(1);
        store.set_epoch_deadline(1);
        store
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Advance the `engines`' epochs every [`EPOCH_TICK`] for as long as any of them lives.
pub(crate) fn tick(engines: &[&Engine]) {
    let engines: Vec<_> = engines.iter().map(|engine| engine.weak()).collect();
    std::thread::Builder::new()
        .name("alore-socket-epoch".into())
        .spawn(move || {
            loop {
                let mut alive = false;
                for engine in engines.iter().filter_map(|engine| engine.upgrade()) {
                    engine.increment_epoch();
                    alive = true;
                }
                if !alive {
                    break;
                }
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("a thread for the epoch ticker");
}
