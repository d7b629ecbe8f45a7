//! End-to-end tests: the real component, run by the real wasmtime host, against real TCP
//! servers on 127.0.0.1.

mod alore_suite;
mod alore_suite_in_component;
mod bad_input;
mod buffering;
mod closing;
mod common;
mod compose;
mod connect;
mod contract;
mod detach;
mod dns_server;
mod docs;
mod egress;
mod faults;
mod hostile_app;
mod ipv6;
mod languages;
mod limits;
mod names;
mod node;
mod nothing_lost;
mod p3;
mod reading;
mod reverse;
mod server;
mod tls;
mod tls_composed;
mod wit_package;
