//! Egress by name: a name rule allows looking a name up and connecting to what that lookup
//! answered, in the same store, on the rule's ports; nothing else. Names come from
//! `Policy::lookup_table` (no query leaves the machine); servers are on 127.0.0.0/8.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

use alore_socket_host::{AllowName, IoErrorKind, LookupTable, Policy};

use crate::common::*;

const ONE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const TWO: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The tests' names: `svc.test` and `other.test` both resolve to 127.0.0.1.
fn names() -> LookupTable {
    [
        ("svc.test", ONE),
        ("other.test", ONE),
        ("a.wild.test", ONE),
        ("a.b.wild.test", ONE),
    ]
    .into_iter()
    .collect()
}

/// Only `rule` (no address rule, no other lookup), answered from `table`.
fn by_name(rule: &str, table: LookupTable) -> alore_socket_host::blocking::Instance {
    instance(
        Policy::deny_all()
            .allow_name(rule.parse().unwrap())
            .lookup_table(table),
    )
}

/// A server on `ip` that says hello.
fn hello(ip: IpAddr) -> Server<()> {
    Server::start_on(ip, |mut s| s.write_all(b"hello\n").unwrap())
}

#[test]
fn an_allowed_name_connects_and_its_address_alone_does_not() {
    let server = hello(ONE);
    let rule = format!("svc.test:{}", server.port);
    // A fresh store: nobody looked 127.0.0.1 up, so no rule allows it.
    let fresh = by_name(&rule, names());
    let error = fresh
        .connect("127.0.0.1", server.port, None)
        .map(drop)
        .unwrap_err();
    assert_eq!(error.io_kind(), Some(IoErrorKind::AccessDenied), "{error}");
    assert!(
        error
            .to_string()
            .contains("no lookup of an allowed name here answered it"),
        "the error says why: {error}"
    );
    // By name: looked up, pinned, connected.
    let socket = fresh.connect("svc.test", server.port, None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"hello");
    drop(socket);
    server.join();
}

#[test]
fn a_name_no_rule_covers_cannot_even_be_looked_up() {
    let instance = by_name("svc.test:80", names());
    // other.test resolves to the same address: its lookup is refused all the same.
    for name in ["other.test", "unknown.test"] {
        let error = instance.get_host_by_name(name).unwrap_err();
        assert!(
            error.is_name_error() && error.to_string().contains("not allowed"),
            "{name}: {error}"
        );
    }
    assert_eq!(instance.get_host_by_name("SVC.test.").unwrap(), "127.0.0.1");
}

#[test]
fn a_port_outside_the_rule_is_denied() {
    let server = hello(ONE);
    let other = closed_port();
    let instance = by_name(&format!("svc.test:{}", server.port), names());
    let error = instance
        .connect("svc.test", other.port(), None)
        .map(drop)
        .unwrap_err();
    assert_eq!(error.io_kind(), Some(IoErrorKind::AccessDenied), "{error}");
    let why = format!("no rule allows port {} of svc.test", other.port());
    assert!(
        error.to_string().contains(&why),
        "the error says why: {error}"
    );
    drop(server);
}

#[test]
fn a_one_label_wildcard_covers_one_label() {
    let server = hello(ONE);
    let instance = by_name(&format!("*.wild.test:{}", server.port), names());
    let socket = instance.connect("a.wild.test", server.port, None).unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"hello");
    drop(socket);
    server.join();
    let error = instance.get_host_by_name("a.b.wild.test").unwrap_err();
    assert!(error.to_string().contains("not allowed"), "{error}");
}

#[test]
fn an_answer_that_changes_allows_the_new_address_and_nothing_never_answered() {
    let (first, second) = (hello(ONE), hello(TWO));
    let table = names();
    let instance = instance(
        Policy::deny_all()
            .allow_name(AllowName::names("svc.test").unwrap())
            .lookup_table(table.clone()),
    );
    let socket = instance.connect("svc.test", first.port, None).unwrap();
    assert_eq!(socket.remote_address().unwrap(), "127.0.0.1");
    drop(socket);
    first.join();
    // 127.0.0.2 was never an answer: denied.
    let error = instance
        .connect("127.0.0.2", second.port, None)
        .map(drop)
        .unwrap_err();
    assert_eq!(error.io_kind(), Some(IoErrorKind::AccessDenied), "{error}");
    // The name moves; the next lookup pins the new address.
    table.set("svc.test", &[TWO]);
    let socket = instance.connect("svc.test", second.port, None).unwrap();
    assert_eq!(socket.remote_address().unwrap(), "127.0.0.2");
    assert_eq!(socket.read_ln().unwrap(), b"hello");
    drop(socket);
    second.join();
}

#[test]
fn a_composed_app_doing_raw_wasi_lookups_and_connects_goes_by_the_same_rules() {
    use alore_socket_host::Stdio;
    let hog = std::fs::read(
        alore_socket_wasm_build::build_wasm("alore-socket-test-consumer", "test-hog").unwrap(),
    )
    .unwrap();
    let server = holding_server();
    // The hog imports wasi:tls for another command: TLS is allowed, and irrelevant here.
    let policy = Policy::deny_all()
        .allow_tls(true)
        .allow_name(format!("svc.test:{server}").parse().unwrap())
        .lookup_table(names());
    let run = |words: &[&str]| {
        let mut argv = vec!["test-hog".to_owned()];
        argv.extend(words.iter().map(|w| w.to_string()));
        let out = alore_socket_host::blocking::run_command(
            runtime(),
            &hog,
            &policy,
            &argv,
            Stdio::Capture { stdin: Vec::new() },
        )
        .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let port = server.to_string();
    assert_eq!(
        run(&["lookup-connect", "svc.test", &port]),
        "connected to 127.0.0.1"
    );
    // Each run is a store of its own: nothing it looked up before is pinned in the next.
    assert_eq!(run(&["connect", "127.0.0.1", &port]), "PermissionDenied");
    assert_eq!(
        run(&["lookup-connect", "other.test", &port]),
        "lookup: PermissionDenied"
    );
}
