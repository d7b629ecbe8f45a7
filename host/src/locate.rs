//! Finding the component: `$ALORE_SOCKET_COMPONENT`, or the workspace's own build of it,
//! built (and its Rust target installed) when needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// Names a component file to use instead of finding or building one.
pub const COMPONENT_ENV: &str = "ALORE_SOCKET_COMPONENT";
/// The Rust target components are built for.
const GUEST_TARGET: &str = "wasm32-wasip2";

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
