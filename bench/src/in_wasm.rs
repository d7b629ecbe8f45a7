//! Contenders 3 and 4: the workloads run inside a component (`bench/wit/workloads.wit`),
//! timed by the component's own clock: the consumer composed with alore-socket, and the
//! `std::net` peer.

use std::sync::LazyLock;

use alore_socket_host::{Policy, Runtime, State};
use anyhow::Result;

use crate::workload::{Server, Sizes, Workload};

wasmtime::component::bindgen!({ path: "wit", world: "runner", exports: { default: async } });

mod detached {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "detached-runner",
        exports: { default: async },
    });
}

mod tls {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "tls-runner",
        exports: { default: async },
    });
}

type Workloads = exports::alore::socket_bench::workloads::Guest;
type Tls = tls::exports::alore::socket_bench::tls::Guest;
type Detached = detached::exports::alore::socket_bench::detached::Guest;
type Store = wasmtime::Store<State>;

/// The Tokio runtime of the benchmark's own servers and native async clients: its worker
/// threads run them beside the contender that waits.
static TOKIO: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime for the benchmark")
});

pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    TOKIO.block_on(future)
}

/// Enter the benchmark's Tokio runtime, to spawn on it from outside.
pub(crate) fn enter() -> tokio::runtime::EnterGuard<'static> {
    TOKIO.enter()
}

/// A runtime for one workload component's store, as the host's blocking API and `alore-socket
/// run` give each instance: current-thread, so the thread that waits polls the network.
pub(crate) fn store_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A workload component in a store of its own.
pub(crate) struct InWasm {
    store: Store,
    runner: Runner,
    /// The `detached` workloads, when the component has them.
    detached: Option<detached::DetachedRunner>,
    /// The `tls` workloads, when the component has them.
    tls: Option<tls::TlsRunner>,
    /// The store's runtime (dropped after the store, whose sockets it drives).
    exec: tokio::runtime::Runtime,
}

/// Call one workload of `workloads` against `port` on `exec` and return what it measured.
fn drive<W, T>(
    exec: &tokio::runtime::Runtime,
    store: &mut Store,
    workloads: &W,
    port: u16,
    call: impl AsyncFnOnce(&W, &mut Store, u16) -> wasmtime::Result<Result<T, String>>,
) -> Result<T> {
    exec.block_on(call(workloads, store, port))?
        .map_err(anyhow::Error::msg)
}

impl InWasm {
    pub(crate) fn new(runtime: &Runtime, policy: &Policy, wasm: &[u8]) -> Result<Self> {
        let component = runtime.compile(wasm)?;
        let mut store = runtime.new_store(&component, policy)?;
        let linker = runtime.linker_for(&component, policy);
        let exec = store_runtime()?;
        let instance = exec.block_on(linker.instantiate_async(&mut store, &component))?;
        let runner = Runner::new(&mut store, &instance)?;
        let detached = detached::DetachedRunner::new(&mut store, &instance).ok();
        let tls = tls::TlsRunner::new(&mut store, &instance).ok();
        Ok(InWasm {
            store,
            runner,
            detached,
            tls,
            exec,
        })
    }

    /// Run one `tls` workload against `server` and return what it measured.
    fn run_tls<T>(
        &mut self,
        server: crate::tls::TlsServer,
        call: impl AsyncFnOnce(&Tls, &mut Store, u16) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T> {
        let runner = self
            .tls
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this component has no `tls` workloads"))?;
        let measured = drive(
            &self.exec,
            &mut self.store,
            runner.alore_socket_bench_tls(),
            server.port,
            call,
        )?;
        server.finish()?;
        Ok(measured)
    }

    /// Seconds for a bulk receive over TLS.
    pub(crate) fn tls_receive(&mut self, pki: &crate::tls::Pki, sizes: &Sizes) -> Result<f64> {
        let server = crate::tls::TlsServer::bytes(pki, sizes.bulk)?;
        let bytes = sizes.bulk as u64;
        let nanos = self.run_tls(server, async |w, s, p| w.call_receive(s, p, bytes).await)?;
        Ok(nanos as f64 / 1e9)
    }

    /// Each TLS round trip's time, in microseconds.
    pub(crate) fn tls_round_trips(
        &mut self,
        pki: &crate::tls::Pki,
        sizes: &Sizes,
    ) -> Result<Vec<f64>> {
        let server = crate::tls::TlsServer::echo(pki)?;
        let count = sizes.round_trips as u32;
        let nanos = self.run_tls(server, async |w, s, p| {
            w.call_round_trips(s, p, count).await
        })?;
        Ok(nanos.into_iter().map(|n| n as f64 / 1e3).collect())
    }

    /// Run one `detached` workload against `server` and return what it measured.
    fn run_detached(
        &mut self,
        server: Server,
        call: impl AsyncFnOnce(&Detached, &mut Store, u16) -> wasmtime::Result<Result<u64, String>>,
    ) -> Result<u64> {
        let runner = self
            .detached
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this component has no `detached` workloads"))?;
        let measured = drive(
            &self.exec,
            &mut self.store,
            runner.alore_socket_bench_detached(),
            server.port,
            call,
        )?;
        server.finish()?;
        Ok(measured)
    }

    /// Run one workload against `server` and return what it measured.
    fn run<T>(
        &mut self,
        server: Server,
        call: impl AsyncFnOnce(&Workloads, &mut Store, u16) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T> {
        let workloads = self.runner.alore_socket_bench_workloads();
        let measured = drive(&self.exec, &mut self.store, workloads, server.port, call)?;
        server.finish()?;
        Ok(measured)
    }

    /// Seconds for one run of a rate workload.
    pub(crate) fn seconds(&mut self, workload: Workload, sizes: &Sizes) -> Result<f64> {
        let server = workload.server(sizes)?;
        let bytes = sizes.bulk as u64;
        let count = workload.count(sizes) as u32;
        let nanos = match workload {
            Workload::Receive => {
                self.run(server, async |w, s, p| w.call_receive(s, p, bytes).await)
            }
            Workload::Send => self.run(server, async |w, s, p| w.call_send(s, p, bytes).await),
            Workload::ReceiveDetached => {
                self.run_detached(server, async |w, s, p| w.call_receive(s, p, bytes).await)
            }
            Workload::SendDetached => {
                self.run_detached(server, async |w, s, p| w.call_send(s, p, bytes).await)
            }
            Workload::Lines => self.run(server, async |w, s, p| w.call_lines(s, p, count).await),
            Workload::Connects => {
                self.run(server, async |w, s, p| w.call_connects(s, p, count).await)
            }
            Workload::Lookups => self.run(server, async |w, s, _| w.call_lookups(s, count).await),
            Workload::RoundTrips | Workload::Instantiation => unreachable!("not a rate"),
        }?;
        Ok(nanos as f64 / 1e9)
    }

    /// Each round trip's time, in microseconds.
    pub(crate) fn round_trips(&mut self, sizes: &Sizes) -> Result<Vec<f64>> {
        let server = Workload::RoundTrips.server(sizes)?;
        let count = sizes.round_trips as u32;
        let nanos = self.run(server, async |w, s, p| {
            w.call_round_trips(s, p, count).await
        })?;
        Ok(nanos.into_iter().map(|n| n as f64 / 1e3).collect())
    }
}
