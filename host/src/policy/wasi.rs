//! What a policy gives a store in WASI terms: the network switches and the address check
//! every bind, connect, send and receive goes through, and, for reverse lookups, a private
//! `/etc`, `$HOSTNAME` and the resolvers. Every grant is the whole store's: in a composition
//! the application plugged into the component gets it too.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::Path;

use alore_socket_rules::{
    ETC_DIR, ETC_FILES, HOSTNAME_ENV, RESOLV_CONF_FILE, RESOLVER_ENV, ResolvConf, TLS_DENIED,
    TLS_ENV,
};
use tempfile::TempDir;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::Policy;
use crate::Error;
use crate::pins::SharedPins;

/// The WASI context `policy` asks for, and the private `/etc` it may need kept alive (part
/// of the store's [`super::Plan`]).
pub(crate) fn context(
    policy: &Policy,
    pins: &SharedPins,
) -> Result<(WasiCtxBuilder, Option<TempDir>), Error> {
    let mut builder = WasiCtxBuilder::new();
    let mut resolvers = Vec::new();
    let etc = if policy.allows_reverse_lookup() {
        let etc = private_etc(policy.etc_source())?;
        builder
            .preopened_dir(etc.path(), ETC_DIR, FsPerms::ReadOnly)
            .map_err(|e| Error::setup(format!("cannot give the component /etc: {e:#}")))?;
        if let Some(name) = policy.host_name_value() {
            builder.env(HOSTNAME_ENV, name);
        }
        resolvers = match policy.resolver_override() {
            Some(resolver) => {
                builder.env(RESOLVER_ENV, resolver.to_string());
                vec![resolver]
            }
            None => nameservers(&etc.path().join(RESOLV_CONF_FILE)),
        };
        Some(etc)
    } else {
        None
    };
    if super::Build::of(policy) == super::Build::Standard {
        // The standard build runs: its start-tls then says why there is no TLS.
        builder.env(TLS_ENV, TLS_DENIED);
    }
    apply(policy, &mut builder, resolvers, pins.clone());
    Ok((builder, etc))
}

/// Apply the policy to a WASI context; `resolvers` are the DNS servers reverse lookups
/// may use (none when they are off). wasmtime 48 denies TCP and UDP unless switched on,
/// and then asks the address check ([`allows`]) for every bind, connect, send and receive.
fn apply(
    policy: &Policy,
    builder: &mut WasiCtxBuilder,
    resolvers: Vec<SocketAddrV4>,
    pins: SharedPins,
) {
    let checked = policy.clone();
    builder
        .allow_tcp(uses_tcp(policy))
        .allow_udp(policy.reverse)
        // Which names may be looked up is decided before wasmtime's lookup (`lookup`).
        .allow_ip_name_lookup(policy.lookups || !policy.names.is_empty())
        .socket_addr_check(move |address, use_| {
            let pinned = || {
                let pins = pins.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                pins.allows(address)
            };
            let allowed = allows(&checked, &resolvers, address, use_, pinned);
            Box::pin(async move { allowed })
        });
}

/// Whether a store under `policy` may use TCP at all: to connect, to listen, or to ask a
/// resolver again over TCP.
fn uses_tcp(policy: &Policy) -> bool {
    !policy.allowed.is_empty()
        || !policy.names.is_empty()
        || !policy.listen.is_empty()
        || policy.reverse
}

/// The address check: whether `policy` lets a store use `address` for `use_`, with
/// `resolvers` the only DNS servers it may reach, and `pinned` saying whether `address` is a
/// live answer to a name a name rule allows, on its port ([`crate::pins`]).
fn allows(
    policy: &Policy,
    resolvers: &[SocketAddrV4],
    address: SocketAddr,
    use_: SocketAddrUse,
    pinned: impl FnOnce() -> bool,
) -> bool {
    // The resolvers the component reads are IPv4 (`ResolvConf`); a mapped address reaches
    // the same server.
    let resolver = match alore_socket_rules::canonical(address.ip()) {
        IpAddr::V4(ip) => resolvers.contains(&SocketAddrV4::new(ip, address.port())),
        IpAddr::V6(_) => false,
    };
    // The implicit bind before a connect or a first send asks for the wildcard address
    // and an ephemeral port; any other bind is a server's, allowed by the listen rules.
    let implicit = address.ip().is_unspecified() && address.port() == 0;
    match use_ {
        SocketAddrUse::TcpBind => implicit || policy.allows_bind(address),
        SocketAddrUse::UdpBind => implicit,
        SocketAddrUse::TcpListen => policy.allows_listen(address),
        // An accepted peer is checked as if we had connected to it.
        SocketAddrUse::TcpConnect | SocketAddrUse::TcpAccept => {
            policy.allows_connect(address) || resolver || pinned()
        }
        SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => resolver,
    }
}

