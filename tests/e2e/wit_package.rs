//! `wit/` is the package users consume: the WIT the built component carries (what
//! `wasm-tools component wit` prints) has the same interfaces, functions, parameters and
//! types, and `wit/` documents every one of them. The built component cannot carry the docs
//! themselves: a component's `package-docs` section documents only its own root package, not
//! the interfaces it exports (wit-parser 0.258 `decoding.rs`), so the docs ship in `wit/`.

use wit_component::DecodedWasm;
use wit_parser::{Docs, Interface, InterfaceId, Resolve, Type, TypeDefKind};

fn interface(resolve: &Resolve, name: &str) -> InterfaceId {
    let ours = |i: &Interface| {
        i.name.as_deref() == Some(name)
            && i.package
                .is_some_and(|p| resolve.packages[p].name.namespace == "alore")
    };
    let found = resolve.interfaces.iter().find(|(_, i)| ours(i));
    found
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no interface {name}"))
}

fn documented(docs: &Docs) -> bool {
    docs.contents
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty())
}

#[test]
fn the_built_component_carries_the_wit_package() {
    let wasm = crate::common::runtime()
        .component(
            alore_socket_host::Edition::Wasi02,
            &alore_socket_host::Policy::deny_all(),
        )
        .unwrap();
    let DecodedWasm::Component(built, _) = wit_component::decode(&wasm).unwrap() else {
        panic!("not a component");
    };
    let mut source = Resolve::new();
    source
        .push_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/wit"))
        .unwrap();
    for name in ["socket", "server-socket"] {
        let ours = &source.interfaces[interface(&source, name)];
        let theirs = &built.interfaces[interface(&built, name)];
        assert!(documented(&ours.docs), "{name} is documented in wit/");

        let functions = |i: &Interface| i.functions.keys().cloned().collect::<Vec<_>>();
        assert_eq!(functions(ours), functions(theirs), "{name}: functions");
        for (function, ours) in &ours.functions {
            assert!(
                documented(&ours.docs),
                "{name}.{function} is documented in wit/"
            );
            let params = |f: &wit_parser::Function| {
                f.params.iter().map(|p| p.name.clone()).collect::<Vec<_>>()
            };
            assert_eq!(
                params(ours),
                params(&theirs.functions[function]),
                "{name}.{function}"
            );
        }

        let types = |i: &Interface| i.types.keys().cloned().collect::<Vec<_>>();
        assert_eq!(types(ours), types(theirs), "{name}: types");
        for (type_name, id) in &ours.types {
            let def = &source.types[*id];
            // A `use` of another interface's type is documented where that type is defined.
            let used = matches!(def.kind, TypeDefKind::Type(Type::Id(_)));
            assert!(
                used || documented(&def.docs),
                "{name}.{type_name} is documented in wit/"
            );
        }
    }
}
