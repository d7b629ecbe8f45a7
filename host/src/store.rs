//! The per-store state: the WASI context and resource table, the limits that keep a guest
//! in bounds, and the epoch that lets a deadline stop running guest code.

use std::time::Duration;

use tempfile::TempDir;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_tls::{WasiTlsCtx, WasiTlsCtxBuilder, WasiTlsCtxView, WasiTlsView};

use crate::Policy;
use crate::guard::Sockets;
use crate::lookup::{LookupView, Lookups};

/// The per-store state: the WASI context and its resource table.
pub struct State {
    ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    /// The sockets the guest holds, against the policy's limit ([`crate::guard`]).
    pub(crate) sockets: Sockets,
    /// The private `/etc` given to the component; it must outlive the instance's preopen.
    _etc: Option<TempDir>,
    limits: Limits,
    /// How long one call may run ([`Policy::call_deadline`]).
    pub(crate) call_deadline: Option<Duration>,
    /// The policy's own answers to name lookups, if it has any ([`Policy::lookup_table`]).
    lookups: Option<Lookups>,
    /// `wasi:tls`: verifying as the policy says, or refusing when it denies TLS.
    tls: WasiTlsCtx,
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
    fn new(
        mut builder: WasiCtxBuilder,
        etc: Option<TempDir>,
        policy: &Policy,
    ) -> Result<Self, crate::Error> {
        let limits = Limits {
            memory_limit: policy.memory_limit_bytes(),
            memory_used: 0,
        };
        let provider: Box<dyn wasmtime_wasi_tls::TlsProvider> = if policy.allows_tls() {
            Box::new(
                crate::tls::Provider::new(policy.tls_roots())
                    .map_err(|e| crate::Error::load("the policy's TLS roots", e))?,
            )
        } else {
            Box::new(crate::tls::Refused)
        };
        let mut table = ResourceTable::new();
        table.set_max_capacity(policy.max_handles_value());
        Ok(State {
            ctx: builder.build(),
            table,
            sockets: Sockets::new(policy.max_sockets_value()),
            _etc: etc,
            limits,
            call_deadline: policy.call_deadline_value(),
            lookups: policy.lookup_table_value().map(|table| Lookups {
                allowed: policy.allows_lookup(),
                table,
            }),
            tls: WasiTlsCtxBuilder::new().provider(provider).build(),
        })
    }

    /// A store whose guest is kept within the policy's limits.
    pub(crate) fn store(
        engine: &Engine,
        builder: WasiCtxBuilder,
        etc: Option<TempDir>,
        policy: &Policy,
    ) -> Result<Store<State>, crate::Error> {
        let mut store = Store::new(engine, State::new(builder, etc, policy)?);
        store.limiter(|state| &mut state.limits);
        // Guest code yields to the executor at every epoch tick, so a deadline (the timer
        // beside each call in `block_on`) can stop even a guest that never calls the host.
        store.epoch_deadline_async_yield_and_update(1);
        store.set_epoch_deadline(1);
        Ok(store)
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

impl WasiTlsView for State {
    fn tls(&mut self) -> WasiTlsCtxView<'_> {
        WasiTlsCtxView {
            table: &mut self.table,
            ctx: &mut self.tls,
        }
    }
}

impl LookupView for State {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    fn lookups(&self) -> Option<&Lookups> {
        self.lookups.as_ref()
    }
}

/// Advance `engine`'s epoch every [`EPOCH_TICK`] for as long as the engine lives.
pub(crate) fn tick(engine: &Engine) {
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
