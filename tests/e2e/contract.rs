//! The built component is what the contract says: where the issue says it is, importing only
//! standard WASI 0.2 and exporting exactly `alore:socket/socket@0.1.3` and `alore:socket/server-socket@0.1.3` with the contract's
//! types (the typed bindings refuse a component whose exports differ from `wit/`).

use crate::common::*;

#[test]
fn the_host_carries_the_component_built_where_the_readme_says() {
    let path = alore_socket_wasm_build::build_wasm("alore-socket", "alore_socket").unwrap();
    assert!(
        path.ends_with("wasm32-wasip2/release/alore_socket.wasm"),
        "{}",
        path.display()
    );
    let carried = runtime()
        .component(
            alore_socket_host::Edition::Wasi02,
            &alore_socket_host::Policy::deny_all(),
        )
        .unwrap();
    assert!(
        std::fs::read(&path).unwrap() == carried,
        "the embedded build is this source tree's"
    );
}

#[test]
fn it_exports_the_contract_and_imports_only_standard_wasi_0_2() {
    let runtime = runtime();
    assert_eq!(
        runtime.exports().unwrap(),
        [
            "alore:socket/socket@0.1.3",
            "alore:socket/server-socket@0.1.3"
        ]
    );
    // A runtime that compiles nothing up front compiles the same component when asked.
    let lazy = alore_socket_host::Runtime::lazy().unwrap();
    assert_eq!(lazy.exports().unwrap(), runtime.exports().unwrap());
    let imports = runtime.imports(None).unwrap();
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("wasi:sockets/tcp@0.2.")),
        "{imports:?}"
    );
    for import in &imports {
        let (interface, version) = import.split_once('@').unwrap_or((import, ""));
        assert!(
            interface.starts_with("wasi:"),
            "a non-WASI import: {import}"
        );
        assert!(version.starts_with("0.2."), "not WASI 0.2: {import}");
    }
}
