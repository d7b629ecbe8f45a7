//! The rules the component and its host must read alike, in one place: what a host name
//! and a dotted-decimal address look like, how `resolv.conf` and `IP[:PORT]` are read, and
//! the names of the files and environment variables the host hands the component. Pure Rust
//! with no dependencies, so the guest (`wasm32-wasip2`) and the host (native) build the same
//! code. Where the two disagreed, a resolver the component used was one the host's policy
//! did not allow.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::Duration;

/// The environment variable naming the resolver (`IP[:PORT]`) for reverse lookups, used
/// instead of `resolv.conf`'s `nameserver`s.
pub const RESOLVER_ENV: &str = "ALORE_SOCKET_RESOLVER";
/// The environment variable holding the host's name, as the host chooses to tell it.
pub const HOSTNAME_ENV: &str = "HOSTNAME";
/// The environment variable by which a host that runs the standard build because its policy
/// denies TLS says so: set to [`TLS_DENIED`], `start-tls` says "not allowed by the host's
/// policy" rather than "not available in this build".
pub const TLS_ENV: &str = "ALORE_SOCKET_TLS";
/// The value of [`TLS_ENV`] for a policy that denies TLS.
pub const TLS_DENIED: &str = "denied";

/// Where the component finds the copies of the host's files, as a POSIX resolver does: the
/// host gives it a read-only `/etc` holding only [`ETC_FILES`].
pub const ETC_DIR: &str = "/etc";
/// The hosts file, in [`ETC_DIR`]: reverse lookup's first answer.
pub const HOSTS_FILE: &str = "hosts";
/// The resolver configuration, in [`ETC_DIR`]: the nameservers and their options.
pub const RESOLV_CONF_FILE: &str = "resolv.conf";
/// The host's name, in [`ETC_DIR`], when `$HOSTNAME` is not given.
pub const HOSTNAME_FILE: &str = "hostname";
/// The files of `/etc` reverse lookup and `get-host-name` read, and all the host copies.
pub const ETC_FILES: [&str; 3] = [HOSTS_FILE, RESOLV_CONF_FILE, HOSTNAME_FILE];

/// Where the component reads `file` (one of [`ETC_FILES`]).
pub fn etc_path(file: &str) -> String {
    format!("{ETC_DIR}/{file}")
}

/// `text` on one line: every run of white space (newlines too) becomes one space, and other
/// control characters are dropped, so that no message can break a log line or drive a
/// terminal. Both sides fold their messages with it.
pub fn one_line(text: &str) -> String {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    words.chars().filter(|c| !c.is_control()).collect()
}

/// The longest message taken from a host's error text: a line a person reads. The texts worth
/// keeping (an `io::Error`, a rustls alert) are well under it; a host that prints a whole
/// chain or a dump must not make one error a screenful.
pub const MAX_HOST_TEXT: usize = 240;

