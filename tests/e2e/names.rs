//! The module functions: `get-host-by-name`, `get-host-by-address`, `get-host-name`.

use crate::common::*;

#[test]
fn get_host_by_name() {
    let instance = loopback();
    assert_eq!(instance.get_host_by_name("localhost").unwrap(), "127.0.0.1");
    assert_eq!(
        instance.get_host_by_name("10.1.2.3").unwrap(),
        "10.1.2.3",
        "no lookup"
    );
    assert_eq!(
        instance.get_host_by_name("255.255.255.255").unwrap(),
        "255.255.255.255"
    );
}

#[test]
fn get_host_by_address_checks_its_argument() {
    let instance = loopback();
    for bad in [
        "localhost",
        "127.1",
        "1.2.3",
        "1.2.3.256",
        "01.2.3.4",
        "1.2.3.4.5",
        "::1%lo",
        "[::1]",
        ":::1",
        "",
    ] {
        let error = instance.get_host_by_address(bad).unwrap_err();
        assert!(error.is_value_error(), "{bad:?}: {error}");
    }
}

#[test]
fn without_reverse_lookups_the_host_name_is_unknown() {
    let error = loopback().get_host_name().unwrap_err();
    assert!(
        error.is_name_error() && error.to_string().contains("neither"),
        "{error}"
    );
}

#[test]
fn without_a_table_lookups_go_through_wasmtimes_resolver() {
    // "localhost" comes from this machine's hosts file: no DNS query leaves the machine.
    let instance = instance(alore_socket_host::Policy::deny_all().allow_lookup(true));
    assert_eq!(instance.get_host_by_name("localhost").unwrap(), "127.0.0.1");
}

#[test]
fn a_lookup_table_answers_alone() {
    let tests = loopback();
    assert_eq!(
        tests.get_host_by_name("loopback.test").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        tests.get_host_by_name("LOOPBACK.test.").unwrap(),
        "127.0.0.1"
    );
    let error = tests.get_host_by_name("unknown.test").unwrap_err();
    assert!(error.is_name_error(), "{error}");
    // Lookups not allowed: the table is not consulted.
    let denied = instance(alore_socket_host::Policy::deny_all().lookup_table(test_names()));
    let error = denied.get_host_by_name("loopback.test").unwrap_err();
    assert!(
        error.is_name_error() && error.to_string().contains("allowed"),
        "{error}"
    );
}
