//! The network policy: what the component may connect to. Deny by default; the check runs on
//! the address the component actually connects to, so a name that resolves to a denied
//! address is denied too. What a policy means for a store is computed once, in [`Plan::of`];
//! its WASI terms are in `wasi`.

use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::Error;
use crate::lookup::LookupTable;

mod allow;
mod name;
mod plan;
mod wasi;

pub(crate) use plan::{Build, Plan};

pub use allow::{Allow, ParseAllowError};
pub(crate) use name::key as name_key;

/// A rule's `PORT[-PORT]`, as address and name rules both write it: ports of 1 to 65535, a
/// range in either order (`None` for anything else).
fn parse_ports(text: &str) -> Option<(u16, u16)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0);
    match text.split_once('-') {
        Some((first, last)) => Some((port(first)?, port(last)?)),
        None => port(text).map(|p| (p, p)),
    }
}
pub use name::{AllowName, ParseAllowNameError};

/// How much memory one instance of the component may use unless told otherwise: ample for
/// thousands of sockets and for multi-megabyte reads, and small enough that a misbehaving
/// guest cannot take the host's memory with it.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

/// How many TCP and UDP sockets (listeners and accepted connections included) one store may
/// hold at once unless told otherwise: the thousand connections one instance is promised, with
/// room to spare. Each is a descriptor of the host process and up to 64 KiB of pending writes
/// in the host, so this bounds both; past it a new socket is `new-socket-limit` (the
/// component's `limit-exceeded`).
pub const DEFAULT_MAX_SOCKETS: usize = 1_024;

/// How many host objects one store may hold at once unless told otherwise: every socket,
/// stream, pollable, lookup, file and TLS handshake or connection is one. A connection of the
/// component holds five (socket, two streams, two pollables), so this is three times what
/// [`DEFAULT_MAX_SOCKETS`] connections need; it bounds what a guest can make the host keep
/// that the socket limit does not (pollables, lookups, handshakes). Past it, the call that
/// would make one more traps: only a guest that leaks handles gets there.
pub const DEFAULT_MAX_HANDLES: usize = 16_384;

/// What the component may do on the network, and how much memory it may use.
/// [`Policy::default`] denies all network use and allows [`DEFAULT_MEMORY_LIMIT`].
#[derive(Debug, Clone)]
pub struct Policy {
    allowed: Vec<Allow>,
    names: Vec<AllowName>,
    listen: Vec<Allow>,
    lookups: bool,
    reverse: bool,
    resolver: Option<SocketAddrV4>,
    etc: Option<PathBuf>,
    host_name: HostName,
    memory_limit: usize,
    call_deadline: Option<Duration>,
    lookup_table: Option<LookupTable>,
    tls: bool,
    tls_roots: Vec<CertificateDer<'static>>,
    max_sockets: usize,
    max_handles: usize,
}

/// Whether one of `rules` allows `address`, compared as what it reaches (an IPv4-mapped
/// address is its IPv4 address: [`alore_socket_rules::canonical`]).
fn any_allows(rules: &[Allow], address: SocketAddr) -> bool {
    rules
        .iter()
        .any(|rule| rule.allows(address.ip(), address.port()))
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed: Vec::new(),
            names: Vec::new(),
            listen: Vec::new(),
            lookups: false,
            reverse: false,
            resolver: None,
            etc: None,
            host_name: HostName::default(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            call_deadline: None,
            lookup_table: None,
            tls: false,
            tls_roots: Vec::new(),
            max_sockets: DEFAULT_MAX_SOCKETS,
            max_handles: DEFAULT_MAX_HANDLES,
        }
    }
}

/// What `$HOSTNAME` the component is given when reverse lookups are on.
#[derive(Debug, Clone, Default)]
enum HostName {
    #[default]
    Real,
    Given(String),
    Unset,
}

impl Policy {
    /// No connections, no name lookups.
    pub fn deny_all() -> Self {
        Policy::default()
    }

    /// Also allow TCP connections matching `rule`.
    pub fn allow(mut self, rule: Allow) -> Self {
        self.allowed.push(rule);
        self
    }

    /// Also allow the services `rule` names (egress by name): looking a covered name up, and
    /// connecting, on the rule's ports, to the addresses that lookup answered in the same
    /// store ([`crate::PIN_LIFETIME`]). An address no lookup answered stays denied, whatever
    /// an allowed name would resolve to; a TLS connection reached this way must verify the
    /// name it was allowed for. In a composition the application's lookups and connects go
    /// by the same rules.
    pub fn allow_name(mut self, rule: AllowName) -> Self {
        self.names.push(rule);
        self
    }

    /// Whether looking `name` up is allowed: every lookup is ([`Policy::allow_lookup`]), or a
    /// name rule covers it.
    pub fn allows_lookup_of(&self, name: &str) -> bool {
        self.lookups || self.names.iter().any(|rule| rule.covers(name))
    }

    /// Also allow listening on the addresses and ports of `rule` (a server socket on port 0
    /// may bind any port of the rule's addresses, and then must have landed in its ports).
    /// Accepted connections are checked like outgoing ones: their peer must be allowed.
    pub fn allow_listen(mut self, rule: Allow) -> Self {
        self.listen.push(rule);
        self
    }