/// What a host's error text says, as one line of at most [`MAX_HOST_TEXT`] bytes: cut
/// before a backtrace (wasmtime's CLI captures one in every error it prints with `{:?}`,
/// "Stack backtrace: 0: …", about 1,500 characters), folded by [`one_line`], and shortened at
/// a character boundary with "…" when still too long.
pub fn host_text(text: &str) -> String {
    let said = text.split("Stack backtrace:").next().unwrap_or_default();
    let mut line = one_line(said);
    if line.len() > MAX_HOST_TEXT {
        let mut end = MAX_HOST_TEXT - '…'.len_utf8();
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

/// The DNS port: `nameserver` lines cannot name another.
pub const DNS_PORT: u16 = 53;
/// glibc's `MAXNS`: only the first three `nameserver`s count, so that a long list cannot
/// multiply a lookup's worst-case time.
pub const MAX_NAMESERVERS: usize = 3;
/// How long one try waits for an answer when `resolv.conf` does not say (`timeout:`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How many rounds over the servers when `resolv.conf` does not say (`attempts:`).
pub const DEFAULT_ATTEMPTS: u32 = 2;
/// glibc's caps on `timeout:` and `attempts:` (resolv.conf(5)), so that no configuration can
/// make a lookup wait for hours.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);
/// See [`MAX_TIMEOUT`].
pub const MAX_ATTEMPTS: u32 = 5;

/// The longest host name DNS can carry in text form (RFC 1035: 255 octets on the wire).
pub const MAX_NAME_LENGTH: usize = 253;
/// The longest label of a host name (RFC 1035 §2.3.4).
pub const MAX_LABEL_LENGTH: usize = 63;

/// What reverse lookup takes from `resolv.conf`: the first [`MAX_NAMESERVERS`] IPv4
/// `nameserver`s, and `options timeout:N attempts:N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<SocketAddrV4>,
    pub timeout: Duration,
    pub attempts: u32,
}

impl Default for ResolvConf {
    fn default() -> Self {
        ResolvConf {
            nameservers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
        }
    }
}

impl ResolvConf {
    /// Read `resolv.conf` as glibc does: `#` or `;` starts a comment anywhere on a line (so
    /// `nameserver 127.0.0.1;x` names 127.0.0.1); unknown lines and options are ignored;
    /// IPv6 servers are skipped, since the component speaks IPv4 only.
    pub fn parse(text: &str) -> Self {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let mut words = line
                .split(['#', ';'])
                .next()
                .unwrap_or_default()
                .split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    let ip = words.next().and_then(|w| w.parse::<Ipv4Addr>().ok());
                    if let Some(ip) = ip
                        && conf.nameservers.len() < MAX_NAMESERVERS
                    {
                        conf.nameservers.push(SocketAddrV4::new(ip, DNS_PORT));
                    }
                }
                Some("options") => {
                    for option in words {
                        let number = |prefix| option.strip_prefix(prefix)?.parse::<u32>().ok();
                        if let Some(seconds) = number("timeout:") {
                            conf.timeout = Duration::from_secs(seconds.into())
                                .clamp(Duration::from_secs(1), MAX_TIMEOUT);
                        }
                        if let Some(attempts) = number("attempts:") {
                            conf.attempts = attempts.clamp(1, MAX_ATTEMPTS);
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }
}

/// `IP[:PORT]`, as [`RESOLVER_ENV`] and the CLI's `--resolver` name a resolver: a strict
/// dotted-decimal IPv4 address and a port of 1..=65535, [`DNS_PORT`] when left out.
pub fn parse_resolver(text: &str) -> Result<SocketAddrV4, String> {
    let bad = |why: &str| format!("{text:?} is not IP[:PORT]: {why}");
    let (ip, port) = match text.split_once(':') {
        Some((ip, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| bad("the port is not a number of 1 to 65535"))?;
            if port == 0 {
                return Err(bad("port 0 is no port to send to"));
            }
            (ip, port)
        }
        None => (text, DNS_PORT),
    };
    let ip = parse_ipv4(ip).ok_or_else(|| bad("the address is not dotted-decimal IPv4"))?;
    Ok(SocketAddrV4::new(ip, port))
}

/// A strict dotted-decimal IPv4 address, as `inet_pton(AF_INET)` takes it: four decimal
/// parts of 0..=255 with no leading zeros. ("127.1" is not one.)
pub fn parse_ipv4(text: &str) -> Option<Ipv4Addr> {
    text.parse().ok()
}

/// Why a text that looks like an address is not one the component takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// An IPv6 literal with a zone index (`fe80::1%eth0`): a zone names an interface of one
    /// machine, which a sandboxed component has no business choosing.
    Zone,
    /// Not an address at all: a host name, perhaps.
    NotAnAddress,
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressError::Zone => "IPv6 zone indices (the %… after an address) are not supported",
            AddressError::NotAnAddress => "not a dotted-decimal IPv4 or an IPv6 address",
        })
    }
}

/// An address literal, as the component and the host read it everywhere (a destination, a
/// server socket's address, a reverse lookup, a policy rule): strict dotted-decimal IPv4
/// ([`parse_ipv4`]), or IPv6 as `inet_pton(AF_INET6)` takes it, without brackets. An
/// IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is the IPv4 address it maps ([`canonical`]).
pub fn parse_ip(text: &str) -> Result<IpAddr, AddressError> {
    if let Some(v4) = parse_ipv4(text) {
        return Ok(IpAddr::V4(v4));
    }
    if text.contains('%') && text.contains(':') {
        return Err(AddressError::Zone);
    }
    match text.parse::<Ipv6Addr>() {
        Ok(v6) => Ok(canonical(IpAddr::V6(v6))),
        Err(_) => Err(AddressError::NotAnAddress),
    }
}

