//! Builds the component (the WASI 0.2 edition's standard and TLS builds, and the WASI 0.3
//! edition) for `wasm32-wasip2` and puts them in
//! `OUT_DIR`, where `src/runtime.rs` includes them: the host carries what it runs, and works
//! from any directory with no cargo, rustup or source (`$ALORE_SOCKET_COMPONENT` still
//! overrides at run time). wasmtime's `test-programs-artifacts` builds its guests this way.

use std::path::{Path, PathBuf};

use alore_socket_wasm_build::Build;

fn main() {
    let host = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = host.parent().expect("the host is a workspace member");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    // Everything the component is built from. A directory is scanned whole by cargo.
    for input in [
        "guest",
        "rules",
        "wit",
        "wit-p3",
        "examples/wasi-wit-p3",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    // The outer build's target directory, shared with the tests' guest builds, so that the
    // component and its dependencies are compiled once; the TLS build and the WASI 0.3
    // edition have a directory each (they differ by a feature).
    let target = shared_target_dir(&out);
    let builds = [
        ("alore_socket.wasm", None, target.clone()),
        ("alore_socket_tls.wasm", Some("tls"), target.join("tls")),
        ("alore_socket_p3.wasm", Some("p3"), target.join("p3")),
    ];
    for (file, feature, target_dir) in builds {
        let mut build =
            Build::new(workspace, "alore-socket", "alore_socket").target_dir(&target_dir);
        if let Some(feature) = feature {
            build = build.feature(feature);
        }
        let built = build.run().unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(&built, out.join(file))
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
    }
}

/// The target directory `out` (a build script's `OUT_DIR`) is inside: the one ancestor cargo
/// tagged with `CACHEDIR.TAG`; `out` itself if there is none.
fn shared_target_dir(out: &Path) -> PathBuf {
    out.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out)
        .to_owned()
}
