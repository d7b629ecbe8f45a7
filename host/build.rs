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
    // Directories of their own inside the outer build's target directory: a nested cargo in
    // the outer target directory would wait forever for the lock the outer build holds on its
    // profile's directory (a release build's proc-macros are built in `target/release`), and
    // the builds differ by their features, so each keeps its own to stay incremental.
    let target = shared_target_dir(&out).join("embed");
    let builds = [
        ("alore_socket.wasm", &[][..], target.join("standard")),
        ("alore_socket_tls.wasm", &["tls"][..], target.join("tls")),
        ("alore_socket_p3.wasm", &["p3"][..], target.join("p3")),
        (
            "alore_socket_p3_tls.wasm",
            &["p3", "tls"][..],
            target.join("p3-tls"),
        ),
    ];
    for (file, features, target_dir) in builds {
        let mut build =
            Build::new(workspace, "alore-socket", "alore_socket").target_dir(&target_dir);
        for feature in features {
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