    /// Whether listening on `address` is allowed.
    pub fn allows_listen(&self, address: SocketAddr) -> bool {
        any_allows(&self.listen, address)
    }

    /// Whether an explicit bind of `address` is allowed: a listener's, port 0 meaning "any".
    fn allows_bind(&self, address: SocketAddr) -> bool {
        if address.port() == 0 {
            return self.listen.iter().any(|rule| rule.contains(address.ip()));
        }
        self.allows_listen(address)
    }

    /// Allow or forbid name lookups through the host's resolver.
    pub fn allow_lookup(mut self, allowed: bool) -> Self {
        self.lookups = allowed;
        self
    }

    /// Whether a TCP connection to `address` is allowed.
    pub fn allows_connect(&self, address: SocketAddr) -> bool {
        any_allows(&self.allowed, address)
    }

    /// Whether name lookups are allowed.
    pub fn allows_lookup(&self) -> bool {
        self.lookups
    }

    /// Answer the component's name lookups (when [`Policy::allow_lookup`] allows them) from
    /// `table` alone, never from this machine's resolver: a name the table lacks is unknown
    /// (`name-error`). For sandboxes that must send no DNS query, and for tests that must
    /// control every answer. In a composition the application's lookups get the same table.
    pub fn lookup_table(mut self, table: LookupTable) -> Self {
        self.lookup_table = Some(table);
        self
    }

    /// Allow TLS (`start-tls`): instances then run the component's TLS build, and the store
    /// gets `wasi:tls`, verifying servers against Mozilla's roots and those of
    /// [`Policy::tls_root_pem`]. In a composition the application can then make TLS
    /// connections of its own, over the connections the policy allows. Denied by default:
    /// the standard build runs, and its `start-tls` says TLS is not allowed.
    pub fn allow_tls(mut self, allowed: bool) -> Self {
        self.tls = allowed;
        self
    }

    /// Whether TLS is allowed (and the TLS build runs).
    pub fn allows_tls(&self) -> bool {
        self.tls
    }

    /// Also trust the certificates in `pem` (a private CA, a test's) as roots for TLS.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] naming `what` (e.g. the file it came from) when `pem` holds no
    /// certificate or a malformed one.
    pub fn tls_root_pem(mut self, pem: &[u8], what: &str) -> Result<Self, Error> {
        let roots = crate::tls::parse_roots(pem)
            .map_err(|e| Error::InvalidPolicy(format!("{what}: {e}")))?;
        self.tls_roots.extend(roots);
        Ok(self)
    }

    /// Allow reverse lookups and `get-host-name`: the component gets a read-only `/etc`
    /// holding only copies of `hosts`, `resolv.conf` and `hostname`, `$HOSTNAME`, and UDP
    /// (and TCP, for truncated answers) to the resolvers on port 53 and nothing else.
    pub fn allow_reverse_lookup(mut self, allowed: bool) -> Self {
        self.reverse = allowed;
        self
    }

    /// Send reverse lookups to this resolver instead of `resolv.conf`'s `nameserver`s; it is
    /// then the only resolver allowed.
    pub fn resolver(mut self, resolver: SocketAddrV4) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Copy the `/etc` files from `dir` instead of the host's `/etc` (tests, sandboxes).
    pub fn etc_from(mut self, dir: impl Into<PathBuf>) -> Self {
        self.etc = Some(dir.into());
        self
    }

    /// The `$HOSTNAME` to give: `None` gives none. Default: this machine's host name.
    pub fn host_name(mut self, name: Option<&str>) -> Self {
        self.host_name = name.map_or(HostName::Unset, |n| HostName::Given(n.to_owned()));
        self
    }

    /// The most linear memory the instance may have, in bytes. Past it, the component's
    /// allocations fail (reads then fail with `limit-exceeded`); the host is never at risk.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// The most TCP and UDP sockets the store may hold at once (listeners and accepted
    /// connections included). Past it, creating or accepting one fails with WASI's
    /// `new-socket-limit`, which the component reports as `limit-exceeded`; the host keeps
    /// nothing of the attempt. Default: [`DEFAULT_MAX_SOCKETS`].
    pub fn max_sockets(mut self, sockets: usize) -> Self {
        self.max_sockets = sockets;
        self
    }

    /// The most host objects (sockets, streams, pollables, lookups, files, TLS handshakes
    /// and connections) the store may hold at once. Past it, the call that would make one more
    /// traps, and the instance cannot be used again. Default: [`DEFAULT_MAX_HANDLES`].
    pub fn max_handles(mut self, handles: usize) -> Self {
        self.max_handles = handles;
        self
    }

