//! `run`: an application plugged into the component, under the policy.

use alore_socket_host::{Policy, Runtime, Stdio, blocking};
use anyhow::{Context, Result};

/// Compose APP with the component (its TLS build under --allow-tls) and run it; its exit
/// status becomes ours.
pub(crate) fn run_app(
    runtime: &Runtime,
    policy: &Policy,
    app: &std::path::Path,
    args: Vec<String>,
) -> Result<()> {
    let bytes = std::fs::read(app).with_context(|| format!("cannot read {}", app.display()))?;
    let composed = runtime.compose(&bytes, policy)?;
    let name = app
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let argv: Vec<String> = std::iter::once(name).chain(args).collect();
    let output = blocking::run_command(runtime, &composed, policy, &argv, Stdio::Inherit)?;
    std::process::exit(output.code)
}
