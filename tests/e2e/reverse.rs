//! Reverse lookup and the host name, on standard WASI: the hosts file first, then DNS to a
//! real server on 127.0.0.1. Each test writes its own `/etc`; no test ever sends DNS to this
//! machine's configured resolver.

use std::path::Path;
use std::time::Instant;

use alore_socket_host::Policy;
use alore_socket_host::blocking::Instance;
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

/// Reverse lookups on, with this `/etc`, and the resolvers its `resolv.conf` names: the
/// host must allow exactly the servers the component will use.
fn resolving_by_resolv_conf(etc: &Path) -> Instance {
    instance(Policy::deny_all().allow_reverse_lookup(true).etc_from(etc))
}

#[test]
fn resolv_conf_options_and_the_first_three_nameservers_are_honoured() {
    use std::net::Ipv4Addr;
    use std::time::Duration;
    // Five silent servers on the DNS port of loopback addresses of this test's own.
    let servers: Vec<DnsServer> = (1..=5)
        .map(|i| DnsServer::start_on_port_53(Ipv4Addr::new(127, 53, 1, i), Behaviour::Silent))
        .collect();
    let mut conf: String = (1..=5)
        .map(|i| format!("nameserver 127.53.1.{i}\n"))
        .collect();
    conf.push_str("options timeout:1 attempts:2\n"); // neither is the default (2 s, 2 tries)
    let dir = etc(&[("resolv.conf", &conf)]);
    let started = Instant::now();
    let error = resolving_by_resolv_conf(dir.path())
        .get_host_by_address("1.2.3.4")
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        error.is_name_error() && error.to_string().contains("after 2 tries"),
        "{error}"
    );
    let counts: Vec<usize> = servers.iter().map(DnsServer::udp_queries).collect();
    assert_eq!(
        counts,
        [2, 2, 2, 0, 0],
        "attempts:2 rounds over glibc's MAXNS of 3"
    );
    // Each round asks the servers in turn: 1, 2, 3, then 1, 2, 3 again.
    let mut asked: Vec<(Instant, usize)> = servers
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.udp_query_times().into_iter().map(move |t| (t, i)))
        .collect();
    asked.sort();
    let order: Vec<usize> = asked.iter().map(|&(_, i)| i).collect();
    assert_eq!(order, [0, 1, 2, 0, 1, 2]);
    // Six tries of timeout:1 each. Ignoring `timeout:` would take 12 s at the default; the
    // upper bound sits between the two, with room for a loaded machine.
    assert!(
        took >= Duration::from_secs(6),
        "each try waits its second: {took:?}"
    );
    assert!(
        took < Duration::from_secs(11),
        "timeout:1, not the default 2 s: {took:?}"
    );
}

#[test]
fn a_comment_sign_after_a_nameserver_reads_alike_in_host_and_component() {
    use std::net::Ipv4Addr;
    let server = DnsServer::start_on_port_53(
        Ipv4Addr::new(127, 53, 2, 1),
        Behaviour::Answer("commented.example"),
    );
    for line in ["nameserver 127.53.2.1;x", "nameserver 127.53.2.1#x"] {
        let dir = etc(&[("resolv.conf", &format!("{line}\n{FAST}"))]);
        let name = resolving_by_resolv_conf(dir.path())
            .get_host_by_address("1.2.3.4")
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(name, "commented.example", "{line:?}");
    }
    assert_eq!(server.udp_queries(), 2);
}

#[test]
fn a_ptr_answer_that_is_no_host_name_is_a_name_error_that_does_not_echo_it() {
    let dir = etc(&[("resolv.conf", FAST)]);
    for raw in [
        "line1\nline2.example",
        "red\x1b[31m.example",
        "nul\0.example",
        "sp ace.example",
    ] {
        let server = DnsServer::start(Behaviour::Answer(raw));
        let error = resolving(dir.path(), &server)
            .get_host_by_address("1.2.3.4")
            .unwrap_err();
        let text = error.to_string();
        assert!(error.is_name_error(), "{raw:?}: {text}");
        assert!(text.contains("no valid host name"), "{raw:?}: {text}");
        assert!(!text.chars().any(char::is_control), "{raw:?}: {text:?}");
        assert!(
            !text.contains(raw.split('.').next().unwrap()),
            "{raw:?}: {text}"
        );
    }
}

#[test]
fn a_ptr_record_for_another_name_is_refused() {
    let dir = etc(&[("resolv.conf", FAST)]);
    let server = DnsServer::start(Behaviour::OtherOwner("planted.example"));
    let error = resolving(dir.path(), &server)
        .get_host_by_address("1.2.3.4")
        .unwrap_err();
    assert!(
        error.is_name_error() && error.to_string().contains("another name"),
        "{error}"
    );
    assert!(!error.to_string().contains("planted"), "{error}");
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

#[test]
fn ipv6_addresses_are_looked_up_in_the_hosts_file_then_under_ip6_arpa() {
    // RFC 3596 §2.5: the 32 nibbles of 2001:db8::5, last first, under ip6.arpa.
    const QUESTION: &str =
        "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    let server = DnsServer::start(Behaviour::AnswerFor(QUESTION, "six.example"));
    let dir = etc(&[
        ("hosts", "::1 ip6-localhost ip6-loopback\n"),
        ("resolv.conf", FAST),
    ]);
    let instance = resolving(dir.path(), &server);
    assert_eq!(
        instance.get_host_by_address("::1").unwrap(),
        "ip6-localhost"
    );
    assert_eq!(
        instance.get_host_by_address("0:0:0:0:0:0:0:1").unwrap(),
        "ip6-localhost",
        "any spelling of the address"
    );
    assert_eq!(server.udp_queries(), 0, "the hosts file answered");
    // The server answers only QUESTION (NXDOMAIN for anything else).
    assert_eq!(
        instance.get_host_by_address("2001:db8::5").unwrap(),
        "six.example"
    );
    assert_eq!(server.udp_queries(), 1);
}
