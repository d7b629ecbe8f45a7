//! The pure parts of reverse lookup: the hosts file, `resolv.conf`, and DNS PTR messages
//! (encoded and decoded by `simple-dns`). No WASI here; `names` does the I/O.

use std::fmt::Write as _;
use std::net::IpAddr;
#[cfg(test)]
use std::net::Ipv4Addr;

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, Question, RCODE, TYPE};

use crate::error::Error;

/// The first name the hosts file gives `address`: the first line whose address is the same
/// address, in any of its spellings (the one address rule: `alore_socket_rules::parse_ip`).
pub(crate) fn name_in_hosts(hosts: &str, address: IpAddr) -> Option<String> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let matches = alore_socket_rules::parse_ip(fields.next()?).ok()? == address;
        matches.then(|| fields.next().map(str::to_owned)).flatten()
    })
}

/// The name a PTR query asks about: `d.c.b.a.in-addr.arpa` for `a.b.c.d`, and for IPv6 the
/// 32 nibbles backwards under `ip6.arpa` (RFC 3596 §2.5).
pub(crate) fn ptr_name(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                let _ = write!(name, "{:x}.{:x}.", byte & 0xf, byte >> 4);
            }
            name.push_str("ip6.arpa");
            name
        }
    }
}

/// A recursive PTR query for `name`.
pub(crate) fn ptr_query(id: u16, name: &str) -> Result<Vec<u8>, Error> {
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

/// A DNS message framed for TCP (RFC 1035 §4.2.2): its length in two bytes, then itself.
pub(crate) fn tcp_frame(message: &[u8]) -> Result<Vec<u8>, Error> {
    let length = u16::try_from(message.len())
        .map_err(|_| Error::Value("A DNS message over 65535 bytes".into()))?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    Ok(framed)
}

/// The first whole message in bytes received over TCP, once they hold one.
pub(crate) fn tcp_unframe(received: &[u8]) -> Option<Vec<u8>> {
    let [high, low, message @ ..] = received else {
        return None;
    };
    let length = usize::from(u16::from_be_bytes([*high, *low]));
    message.get(..length).map(<[u8]>::to_vec)
}

/// Whether `message` answers our query: a response with our ID and exactly our question.
/// Anything else on the socket (late answers to an earlier try, forgeries) is ignored.
pub(crate) fn answers(message: &[u8], id: u16, name: &str) -> bool {
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
pub(crate) enum Reply {
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
    /// The answer is not one to believe (a PTR record for another name, a target that is no
    /// host name): say so, and do not ask again.
    Invalid(String),
}

/// How many CNAME links an answer may take from the question to its PTR record (RFC 2317
/// delegations use one); more is a loop or a trick.
const MAX_CNAME_LINKS: usize = 8;

/// Read a reply that [`answers`] accepted to the question `name`. Only a PTR record owned by
/// `name` (or by the end of a CNAME chain from it, within the same answer) counts, and only
/// if its target is a valid host name: a name with other bytes (newlines, escapes) is refused
/// without echoing it, since it would end up in logs and on terminals.
pub(crate) fn read_reply(message: &[u8], name: &str) -> Reply {
    let Ok(packet) = Packet::parse(message) else {
        return Reply::Failed("unreadable reply".into());
    };
    if packet.has_flags(PacketFlag::TRUNCATION) {
        return Reply::Truncated;
    }
    match packet.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Reply::NoSuchName,
        other => return Reply::Failed(format!("{other:?}")),
    }
    let same = |a: &Name, b: &str| a.to_string().eq_ignore_ascii_case(b);
    let mut owner = name.to_owned();
    for _ in 0..=MAX_CNAME_LINKS {
        let owned = || packet.answers.iter().filter(|r| same(&r.name, &owner));
        if let Some(target) = owned().find_map(|r| match &r.rdata {
            RData::PTR(ptr) => Some(ptr.0.to_string()),
            _ => None,
        }) {
            let target = target.strip_suffix('.').unwrap_or(&target);
            return match alore_socket_rules::check_answered_name(target) {
                Ok(()) => Reply::Name(target.to_owned()),
                Err(why) => Reply::Invalid(format!("the PTR answer is no valid host name: {why}")),
            };
        }
        match owned().find_map(|r| match &r.rdata {
            RData::CNAME(cname) => Some(cname.0.to_string()),
            _ => None,
        }) {
            Some(next) => owner = next,
            None => break,
        }
    }
    if packet
        .answers
        .iter()
        .any(|r| matches!(r.rdata, RData::PTR(_)))
    {
        return Reply::Invalid("the answer's PTR record is for another name than asked".into());
    }
    Reply::NoRecord
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
            name_in_hosts(hosts, Ipv4Addr::LOCALHOST.into()).as_deref(),
            Some("localhost")
        );
        assert_eq!(
            name_in_hosts(hosts, Ipv4Addr::new(10, 0, 0, 1).into()).as_deref(),
            Some("ten")
        );
        assert_eq!(
            name_in_hosts(hosts, Ipv4Addr::new(10, 0, 0, 2).into()),
            None
        );
        assert_eq!(
            name_in_hosts("10.0.0.2\n", Ipv4Addr::new(10, 0, 0, 2).into()),
            None,
            "no name"
        );
    }

    #[test]
    fn ipv6_in_hosts_files_and_ptr_names() {
        let hosts = "::1 ip6-localhost\n2001:db8:0:0::5 five\n::ffff:10.0.0.9 mapped\n";
        let ip = |t: &str| alore_socket_rules::parse_ip(t).unwrap();
        assert_eq!(
            name_in_hosts(hosts, ip("::1")).as_deref(),
            Some("ip6-localhost")
        );
        assert_eq!(
            name_in_hosts(hosts, ip("2001:db8::5")).as_deref(),
            Some("five")
        );
        assert_eq!(
            name_in_hosts(hosts, ip("10.0.0.9")).as_deref(),
            Some("mapped")
        );
        assert_eq!(name_in_hosts(hosts, ip("::2")), None);
        // RFC 3596 §2.5's example.
        assert_eq!(
            ptr_name(ip("4321:0:1:2:3:4:567:89ab")),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa"
        );
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
    fn tcp_framing_round_trips_and_waits_for_the_whole_message() {
        let framed = tcp_frame(b"hello").unwrap();
        assert_eq!(framed, b"\x00\x05hello");
        assert_eq!(tcp_unframe(&framed).as_deref(), Some(&b"hello"[..]));
        assert_eq!(tcp_unframe(&framed[..6]), None, "not all there yet");
        assert_eq!(tcp_unframe(b"\x00"), None);
        let mut two = framed.clone();
        two.extend_from_slice(b"\x00\x01x");
        assert_eq!(
            tcp_unframe(&two).as_deref(),
            Some(&b"hello"[..]),
            "the first"
        );
        assert!(tcp_frame(&vec![0; 65536]).is_err());
    }

    #[test]
    fn a_ptr_query_is_exactly_the_bytes_rfc_1035_asks_for() {
        let query = ptr_query(0x1234, "4.3.2.1.in-addr.arpa").unwrap();
        let mut want = vec![
            0x12, 0x34, // the ID
            0x01, 0x00, // a standard query, recursion desired
            0, 1, 0, 0, 0, 0, 0, 0, // one question; no answer, authority or extra records
        ];
        for label in ["4", "3", "2", "1", "in-addr", "arpa"] {
            want.push(label.len() as u8);
            want.extend_from_slice(label.as_bytes());
        }
        want.extend_from_slice(&[0, 0, 12, 0, 1]); // the root; type PTR (12), class IN (1)
        assert_eq!(query, want);
        assert_ne!(
            ptr_query(0x1235, "4.3.2.1.in-addr.arpa").unwrap(),
            want,
            "the ID"
        );
        assert!(
            ptr_query(1, &"a".repeat(64)).is_err(),
            "a label over 63 bytes"
        );
    }

    #[test]
    fn queries_and_replies() {
        let name = ptr_name(Ipv4Addr::new(1, 2, 3, 4).into());
        assert_eq!(name, "4.3.2.1.in-addr.arpa");
        let query = ptr_query(7, &name).unwrap();
        assert!(!answers(&query, 7, &name), "a query is not an answer");

        let good = reply(7, &name, RCODE::NoError, Some("host.example."), false);
        assert!(answers(&good, 7, &name));
        assert!(!answers(&good, 8, &name), "wrong ID");
        assert!(!answers(&good, 7, "5.3.2.1.in-addr.arpa"), "wrong question");
        assert!(!answers(b"junk", 7, &name));
        assert_eq!(read_reply(&good, &name), Reply::Name("host.example".into()));
        assert!(answers(
            &reply(7, &name.to_uppercase(), RCODE::NoError, None, false),
            7,
            &name
        ));

        assert_eq!(
            read_reply(&reply(7, &name, RCODE::NameError, None, false), &name),
            Reply::NoSuchName
        );
        assert_eq!(
            read_reply(&reply(7, &name, RCODE::NoError, None, false), &name),
            Reply::NoRecord
        );
        assert_eq!(
            read_reply(&reply(7, &name, RCODE::NoError, None, true), &name),
            Reply::Truncated
        );
        assert!(matches!(
            read_reply(&reply(7, &name, RCODE::ServerFailure, None, false), &name),
            Reply::Failed(_)
        ));
    }

    /// A NOERROR reply to `question` whose answer holds these records.
    fn reply_with(question: &str, records: Vec<ResourceRecord<'static>>) -> Vec<u8> {
        let mut packet = Packet::new_reply(7);
        let qname = Name::new_unchecked(question).into_owned();
        packet.questions.push(Question::new(
            qname,
            TYPE::PTR.into(),
            CLASS::IN.into(),
            false,
        ));
        packet.answers = records;
        packet.build_bytes_vec().unwrap()
    }

    fn record(owner: &str, rdata: RData<'static>) -> ResourceRecord<'static> {
        let owner = Name::new_unchecked(owner).into_owned();
        ResourceRecord::new(owner, CLASS::IN, 60, rdata)
    }

    fn ptr(target: &str) -> RData<'static> {
        RData::PTR(PTR(Name::new_unchecked(target).into_owned()))
    }

    #[test]
    fn only_a_ptr_record_owned_by_the_question_counts() {
        let name = ptr_name(Ipv4Addr::new(1, 2, 3, 4).into());
        let other = reply_with(
            &name,
            vec![record("9.9.9.9.in-addr.arpa", ptr("evil.example"))],
        );
        assert!(
            matches!(read_reply(&other, &name), Reply::Invalid(why) if why.contains("another name"))
        );
        let both = reply_with(
            &name,
            vec![
                record("9.9.9.9.in-addr.arpa", ptr("evil.example")),
                record(&name, ptr("good.example")),
            ],
        );
        assert_eq!(read_reply(&both, &name), Reply::Name("good.example".into()));
        // RFC 2317: the question's name is an alias of the record's owner.
        let alias = "4.0/24.3.2.1.in-addr.arpa";
        let delegated = reply_with(
            &name,
            vec![
                record(
                    &name,
                    RData::CNAME(simple_dns::rdata::CNAME(
                        Name::new_unchecked(alias).into_owned(),
                    )),
                ),
                record(alias, ptr("classless.example")),
            ],
        );
        assert_eq!(
            read_reply(&delegated, &name),
            Reply::Name("classless.example".into())
        );
    }

    #[test]
    fn a_ptr_target_that_is_no_host_name_is_refused_without_echo() {
        let name = ptr_name(Ipv4Addr::new(1, 2, 3, 4).into());
        for bad in [
            "line1\nline2.example",
            "red\x1b[31m.example",
            "spa ce.example",
            "nul\0.example",
        ] {
            let message = reply_with(&name, vec![record(&name, ptr(bad))]);
            match read_reply(&message, &name) {
                Reply::Invalid(why) => {
                    assert!(why.contains("no valid host name"), "{why}");
                    assert!(
                        !why.contains(bad.split('.').next().unwrap()),
                        "{bad:?}: {why}"
                    );
                    assert!(!why.chars().any(char::is_control), "{why:?}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
