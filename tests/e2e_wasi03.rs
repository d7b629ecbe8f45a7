//! The behaviour suite against the WASI 0.3 edition (`alore:socket@0.2.0`): the same test
//! files as the `e2e` target, compiled again with this target's name, which makes
//! `common::EDITION` the WASI 0.3 edition. Only the files that test behaviour both editions
//! share are listed; what only one edition has (`detach`, the 0.1.x contract, its
//! composed consumers) is tested by `e2e` alone.

#[path = "e2e/alore_suite.rs"]
mod alore_suite;
#[path = "e2e/alore_suite_in_component.rs"]
mod alore_suite_in_component;
#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/buffering.rs"]
mod buffering;
#[path = "e2e/closing.rs"]
mod closing;
// The helpers of the tests only `e2e` runs go unused here.
#[allow(dead_code)]
#[path = "e2e/common.rs"]
mod common;
#[path = "e2e/connect.rs"]
mod connect;
#[allow(dead_code)]
#[path = "e2e/dns_server.rs"]
mod dns_server;
#[path = "e2e/egress.rs"]
mod egress;
#[path = "e2e/faults.rs"]
mod faults;
#[path = "e2e/ipv6.rs"]
mod ipv6;
#[path = "e2e/names.rs"]
mod names;
#[path = "e2e/nothing_lost.rs"]
mod nothing_lost;
#[path = "e2e/reading.rs"]
mod reading;
#[path = "e2e/reverse.rs"]
mod reverse;
#[path = "e2e/server.rs"]
mod server;
#[path = "e2e/tls.rs"]
mod tls;
