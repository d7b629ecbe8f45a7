//! One plan from a policy: everything the runtime, the store and the linker need to know
//! about a [`Policy`], computed in one place. The rest of the host reads the plan, never the
//! policy.

use std::time::Duration;

use std::sync::Arc;
use tempfile::TempDir;
use wasmtime_wasi::WasiCtxBuilder;

use rustls::ClientConfig;

use super::{Policy, wasi};
use crate::Error;
use crate::lookup::Lookups;
use crate::pins::SharedPins;

/// Which build of the component a policy runs, and so which linker its stores get: `wasi:tls`
/// only where the policy allows TLS, so that nothing in a store it denies (the application
/// plugged into the component included) can reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Build {
    /// `alore_socket.wasm`: no TLS; its `start-tls` says why.
    Standard,
    /// `alore_socket_tls.wasm`: `start-tls` through the host's `wasi:tls`.
    Tls,
}

impl Build {
    /// The build `policy` runs.
    pub(crate) fn of(policy: &Policy) -> Build {
        if policy.tls {
            Build::Tls
        } else {
            Build::Standard
        }
    }
}

/// The bounds of one store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Bytes of linear memory, summed over the store's memories.
    pub(crate) memory: usize,
    /// TCP and UDP sockets at once ([`crate::guard`]).
    pub(crate) sockets: usize,
    /// Entries of the resource table.
    pub(crate) handles: usize,
}

/// What a policy means for one store.
pub(crate) struct Plan {
    /// The WASI context: network switches, the address check, `/etc`, the environment.
    pub(crate) wasi: WasiCtxBuilder,
    /// The private `/etc` the context's preopen names; it must outlive the store.
    pub(crate) etc: Option<TempDir>,
    /// Which build runs, and which linker links it.
    pub(crate) build: Build,
    /// `wasi:tls`: verifying as the policy says; none when it denies TLS.
    pub(crate) tls: Option<Arc<ClientConfig>>,
    /// What may be looked up, from where, and the pinned answers (shared with the WASI
    /// context's address check).
    pub(crate) lookups: Lookups,
    pub(crate) limits: Limits,
    /// How long one call may run.
    pub(crate) deadline: Option<Duration>,
}

impl Plan {
    /// The plan for a store under `policy`.
    pub(crate) fn of(policy: &Policy) -> Result<Plan, Error> {
        let pins = SharedPins::default();
        let (wasi, etc) = wasi::context(policy, &pins)?;
        let build = Build::of(policy);
        let tls = match build {
            Build::Tls => Some(
                crate::tls::client_config(&policy.tls_roots)
                    .map_err(|e| Error::InvalidPolicy(format!("its TLS roots: {e}")))?,
            ),
            Build::Standard => None,
        };
        Ok(Plan {
            wasi,
            etc,
            build,
            tls,
            lookups: Lookups {
                all: policy.lookups,
                names: policy.names.clone().into(),
                table: policy.lookup_table.clone(),
                pins,
                addresses: policy.allowed.clone().into(),
            },
            limits: Limits {
                memory: policy.memory_limit,
                sockets: policy.max_sockets,
                handles: policy.max_handles,
            },
            deadline: policy.call_deadline,
        })
    }
}
