//! The WASI 0.3 edition (`alore:socket@0.2.0`).

wit_bindgen::generate!({
    path: "wit-p3",
    world: "provider-p3",
    generate_all,
});
