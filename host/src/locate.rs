//! Finding the component: `$ALORE_SOCKET_COMPONENT`, or the workspace's own build of it,
//! built (and its Rust target installed) when needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// Names a component file to use instead of finding or building one.
pub const COMPONENT_ENV: &str = "ALORE_SOCKET_COMPONENT";
/// Names the TLS build's file; else it is [`TLS_FILE`] beside the standard build.
pub const TLS_COMPONENT_ENV: &str = "ALORE_SOCKET_TLS_COMPONENT";
/// The TLS build's file name.
pub const TLS_FILE: &str = "alore_socket_tls.wasm";
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

/// Where the TLS build of the component is, given where the standard build came from: named
/// by [`TLS_COMPONENT_ENV`], else [`TLS_FILE`] beside a standard build named by a user, else
/// this workspace's, built when needed.
pub(crate) fn locate_tls_component(standard: &Path, built: bool) -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os(TLS_COMPONENT_ENV) {
        return Ok(PathBuf::from(path));
    }
    if !built {
        return Ok(standard.with_file_name(TLS_FILE));
    }
    // Its own target directory: the two builds differ by a feature, and sharing one would
    // rebuild the crate each time the other is asked for.
    let target_dir = target_dir(workspace()).join("tls");
    let built = build(
        "alore-socket",
        "alore_socket",
        &["--features", "tls"],
        Some(&target_dir),
    )?;
    let tls = standard.with_file_name(TLS_FILE);
    // Renamed into place whole, so that a reader never sees half a file.
    let partial = tls.with_extension(format!("{}.partial", std::process::id()));
    std::fs::copy(&built, &partial)
        .and_then(|_| std::fs::rename(&partial, &tls))
        .map_err(|e| Error::load(&tls, e))?;
    Ok(tls)
}

fn workspace() -> &'static Path {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    host.parent().unwrap_or(host)
}

fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from)
}

/// Build a package of this workspace for `wasm32-wasip2` (release) and return the path of its
/// `artifact` (e.g. `alore_socket`, `line-client`). Fails outside a workspace checkout.
pub fn build_wasm(package: &str, artifact: &str) -> Result<PathBuf, Error> {
    build(package, artifact, &[], None)
}

/// [`build_wasm`] with more `cargo build` arguments, into `target_dir` if given.
fn build(
    package: &str,
    artifact: &str,
    more: &[&str],
    target_dir_override: Option<&Path>,
) -> Result<PathBuf, Error> {
    let workspace = workspace();
    if !workspace.join("guest/Cargo.toml").is_file() {
        return Err(Error::load(
            workspace,
            format!("no workspace to build {package} in; set {COMPONENT_ENV} for the component"),
        ));
    }
    ensure_guest_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.current_dir(workspace).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        package,
        "--target",
        GUEST_TARGET,
    ]);
    command.args(more);
    if let Some(dir) = target_dir_override {
        command.arg("--target-dir").arg(dir);
    }
    let status = command
        .status()
        .map_err(|e| Error::load(workspace, format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(Error::load(
            workspace,
            format!("cargo build of {package} failed ({status})"),
        ));
    }
    let target_dir = target_dir_override.map_or_else(|| target_dir(workspace), Path::to_path_buf);
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
