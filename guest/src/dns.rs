//! The pure parts of reverse lookup: the hosts file, `resolv.conf`, and DNS PTR messages
//! (encoded and decoded by `simple-dns`). No WASI here; `names` does the I/O.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, Question, RCODE, TYPE};

use crate::error::Error;

/// The DNS port, for `nameserver` lines (which cannot name another).
pub const DNS_PORT: u16 = 53;
/// How long one try waits for an answer when `resolv.conf` does not say (`timeout:`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How many rounds over the servers when `resolv.conf` does not say (`attempts:`).
pub const DEFAULT_ATTEMPTS: u32 = 2;
/// glibc's caps on `timeout:` and `attempts:` (resolv.conf(5)), so that no configuration can
/// make a lookup wait for hours.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_ATTEMPTS: u32 = 5;

/// The first name the hosts file gives `address`: the first line whose address matches.
pub fn name_in_hosts(hosts: &str, address: Ipv4Addr) -> Option<String> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let matches = fields.next()?.parse::<Ipv4Addr>().ok()? == address;
        matches.then(|| fields.next().map(str::to_owned)).flatten()
    })
}

/// What reverse lookup takes from `resolv.conf`: IPv4 `nameserver`s and `options timeout:N
/// attempts:N`.
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
                    // IPv6 servers are skipped: this component speaks IPv4 only.
                    if let Some(ip) = words.next().and_then(|w| w.parse::<Ipv4Addr>().ok()) {
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

/// `IP[:PORT]`, as `ALORE_SOCKET_RESOLVER` names a resolver.
pub fn parse_resolver(text: &str) -> Option<SocketAddrV4> {
    match text.split_once(':') {
        Some((ip, port)) => Some(SocketAddrV4::new(
            ip.parse().ok()?,
            port.parse().ok().filter(|&p| p != 0)?,
        )),
        None => Some(SocketAddrV4::new(text.parse().ok()?, DNS_PORT)),
    }
}

/// The name a PTR query asks about: `d.c.b.a.in-addr.arpa` for `a.b.c.d`.
pub fn ptr_name(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// A recursive PTR query for `name`.
pub fn ptr_query(id: u16, name: &str) -> Result<Vec<u8>, Error> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    let qname =
        Name::new(name).map_err(|e| Error::Value(format!("Cannot ask DNS about {name}: {e}")))?;
    packet.questions.push(Question::new(
        qname,
        TYPE::PTR.into(),
        CLASS::IN.into(),
        false,
    ));
    packet
        .build_bytes_vec()
        .map_err(|e| Error::Value(format!("Cannot encode a DNS query for {name}: {e}")))
}

/// Whether `message` answers our query: a response with our ID and exactly our question.
/// Anything else on the socket (late answers to an earlier try, forgeries) is ignored.
pub fn answers(message: &[u8], id: u16, name: &str) -> bool {
    let Ok(packet) = Packet::parse(message) else {
        return false;
    };
    packet.has_flags(PacketFlag::RESPONSE)
        && packet.id() == id
        && matches!(packet.questions.as_slice(), [q] if q.qtype == TYPE::PTR.into()
            && q.qclass == CLASS::IN.into()
            && q.qname.to_string().eq_ignore_ascii_case(name))
}

/// What a reply to a PTR query says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The first PTR record's name, without the root's trailing dot.
    Name(String),
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// The name exists but has no PTR record.
    NoRecord,
    /// The answer did not fit a datagram: ask again over TCP.
    Truncated,
    /// The server could not answer (SERVFAIL, REFUSED, …): try another.
    Failed(String),
}

