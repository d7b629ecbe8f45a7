//! `containerd-shim-alore-v1`: a containerd shim (runtime `io.containerd.alore.v1`) that runs
//! an image `alore-socket image` made, a composed `wasi:cli` command, under the policy the
//! image carries, with this project's host: deny by default, so an image without a policy
//! gets no network at all.
//!
//! Built on runwasi's `containerd-shim-wasm`, which sets the container up (namespaces, rootfs,
//! stdio, cgroups) and calls [`Sandbox::run_wasi`] inside it. The image is either form the CLI
//! writes: the plain-layer form (the component and [`POLICY_FILE`] in the rootfs; the
//! entrypoint names the component) or the Wasm OCI artifact form (an `application/wasm` layer
//! and a [`POLICY_MEDIA_TYPE`] layer, which containerd hands over as they are).

use std::borrow::Cow;

use alore_socket_host::flags::{POLICY_FILE, POLICY_MEDIA_TYPE, PolicyDocument};
use alore_socket_host::{Policy, Runtime, Stdio};
use alore_socket_rules::one_line;
use anyhow::{Context, Result, bail};
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source, WasmLayer};
use containerd_shim_wasm::shim::{Cli, Shim, Version, version};
use tokio::signal::unix::{SignalKind, signal};

/// The layer media types of a component, as runwasi's shims take them.
const COMPONENT_MEDIA_TYPES: [&str; 2] = [
    "application/wasm",
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
];

/// The exit status of a container whose component could not be run (its policy is invalid,
/// it does not compile, the host failed): a command's own failure status, with the reason
/// on the container's stderr.
const FAILED: i32 = 1;

struct AloreShim;

impl Shim for AloreShim {
    type Sandbox = AloreSandbox;

    fn name() -> &'static str {
        "alore"
    }

    fn version() -> Version {
        version!()
    }

    fn supported_layers_types() -> &'static [&'static str] {
        &[
            COMPONENT_MEDIA_TYPES[0],
            COMPONENT_MEDIA_TYPES[1],
            POLICY_MEDIA_TYPE,
        ]
    }
}

#[derive(Default)]
struct AloreSandbox;

impl Sandbox for AloreSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        match run(ctx).await {
            Ok(code) => Ok(code),
            Err(e) => {
                // The container's stderr: where `ctr run` and `kubectl logs` show it.
                eprintln!("alore-socket: {}", one_line(&format!("{e:#}")));
                Ok(FAILED)
            }
        }
    }
}

/// Run the container's component under its image's policy; its exit status.
async fn run(ctx: &impl RuntimeContext) -> Result<i32> {
    let entrypoint = ctx.entrypoint();
    let (wasm, document) = match &entrypoint.source {
        Source::File(_) => {
            let wasm = entrypoint.source.as_bytes()?;
            let document = match std::fs::read(POLICY_FILE) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).context(format!("cannot read {POLICY_FILE}")),
            };
            (wasm, document)
        }
        Source::Oci(layers) => from_layers(layers)?,
    };
    let policy = match document {
        Some(bytes) => PolicyDocument::from_json(&bytes)?.policy()?,
        None => Policy::deny_all(),
    };
    // The guest's argv: the program's name, then the container's arguments after the
    // entrypoint; its environment: the container's.
    let name = entrypoint.name.clone().unwrap_or_else(|| "app".into());
    let argv: Vec<String> = std::iter::once(name)
        .chain(ctx.args().iter().skip(1).cloned())
        .collect();
    let env: Vec<(String, String)> = ctx
        .envs()
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // The composed app carries the component: nothing of the host's own needs compiling.
    let runtime = Runtime::lazy()?;
    // The component runs as the container's PID 1, which no signal stops unless it asks to
    // be: SIGTERM and SIGINT end the run (the store, with its sockets, goes with it) and the
    // container exits as a process killed by them would.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        output = runtime.run_command_with_env(&wasm, &policy, &argv, &env, Stdio::Inherit) => {
            Ok(output?.code)
        }
        _ = terminate.recv() => Ok(KILLED_BY + libc_signal::SIGTERM),
        _ = interrupt.recv() => Ok(KILLED_BY + libc_signal::SIGINT),
    }
}

/// A shell's exit status for a process a signal ended: this plus the signal's number.
const KILLED_BY: i32 = 128;

/// The signals' numbers on Linux (the only system the shim runs on).
mod libc_signal {
    pub(crate) const SIGINT: i32 = 2;
    pub(crate) const SIGTERM: i32 = 15;
}

/// What a container runs: the component's bytes, and the policy document's if the image has
/// one.
type Contents<'a> = (Cow<'a, [u8]>, Option<Vec<u8>>);

/// The component and the policy document from an artifact's layers: one component layer,
/// at most one policy layer.
fn from_layers(layers: &[WasmLayer]) -> Result<Contents<'_>> {
    let mut component = None;
    let mut document = None;
    for layer in layers {
        let media_type = layer.config.media_type().to_string();
        let slot = if media_type == POLICY_MEDIA_TYPE {
            &mut document
        } else {
            &mut component
        };
        if slot.replace(&layer.layer).is_some() {
            bail!("the image has more than one {media_type} layer");
        }
    }
    let component = component.context("the image has no component layer")?;
    Ok((Cow::Borrowed(component), document.cloned()))
}

fn main() {
    AloreShim::run(None);
}
