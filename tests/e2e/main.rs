//! End-to-end tests: the real component, run by the real wasmtime host, against real TCP
//! servers on 127.0.0.1.

mod common;
mod smoke;