/// Read a reply that [`answers`] accepted.
pub fn read_reply(message: &[u8]) -> Reply {
    let Ok(packet) = Packet::parse(message) else {
        return Reply::Failed("unreadable reply".into());
    };
    if packet.has_flags(PacketFlag::TRUNCATION) {
        return Reply::Truncated;
    }
    match packet.rcode() {
        RCODE::NoError => packet
            .answers
            .iter()
            .find_map(|record| match &record.rdata {
                RData::PTR(ptr) => Some(Reply::Name(
                    ptr.0.to_string().trim_end_matches('.').to_owned(),
                )),
                _ => None,
            })
            .unwrap_or(Reply::NoRecord),
        RCODE::NameError => Reply::NoSuchName,
        other => Reply::Failed(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::ResourceRecord;
    use simple_dns::rdata::PTR;

    #[test]
    fn hosts_file_first_matching_line_first_name() {
        let hosts = "# comment\n127.0.0.1\tlocalhost loopback\n10.0.0.1 ten # trailing\n10.0.0.1 other\n::1 ip6\n";
        assert_eq!(
            name_in_hosts(hosts, Ipv4Addr::LOCALHOST).as_deref(),
            Some("localhost")
        );
        assert_eq!(
            name_in_hosts(hosts, Ipv4Addr::new(10, 0, 0, 1)).as_deref(),
            Some("ten")
        );
        assert_eq!(name_in_hosts(hosts, Ipv4Addr::new(10, 0, 0, 2)), None);
        assert_eq!(
            name_in_hosts("10.0.0.2\n", Ipv4Addr::new(10, 0, 0, 2)),
            None,
            "no name"
        );
    }

    #[test]
    fn resolv_conf_servers_and_options() {
        let conf = ResolvConf::parse(
            "; comment\nnameserver 10.1.1.1\nnameserver ::1\nnameserver 10.2.2.2 # x\noptions ndots:2 timeout:3 attempts:4\n",
        );
        assert_eq!(
            conf.nameservers,
            [
                SocketAddrV4::new(Ipv4Addr::new(10, 1, 1, 1), 53),
                SocketAddrV4::new(Ipv4Addr::new(10, 2, 2, 2), 53)
            ]
        );
        assert_eq!((conf.timeout, conf.attempts), (Duration::from_secs(3), 4));
        let capped = ResolvConf::parse("options timeout:0 attempts:99\noptions timeout:1000");
        assert_eq!(
            (capped.timeout, capped.attempts),
            (MAX_TIMEOUT, MAX_ATTEMPTS)
        );
        assert_eq!(ResolvConf::parse(""), ResolvConf::default());
    }

    #[test]
    fn resolver_addresses() {
        assert_eq!(
            parse_resolver("127.0.0.1"),
            Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 53))
        );
        assert_eq!(
            parse_resolver("127.0.0.1:5353"),
            Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5353))
        );
        for bad in [
            "",
            "localhost",
            "127.0.0.1:",
            "127.0.0.1:0",
            "127.0.0.1:x",
            "::1",
        ] {
            assert_eq!(parse_resolver(bad), None, "{bad:?}");
        }
    }

    fn reply(id: u16, question: &str, rcode: RCODE, ptr: Option<&str>, truncated: bool) -> Vec<u8> {
        let mut packet = Packet::new_reply(id);
        *packet.rcode_mut() = rcode;
        if truncated {
            packet.set_flags(PacketFlag::TRUNCATION);
        }
        let qname = Name::new(question).unwrap();
        packet.questions.push(Question::new(
            qname.clone(),
            TYPE::PTR.into(),
            CLASS::IN.into(),
            false,
        ));
        if let Some(target) = ptr {
            let rdata = RData::PTR(PTR(Name::new(target).unwrap()));
            packet
                .answers
                .push(ResourceRecord::new(qname, CLASS::IN, 60, rdata));
        }
        packet.build_bytes_vec().unwrap()
    }

    #[test]
    fn queries_and_replies() {
        let name = ptr_name(Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(name, "4.3.2.1.in-addr.arpa");
        let query = ptr_query(7, &name).unwrap();
        assert!(!answers(&query, 7, &name), "a query is not an answer");

        let good = reply(7, &name, RCODE::NoError, Some("host.example."), false);
        assert!(answers(&good, 7, &name));
        assert!(!answers(&good, 8, &name), "wrong ID");
        assert!(!answers(&good, 7, "5.3.2.1.in-addr.arpa"), "wrong question");
        assert!(!answers(b"junk", 7, &name));
        assert_eq!(read_reply(&good), Reply::Name("host.example".into()));
        assert!(answers(
            &reply(7, &name.to_uppercase(), RCODE::NoError, None, false),
            7,
            &name
        ));

        assert_eq!(
            read_reply(&reply(7, &name, RCODE::NameError, None, false)),
            Reply::NoSuchName
        );
        assert_eq!(
            read_reply(&reply(7, &name, RCODE::NoError, None, false)),
            Reply::NoRecord
        );
        assert_eq!(
            read_reply(&reply(7, &name, RCODE::NoError, None, true)),
            Reply::Truncated
        );
        assert!(matches!(
            read_reply(&reply(7, &name, RCODE::ServerFailure, None, false)),
            Reply::Failed(_)
        ));
    }
}