/// The address as what it reaches: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, which a
/// dual-stack socket sends to the IPv4 host) is that IPv4 address; every other address is
/// itself. The deprecated IPv4-compatible form (`::a.b.c.d`) is IPv6: no kernel sends it to
/// the IPv4 host. Policies and the component compare addresses only in this form, so a grant
/// for one family never admits the other.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Check a destination or name before any traffic: not empty, at most [`MAX_NAME_LENGTH`]
/// bytes, no space or control character, no empty label (one trailing dot is allowed: it
/// only says the name is fully qualified), no label over [`MAX_LABEL_LENGTH`] bytes. The
/// error says which, without echoing the name.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("Empty host name");
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err("Host name longer than 253 bytes");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("Host name contains a space, NUL or control character");
    }
    let labels = name.strip_suffix('.').unwrap_or(name);
    if labels.split('.').any(str::is_empty) {
        return Err("Host name has an empty label");
    }
    if labels.split('.').any(|l| l.len() > MAX_LABEL_LENGTH) {
        return Err("Host name has a label longer than 63 bytes");
    }
    Ok(())
}

/// Whether `name` is a host name a resolver may hand back, as `getnameinfo` accepts one:
/// [`check_name`]'s rules, and only ASCII letters, digits, `-`, `_` and dots. What a DNS
/// server answers ends up in logs and on terminals: anything else could inject into them.
pub fn check_answered_name(name: &str) -> Result<(), &'static str> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("the name holds a byte that is not a letter, digit, '-', '_' or '.'");
    }
    check_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_literals_of_both_families_and_mapped_ones_as_ipv4() {
        let ip = |text: &str| parse_ip(text).unwrap().to_string();
        assert_eq!(ip("127.0.0.1"), "127.0.0.1");
        assert_eq!(ip("::1"), "::1");
        assert_eq!(ip("2001:DB8:0:0:0:0:0:5"), "2001:db8::5", "RFC 5952 text");
        assert_eq!(ip("::ffff:127.0.0.1"), "127.0.0.1", "mapped: the IPv4 host");
        assert_eq!(ip("::ffff:7f00:1"), "127.0.0.1", "mapped, in hex");
        assert_eq!(ip("::127.0.0.1"), "::7f00:1", "compatible: IPv6");
        assert_eq!(parse_ip("fe80::1%eth0"), Err(AddressError::Zone));
        assert_eq!(parse_ip("fe80::1%25"), Err(AddressError::Zone));
        for not in [
            "",
            "localhost",
            "127.1",
            "[::1]",
            "::1:",
            "1.2.3.4.5",
            "::g",
            "01.2.3.4",
        ] {
            assert_eq!(parse_ip(not), Err(AddressError::NotAnAddress), "{not:?}");
        }
        for (e, says) in [
            (AddressError::Zone, "zone"),
            (AddressError::NotAnAddress, "IPv6"),
        ] {
            let text = e.to_string();
            assert!(text.contains(says) && !text.contains('\n'), "{text}");
        }
    }

    #[test]
    fn host_text_drops_the_backtrace_and_bounds_the_length() {
        let cli = "invalid peer certificate: UnknownIssuer\n\nStack backtrace:\n   0: \
                   wasmtime_internal_core::error::backtrace::capture\n   1: clone3 at x.c:1";
        assert_eq!(host_text(cli), "invalid peer certificate: UnknownIssuer");
        assert_eq!(host_text("a\n  b\tc"), "a b c");
        let long = "é".repeat(200);
        let cut = host_text(&long);
        assert!(cut.len() <= MAX_HOST_TEXT, "{}", cut.len());
        assert!(cut.ends_with('…') && cut.starts_with("éé"));
        let exact = "x".repeat(MAX_HOST_TEXT);
        assert_eq!(host_text(&exact), exact, "at the limit nothing is cut");
        let over = "x".repeat(MAX_HOST_TEXT + 1);
        assert_eq!(host_text(&over).len(), MAX_HOST_TEXT);
    }

    fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port)
    }

    #[test]
    fn resolv_conf_servers_options_and_comments() {
        let conf = ResolvConf::parse(
            "; comment\nnameserver 10.1.1.1\nnameserver ::1\nnameserver 10.2.2.2 # x\n\
             options ndots:2 timeout:3 attempts:4\n",
        );
        assert_eq!(conf.nameservers, [v4(10, 1, 1, 1, 53), v4(10, 2, 2, 2, 53)]);
        assert_eq!((conf.timeout, conf.attempts), (Duration::from_secs(3), 4));
        let capped = ResolvConf::parse("options timeout:0 attempts:99\noptions timeout:1000");
        assert_eq!(
            (capped.timeout, capped.attempts),
            (MAX_TIMEOUT, MAX_ATTEMPTS)
        );
        assert_eq!(ResolvConf::parse(""), ResolvConf::default());
    }

    #[test]
    fn a_comment_sign_ends_the_address_as_in_glibc() {
        for line in [
            "nameserver 127.0.0.1;x",
            "nameserver 127.0.0.1#x",
            "nameserver 127.0.0.1 ;",
        ] {
            assert_eq!(
                ResolvConf::parse(line).nameservers,
                [v4(127, 0, 0, 1, 53)],
                "{line:?}"
            );
        }
        assert!(
            ResolvConf::parse("#nameserver 127.0.0.1")
                .nameservers
                .is_empty()
        );
        assert!(
            ResolvConf::parse("nameserver 127.0.0.1x")
                .nameservers
                .is_empty()
        );
    }

    #[test]
    fn only_the_first_three_nameservers_count() {
        let text: String = (1..=5)
            .map(|i| format!("nameserver 10.0.0.{i}\n"))
            .collect();
        let conf = ResolvConf::parse(&text);
        assert_eq!(
            conf.nameservers,
            [
                v4(10, 0, 0, 1, 53),
                v4(10, 0, 0, 2, 53),
                v4(10, 0, 0, 3, 53)
            ]
        );
        assert_eq!(MAX_NAMESERVERS, 3);
    }

    #[test]
    fn messages_fold_to_one_line() {
        assert_eq!(
            one_line("invalid.\n\n POSIX equivalent:\tEINVAL\x1b"),
            "invalid. POSIX equivalent: EINVAL"
        );
        assert_eq!(etc_path(HOSTS_FILE), "/etc/hosts");
    }

    #[test]
    fn resolver_addresses() {
        assert_eq!(parse_resolver("127.0.0.1"), Ok(v4(127, 0, 0, 1, 53)));
        assert_eq!(parse_resolver("127.0.0.1:5353"), Ok(v4(127, 0, 0, 1, 5353)));
        for bad in [
            "",
            "localhost",
            "127.0.0.1:",
            "127.0.0.1:0",
            "127.0.0.1:x",
            "::1",
            "127.1:53",
        ] {
            let error = parse_resolver(bad).unwrap_err();
            assert!(error.contains("is not IP[:PORT]"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn dotted_decimal_is_strict() {
        assert_eq!(parse_ipv4("127.0.0.1"), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(parse_ipv4("255.255.255.255"), Some(Ipv4Addr::BROADCAST));
        for bad in [
            "127.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.256",
            "::1",
            "localhost",
            " 1.2.3.4",
            "1.2.3.4 ",
            "",
            "1..2.3",
            "+1.2.3.4",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_are_checked_before_traffic() {
        assert!(check_name("example.com").is_ok());
        assert!(check_name("example.com.").is_ok(), "fully qualified");
        let longest = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert!(check_name(&longest).is_ok());
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a.b..",
            "a b",
            "a\0b",
            "a\tb",
            "a\nb",
            &"x".repeat(64),
            &format!("{}.com", "x".repeat(64)),
            &"a".repeat(254),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn answered_names_are_plain_host_names() {
        for good in ["host.example", "a-b_c.d9", "localhost", "x."] {
            assert!(check_answered_name(good).is_ok(), "{good:?}");
        }
        for bad in [
            "line1\nline2",
            "red\x1b[31m",
            "nul\0",
            "a b",
            "ünï.code",
            "a/b",
            "a..b",
            "",
            &"x".repeat(64),
        ] {
            assert!(check_answered_name(bad).is_err(), "{bad:?}");
        }
    }
}