/// A private temporary directory holding copies of the few `/etc` files the component reads,
/// and nothing else: the real `/etc` holds secrets. Missing files are left out.
fn private_etc(source: &Path) -> Result<TempDir, Error> {
    let etc = tempfile::Builder::new()
        .prefix("alore-socket-etc-")
        .tempdir()
        .map_err(|e| Error::setup(format!("cannot make a private /etc: {e}")))?;
    for file in ETC_FILES {
        if let Ok(text) = std::fs::read(source.join(file)) {
            std::fs::write(etc.path().join(file), text).map_err(|e| {
                Error::setup(format!("cannot copy {file} into the private /etc: {e}"))
            })?;
        }
    }
    Ok(etc)
}

/// The `nameserver`s of a `resolv.conf` the component will use, read by the same rules it
/// reads them by: the only DNS servers it may reach.
fn nameservers(resolv_conf: &Path) -> Vec<SocketAddrV4> {
    let text = std::fs::read_to_string(resolv_conf).unwrap_or_default();
    ResolvConf::parse(&text).nameservers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_address_check_allows_each_use_only_what_its_rule_grants() {
        use SocketAddrUse::*;
        let resolver: SocketAddrV4 = "10.0.0.53:53".parse().unwrap();
        let policy = Policy::deny_all()
            .allow("127.0.0.1:7000".parse().unwrap())
            .allow_listen("127.0.0.1:8000".parse().unwrap());
        let check =
            |address: &str, use_| allows(&policy, &[resolver], addr(address), use_, || false);
        // The implicit bind of a client: the wildcard address and port 0, and nothing else.
        assert!(check("0.0.0.0:0", TcpBind) && check("0.0.0.0:0", UdpBind));
        assert!(!check("0.0.0.0:1", TcpBind) && !check("0.0.0.0:1", UdpBind));
        assert!(
            !check("127.0.0.1:0", UdpBind),
            "a UDP bind is only the implicit one"
        );
        assert!(check("127.0.0.1:8000", TcpBind) && check("127.0.0.1:8000", TcpListen));
        assert!(!check("127.0.0.1:8001", TcpBind) && !check("127.0.0.1:8001", TcpListen));
        assert!(check("127.0.0.1:7000", TcpConnect) && check("127.0.0.1:7000", TcpAccept));
        assert!(!check("127.0.0.1:7001", TcpConnect) && !check("127.0.0.1:7001", TcpAccept));
        assert!(
            !check("127.0.0.1:7000", TcpListen),
            "connecting is not listening"
        );
        // The resolver: UDP both ways and TCP, nothing else of it, and nothing else by UDP.
        for use_ in [UdpSend, UdpReceive, TcpConnect] {
            assert!(check("10.0.0.53:53", use_));
            assert!(!check("10.0.0.53:54", use_) && !check("10.0.0.54:53", use_));
        }
        assert!(!check("127.0.0.1:7000", UdpSend) && !check("127.0.0.1:7000", UdpReceive));
        assert!(!check("[::1]:7000", TcpConnect), "::1 is not 127.0.0.1");
        assert!(
            check("[::ffff:127.0.0.1]:7000", TcpConnect),
            "the mapped form of an allowed address is that address"
        );
        assert!(check("[::ffff:10.0.0.53]:53", UdpSend));
        assert!(
            !check("[::10.0.0.53]:53", UdpSend),
            "the compatible form is IPv6"
        );
        // The implicit bind of an IPv6 client.
        assert!(check("[::]:0", TcpBind) && check("[::]:0", UdpBind));
    }

    #[test]
    fn tcp_is_on_only_for_a_policy_that_uses_it() {
        assert!(!uses_tcp(
            &Policy::deny_all().allow_lookup(true).allow_tls(true)
        ));
        assert!(uses_tcp(
            &Policy::deny_all().allow("127.0.0.1".parse().unwrap())
        ));
        assert!(uses_tcp(
            &Policy::deny_all().allow_listen("127.0.0.1".parse().unwrap())
        ));
        assert!(uses_tcp(&Policy::deny_all().allow_reverse_lookup(true)));
    }

    #[test]
    fn the_private_etc_holds_only_the_three_files() {
        let source = tempfile::tempdir().unwrap();
        for file in [
            "hosts",
            "resolv.conf",
            "hostname",
            "shadow",
            "passwd",
            "ssl",
        ] {
            std::fs::write(source.path().join(file), file).unwrap();
        }
        let etc = private_etc(source.path()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(etc.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["hostname", "hosts", "resolv.conf"]);
        assert_eq!(
            std::fs::read_to_string(etc.path().join("hosts")).unwrap(),
            "hosts"
        );
    }

    #[test]
    fn the_host_allows_the_nameservers_the_component_will_use() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("resolv.conf");
        // A comment sign right after the address, IPv6, and more servers than count.
        let text = "# x\nnameserver 10.0.0.53;x\nnameserver ::1\nsearch example\n\
                    nameserver 127.0.0.1#y\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n";
        std::fs::write(&conf, text).unwrap();
        let expected = ResolvConf::parse(text).nameservers;
        assert_eq!(expected.len(), alore_socket_rules::MAX_NAMESERVERS);
        assert_eq!(expected[0], "10.0.0.53:53".parse().unwrap());
        assert_eq!(expected[1], "127.0.0.1:53".parse().unwrap());
        assert_eq!(nameservers(&conf), expected);
        assert!(nameservers(&dir.path().join("missing")).is_empty());
    }
}