    /// Stop any call into the component (and a whole `run_command`) that runs longer than
    /// this, whether the guest computes or waits for the network: it fails with
    /// [`crate::Error::Deadline`] and the instance is unusable after. `None` (the default):
    /// no deadline; `set-timeout` then still bounds each wait for the network.
    pub fn call_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.call_deadline = deadline;
        self
    }

    /// Whether reverse lookups and `get-host-name` are allowed.
    pub fn allows_reverse_lookup(&self) -> bool {
        self.reverse
    }

    /// Where the `/etc` files are copied from.
    fn etc_source(&self) -> &Path {
        self.etc.as_deref().unwrap_or(Path::new("/etc"))
    }

    fn resolver_override(&self) -> Option<SocketAddrV4> {
        self.resolver
    }

    /// The `$HOSTNAME` to give, if any.
    fn host_name_value(&self) -> Option<String> {
        match &self.host_name {
            HostName::Real => Some(gethostname::gethostname().to_string_lossy().into_owned()),
            HostName::Given(name) => Some(name.clone()),
            HostName::Unset => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn denies_by_default() {
        let policy = Policy::deny_all();
        assert!(!policy.allows_connect(addr("127.0.0.1:80")));
        assert!(!policy.allows_lookup());
        let policy = policy.allow(Allow::host(Ipv4Addr::LOCALHOST).port(80));
        assert!(policy.allows_connect(addr("127.0.0.1:80")));
        assert!(!policy.allows_connect(addr("127.0.0.1:81")));
        assert!(!policy.allows_connect(addr("[::1]:80")));
        assert!(
            !policy.allows_listen(addr("127.0.0.1:80")),
            "connecting is not listening"
        );
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let policy = Policy::deny_all();
        assert_eq!(policy.memory_limit, 256 * 1024 * 1024);
        assert_eq!(policy.max_sockets, DEFAULT_MAX_SOCKETS);
        assert_eq!(policy.max_handles, DEFAULT_MAX_HANDLES);
        assert_eq!(policy.call_deadline, None);
        assert!(!policy.allows_lookup() && !policy.allows_tls() && !policy.allows_reverse_lookup());
        assert!(policy.lookup_table.is_none() && policy.tls_roots.is_empty());
        assert_eq!(policy.etc_source(), Path::new("/etc"));
        assert_eq!(policy.resolver_override(), None);
        let real = gethostname::gethostname().to_string_lossy().into_owned();
        assert_eq!(policy.host_name_value(), Some(real), "this machine's name");
    }

    #[test]
    fn each_setting_is_read_back_as_it_was_set() {
        let table: LookupTable = [("a.test", "127.0.0.2".parse().unwrap())]
            .into_iter()
            .collect();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        let pem = ca.cert.pem();
        let resolver: SocketAddrV4 = "10.0.0.53:5353".parse().unwrap();
        let policy = Policy::deny_all()
            .allow_lookup(true)
            .lookup_table(table.clone())
            .allow_tls(true)
            .tls_root_pem(pem.as_bytes(), "the test")
            .unwrap()
            .tls_root_pem(pem.as_bytes(), "the test")
            .unwrap()
            .allow_reverse_lookup(true)
            .resolver(resolver)
            .etc_from("/somewhere")
            .host_name(Some("given"))
            .memory_limit(5)
            .max_sockets(7)
            .max_handles(9)
            .call_deadline(Some(Duration::from_millis(11)));
        assert!(policy.allows_lookup() && policy.allows_tls() && policy.allows_reverse_lookup());
        let kept = policy.lookup_table.as_ref().expect("the table is kept");
        assert_eq!(kept.get("a.test"), table.get("a.test"));
        assert_eq!(policy.tls_roots.len(), 2, "roots add up");
        assert_eq!(policy.resolver_override(), Some(resolver));
        assert_eq!(policy.etc_source(), Path::new("/somewhere"));
        assert_eq!(policy.host_name_value().as_deref(), Some("given"));
        assert_eq!(policy.memory_limit, 5);
        assert_eq!(policy.max_sockets, 7);
        assert_eq!(policy.max_handles, 9);
        assert_eq!(policy.call_deadline, Some(Duration::from_millis(11)));
        assert_eq!(policy.clone().host_name(None).host_name_value(), None);
        let off = policy
            .allow_lookup(false)
            .allow_tls(false)
            .allow_reverse_lookup(false);
        assert!(!off.allows_lookup() && !off.allows_tls() && !off.allows_reverse_lookup());
        let error = Policy::deny_all()
            .tls_root_pem(b"junk", "junk.pem")
            .unwrap_err();
        assert!(error.to_string().contains("junk.pem"), "{error}");
    }

    #[test]
    fn listen_rules_cover_binds_and_listens() {
        let policy = Policy::deny_all().allow_listen("127.0.0.1:5000-5009".parse().unwrap());
        assert!(policy.allows_bind(addr("127.0.0.1:5000")));
        assert!(
            policy.allows_bind(addr("127.0.0.1:0")),
            "port 0: the listen check decides"
        );
        assert!(
            !policy.allows_bind(addr("0.0.0.0:5000")),
            "not every interface"
        );
        assert!(!policy.allows_bind(addr("127.0.0.2:0")));
        assert!(policy.allows_listen(addr("127.0.0.1:5009")));
        assert!(!policy.allows_listen(addr("127.0.0.1:5010")));
        assert!(
            !policy.allows_connect(addr("127.0.0.1:5000")),
            "listening is not connecting"
        );
    }
}
