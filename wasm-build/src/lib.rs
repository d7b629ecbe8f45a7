//! Builds packages of this workspace for `wasm32-wasip2` with cargo: the component's two
//! builds from the host's build script (which embeds them), and the examples and test
//! applications from the tests and the benchmark. One implementation, so that every build of
//! a guest uses the same target, profile and environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target every guest is built for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Variables cargo sets for a build script (or a test) that must not reach a nested cargo
/// building for another target: flags meant for the host target, clippy's driver (the guest
/// is linted by its own clippy run), and an outer target directory or target.
const NOT_INHERITED: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_PRIMARY_PACKAGE",
];

/// One `cargo build --release --target wasm32-wasip2` of a workspace package.
#[derive(Debug, Clone)]
pub struct Build {
    workspace: PathBuf,
    package: String,
    artifact: String,
    features: Vec<String>,
    target_dir: Option<PathBuf>,
}

impl Build {
    /// Build `package` of the workspace at `workspace`; its output is `ARTIFACT.wasm` (e.g.
    /// `alore_socket`, `line-client`).
    pub fn new(workspace: &Path, package: &str, artifact: &str) -> Self {
        Build {
            workspace: workspace.to_owned(),
            package: package.to_owned(),
            artifact: artifact.to_owned(),
            features: Vec::new(),
            target_dir: None,
        }
    }

    /// Turn on a cargo feature of the package.
    pub fn feature(mut self, feature: &str) -> Self {
        self.features.push(feature.to_owned());
        self
    }

    /// Build into this target directory instead of the workspace's (`$CARGO_TARGET_DIR` or
    /// `target/`). Builds that differ by a feature need one each, or each would rebuild the
    /// crate the other left.
    pub fn target_dir(mut self, dir: &Path) -> Self {
        self.target_dir = Some(dir.to_owned());
        self
    }

    /// Run cargo (adding the Rust target first when rustc lacks it) and return the path of
    /// the built `.wasm`. The error is one line.
    pub fn run(&self) -> Result<PathBuf, String> {
        if !self.workspace.join("guest/Cargo.toml").is_file() {
            return Err(format!(
                "no alore-socket workspace at {} to build {} in",
                self.workspace.display(),
                self.package
            ));
        }
        ensure_guest_target()?;
        let target_dir = self.target_dir.clone().unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| self.workspace.join("target"), PathBuf::from)
        });
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut command = Command::new(cargo);
        for name in NOT_INHERITED {
            command.env_remove(name);
        }
        command
            .current_dir(&self.workspace)
            .args(["build", "--quiet", "--release", "--target", GUEST_TARGET])
            .args(["-p", &self.package])
            .arg("--target-dir")
            .arg(&target_dir);
        if !self.features.is_empty() {
            command.args(["--features", &self.features.join(",")]);
        }
        let status = command
            .status()
            .map_err(|e| format!("cannot run cargo to build {}: {e}", self.package))?;
        if !status.success() {
            return Err(format!("cargo build of {} failed ({status})", self.package));
        }
        Ok(target_dir
            .join(GUEST_TARGET)
            .join("release")
            .join(format!("{}.wasm", self.artifact)))
    }
}

/// The workspace to build in: the one the running test or benchmark belongs to (cargo sets
/// `$CARGO_MANIFEST_DIR` when it runs them), else the one this crate was compiled in. Read at
/// run time: a compiled copy of this crate can be shared by clones of the workspace that
/// share a target directory.
pub fn workspace() -> PathBuf {
    let is_workspace = |dir: &Path| dir.join("guest/Cargo.toml").is_file();
    let running = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    if let Some(found) = running
        .as_deref()
        .and_then(|dir| dir.ancestors().find(|dir| is_workspace(dir)))
    {
        return found.to_owned();
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_owned()
}

/// Build a package of this workspace into its target directory: what tests and the benchmark
/// use for the examples and test applications.
pub fn build_wasm(package: &str, artifact: &str) -> Result<PathBuf, String> {
    Build::new(&workspace(), package, artifact).run()
}

/// Install the `wasm32-wasip2` standard library when rustc lacks it: these machines set
/// `RUSTUP_AUTO_INSTALL=0`, so nothing else will.
fn ensure_guest_target() -> Result<(), String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let libdir = Command::new(rustc)
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
            format!("the Rust target {GUEST_TARGET} is missing and rustup cannot run: {e}")
        })?;
    if !status.success() {
        return Err(format!(
            "rustup target add {GUEST_TARGET} failed ({status})"
        ));
    }
    Ok(())
}
