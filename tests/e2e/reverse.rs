//! Reverse lookup and the host name, on standard WASI: the hosts file first, then DNS to a
//! real server on 127.0.0.1. Each test writes its own `/etc`; no test ever sends DNS to this
//! machine's configured resolver.

use std::path::Path;
use std::time::Instant;

use alore_socket_host::{Instance, Policy};
use tempfile::TempDir;

use crate::common::*;
use crate::dns_server::{Behaviour, DnsServer};

/// A test `/etc` holding the given files.
fn etc(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// Reverse lookups on, with this `/etc` and this resolver.
fn resolving(etc: &Path, server: &DnsServer) -> Instance {
    instance(
        Policy::deny_all()
            .allow_reverse_lookup(true)
            .etc_from(etc)
            .resolver(server.address),
    )
}

const FAST: &str = "options timeout:1 attempts:1\n";

#[test]
fn the_hosts_file_answers_before_dns() {
    let server = DnsServer::start(Behaviour::Answer("from-dns.example"));
    let dir = etc(&[(
        "hosts",
        "127.0.0.1\tlocalhost loopback\n10.9.8.7 ten.example ten\n",
    )]);
    let instance = resolving(dir.path(), &server);
    // Alore's testGetHostByAddress: a non-empty name for 127.0.0.1.
    assert_eq!(
        instance.get_host_by_address("127.0.0.1").unwrap(),
        "localhost"
    );
    assert_eq!(
        instance.get_host_by_address("10.9.8.7").unwrap(),
        "ten.example"
    );
    assert_eq!(
        server.udp_queries(),
        0,
        "no DNS for names the hosts file has"
    );
    assert_eq!(
        instance.get_host_by_address("10.9.8.8").unwrap(),
        "from-dns.example"
    );
    assert_eq!(server.udp_queries(), 1);
}

#[test]
fn a_ptr_answer_is_the_name() {
    let server = DnsServer::start(Behaviour::Answer("one.example."));
    let dir = etc(&[]);
    assert_eq!(
        resolving(dir.path(), &server)
            .get_host_by_address("1.2.3.4")
            .unwrap(),
        "one.example"
    );
}

#[test]
fn nxdomain_and_no_record_are_name_errors_that_say_which() {
    let dir = etc(&[]);
    let server = DnsServer::start(Behaviour::NoSuchName);
    let error = resolving(dir.path(), &server)
        .get_host_by_address("1.2.3.4")
        .unwrap_err();
    assert!(
        error.is_name_error() && error.to_string().contains("NXDOMAIN"),
        "{error}"
    );
    let server = DnsServer::start(Behaviour::NoRecord);
    let error = resolving(dir.path(), &server)
        .get_host_by_address("1.2.3.4")
        .unwrap_err();
    assert!(
        error.is_name_error() && error.to_string().contains("no PTR record"),
        "{error}"
    );
}

#[test]
fn a_silent_server_fails_after_exactly_the_configured_tries() {
    let server = DnsServer::start(Behaviour::Silent);
    let dir = etc(&[("resolv.conf", "options timeout:1 attempts:2\n")]);
    let started = Instant::now();
    let error = resolving(dir.path(), &server)
        .get_host_by_address("1.2.3.4")
        .unwrap_err();
    assert!(
        error.is_name_error() && error.to_string().contains("no answer"),
        "{error}"
    );
    assert_eq!(server.udp_queries(), 2, "attempts × servers, and no more");
    assert!(
        started.elapsed() < PATIENCE,
        "bounded by the tries, not forever"
    );
}

#[test]
fn answers_with_a_wrong_id_or_question_are_ignored() {
    let dir = etc(&[("resolv.conf", FAST)]);
    for behaviour in [
        Behaviour::WrongIdFirst("real.example"),
        Behaviour::WrongQuestionFirst("real.example"),
    ] {
        let server = DnsServer::start(behaviour);
        let name = resolving(dir.path(), &server)
            .get_host_by_address("1.2.3.4")
            .unwrap();
        assert_eq!(name, "real.example", "{behaviour:?}");
        assert_eq!(
            server.udp_queries(),
            1,
            "{behaviour:?}: the forgery did not end the try"
        );
    }
}

#[test]
fn a_truncated_answer_is_asked_again_over_tcp() {
    let server = DnsServer::start(Behaviour::Truncated("long.example"));
    let dir = etc(&[("resolv.conf", FAST)]);
    assert_eq!(
        resolving(dir.path(), &server)
            .get_host_by_address("1.2.3.4")
            .unwrap(),
        "long.example"
    );
    assert_eq!((server.udp_queries(), server.tcp_queries()), (1, 1));
}

#[test]
fn the_argument_is_checked_first() {
    let server = DnsServer::start(Behaviour::Answer("never.example"));
    let dir = etc(&[]);
    let instance = resolving(dir.path(), &server);
    for bad in ["localhost", "127.1", "1.2.3", "1.2.3.256", ""] {
        assert!(
            instance
                .get_host_by_address(bad)
                .unwrap_err()
                .is_value_error(),
            "{bad:?}"
        );
    }
    assert_eq!(server.udp_queries(), 0);
}

#[test]
fn the_host_name_comes_from_hostname_then_etc_hostname() {
    let dir = etc(&[("hostname", "from-file\nsecond line\n")]);
    let base = || {
        Policy::deny_all()
            .allow_reverse_lookup(true)
            .etc_from(dir.path())
    };
    let given = instance(base().host_name(Some("from-env")));
    assert_eq!(given.get_host_name().unwrap(), "from-env");
    assert_eq!(
        instance(base().host_name(None)).get_host_name().unwrap(),
        "from-file"
    );
    // Alore's testGetHostName: this machine's own name, non-empty.
    assert!(!instance(base()).get_host_name().unwrap().is_empty());
    let empty = etc(&[]);
    let neither = instance(
        Policy::deny_all()
            .allow_reverse_lookup(true)
            .etc_from(empty.path())
            .host_name(None),
    );
    assert!(neither.get_host_name().unwrap_err().is_name_error());
}

#[test]
fn without_etc_or_resolver_the_answers_are_name_errors_not_traps() {
    let bare = instance(Policy::deny_all());
    let error = bare.get_host_by_address("1.2.3.4").unwrap_err();
    assert!(
        error.is_name_error() && error.to_string().contains("no resolver"),
        "{error}"
    );
    assert!(bare.get_host_name().unwrap_err().is_name_error());
    // An empty /etc, reverse lookups on: the same, and the instance still works after.
    let empty = etc(&[]);
    let nothing = instance(
        Policy::deny_all()
            .allow_reverse_lookup(true)
            .etc_from(empty.path())
            .host_name(None),
    );
    assert!(
        nothing
            .get_host_by_address("1.2.3.4")
            .unwrap_err()
            .is_name_error()
    );
    assert!(nothing.get_host_name().unwrap_err().is_name_error());
    assert_eq!(nothing.get_host_by_name("10.0.0.1").unwrap(), "10.0.0.1");
}
