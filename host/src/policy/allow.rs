//! [`Allow`]: one rule of a policy, an IPv4 or IPv6 network and a port range, and its text
//! form `ADDR[/BITS][:PORT[-PORT]]` (IPv6: `[ADDR][/BITS][:PORT[-PORT]]`, or `ADDR[/BITS]`
//! for every port).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use alore_socket_rules::{AddressError, canonical, parse_ip};

/// One allowed destination: a network of one family (address and prefix length) and a port
/// range. Addresses are compared as what they reach ([`canonical`]): an IPv4-mapped IPv6
/// address is its IPv4 address, so an IPv4 rule covers it and no IPv6 rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allow {
    network: IpAddr,
    prefix: u8,
    first_port: u16,
    last_port: u16,
}

impl Allow {
    /// Every port of one address.
    pub fn host(address: impl Into<IpAddr>) -> Self {
        let network = canonical(address.into());
        Allow {
            network,
            prefix: bits(network),
            first_port: 1,
            last_port: u16::MAX,
        }
    }

    /// Every port of the addresses in `network/prefix`; `None` when `prefix` is longer than
    /// the family's addresses (32 or 128 bits).
    pub fn network(network: impl Into<IpAddr>, prefix: u8) -> Option<Self> {
        let network = canonical(network.into());
        (prefix <= bits(network)).then(|| Allow {
            network: masked(network, prefix),
            prefix,
            ..Allow::host(network)
        })
    }

    /// Only the ports `first..=last`.
    pub fn ports(self, first: u16, last: u16) -> Self {
        Allow {
            first_port: first.min(last),
            last_port: first.max(last),
            ..self
        }
    }

    /// Only `port`.
    pub fn port(self, port: u16) -> Self {
        self.ports(port, port)
    }

    /// Whether the rule allows `port` of `address`.
    pub fn allows(&self, address: impl Into<IpAddr>, port: u16) -> bool {
        self.contains(address) && (self.first_port..=self.last_port).contains(&port)
    }

    /// The rule's network as CIDR text, `ADDR/BITS` (IPv6 unbracketed), e.g. `10.0.0.0/8`,
    /// `::1/128`: what a firewall or a Kubernetes `ipBlock` takes.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }

    /// The rule's ports, `(first, last)`.
    pub fn port_range(&self) -> (u16, u16) {
        (self.first_port, self.last_port)
    }

    /// Whether `address` is in the rule's network, whatever the port. Never across
    /// families.
    pub fn contains(&self, address: impl Into<IpAddr>) -> bool {
        let address = canonical(address.into());
        address.is_ipv4() == self.network.is_ipv4() && masked(address, self.prefix) == self.network
    }
}

/// How many bits an address of `ip`'s family has.
fn bits(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` with every bit past the first `prefix` cleared.
fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(std::net::Ipv6Addr::from_bits(v6.to_bits() & mask))
        }
    }
}

/// Parses `ADDR[/BITS][:PORT[-PORT]]`, e.g. `127.0.0.1`, `10.0.0.0/8:80`,
/// `127.0.0.1:8000-8099`, `[::1]:7000-7099`, `[2001:db8::]/32:443`, `2001:db8::/32`.
impl FromStr for Allow {
    type Err = ParseAllowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ParseAllowError {
            rule: text.to_owned(),
            why: why.to_owned(),
        };
        // The address (with its prefix) and the ports: IPv6 in brackets when ports follow.
        let (net, ports) = if let Some(rest) = text.strip_prefix('[') {
            let (address, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address opened with [ is closed with ]"))?;
            let (bits, ports) = match after.split_once(':') {
                Some((bits, ports)) => (bits, Some(ports)),
                None => (after, None),
            };
            let net = match bits.strip_prefix('/') {
                Some(bits) => (address, Some(bits)),
                None if bits.is_empty() => (address, None),
                None => return Err(bad("only /BITS and :PORT may follow the ]")),
            };
            (net, ports)
        } else if text.matches(':').count() > 1 {
            // Bare IPv6: every port (write [ADDR]:PORT for some).
            match text.split_once('/') {
                Some((address, bits)) => ((address, Some(bits)), None),
                None => ((text, None), None),
            }
        } else {
            let (net, ports) = match text.split_once(':') {
                Some((net, ports)) => (net, Some(ports)),
                None => (text, None),
            };
            match net.split_once('/') {
                Some((address, bits)) => ((address, Some(bits)), ports),
                None => ((net, None), ports),
            }
        };
        let (address, prefix) = net;
        let ip = parse_ip(address).map_err(|e| match e {
            AddressError::Zone => bad(&e.to_string()),
            AddressError::NotAnAddress => bad("the address is not IPv4 or IPv6"),
        })?;
        if ip.is_ipv4() && text.starts_with('[') && !address.contains(':') {
            return Err(bad("brackets are for IPv6 addresses"));
        }
        if ip.is_ipv4() && address.contains(':') {
            return Err(bad(
                "an IPv4-mapped address is its IPv4 address: write that (it allows both forms)",
            ));
        }
        let rule = match prefix {
            None => Allow::host(ip),
            Some(bits) => bits
                .parse()
                .ok()
                .and_then(|bits| Allow::network(ip, bits))
                .ok_or_else(|| bad("the prefix length is not 0 to 32 (IPv4) or 0 to 128 (IPv6)"))?,
        };
        let Some(ports) = ports else {
            return Ok(rule);
        };
        let (first, last) =
            super::parse_ports(ports).ok_or_else(|| bad("a port is a number of 1 to 65535"))?;
        Ok(rule.ports(first, last))
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.network {
            IpAddr::V4(v4) => write!(f, "{v4}/{}", self.prefix)?,
            IpAddr::V6(v6) => write!(f, "[{v6}]/{}", self.prefix)?,
        }
        write!(f, ":{}-{}", self.first_port, self.last_port)
    }
}

/// An `--allow` rule that is not `ADDR[/BITS][:PORT[-PORT]]`, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid allow rule {rule:?}: {why}; expected ADDR[/BITS][:PORT[-PORT]], e.g. \
     127.0.0.1:8000-8099 or [::1]:8000"
)]
pub struct ParseAllowError {
    rule: String,
    why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let rule: Allow = "127.0.0.1".parse().unwrap();
        assert!(rule.allows(Ipv4Addr::LOCALHOST, 1));
        assert!(rule.allows(Ipv4Addr::LOCALHOST, 65535));
        assert!(!rule.allows(Ipv4Addr::new(127, 0, 0, 2), 80));

        let rule: Allow = "10.1.2.3/8:80".parse().unwrap();
        assert!(rule.allows(Ipv4Addr::new(10, 200, 0, 1), 80));
        assert!(!rule.allows(Ipv4Addr::new(10, 200, 0, 1), 81));
        assert!(!rule.allows(Ipv4Addr::new(11, 0, 0, 1), 80));

        let rule: Allow = "127.0.0.0/24:8000-8099".parse().unwrap();
        assert!(rule.allows(Ipv4Addr::new(127, 0, 0, 9), 8099));
        assert!(!rule.allows(Ipv4Addr::new(127, 0, 0, 9), 8100));

        let everything: Allow = "0.0.0.0/0".parse().unwrap();
        assert!(everything.allows(Ipv4Addr::new(1, 2, 3, 4), 5));
    }

    #[test]
    fn a_port_range_holds_both_ends_and_nothing_past_either() {
        let rule: Allow = "127.0.0.0/24:8000-8099".parse().unwrap();
        let here = Ipv4Addr::new(127, 0, 0, 9);
        for (port, allowed) in [(22, false), (7999, false), (8000, true), (8050, true)] {
            assert_eq!(rule.allows(here, port), allowed, "{port}");
        }
        for (port, allowed) in [(8099, true), (8100, false), (65535, false)] {
            assert_eq!(rule.allows(here, port), allowed, "{port}");
        }
        assert_eq!(
            rule,
            "127.0.0.0/24:8099-8000".parse().unwrap(),
            "either order"
        );
        let one = Allow::host(Ipv4Addr::LOCALHOST).port(7000);
        assert!(one.allows(Ipv4Addr::LOCALHOST, 7000));
        assert!(!one.allows(Ipv4Addr::LOCALHOST, 6999));
        assert!(!one.allows(Ipv4Addr::LOCALHOST, 7001));
        assert!(!Allow::host(Ipv4Addr::LOCALHOST).allows(Ipv4Addr::LOCALHOST, 0));
    }

    #[test]
    fn a_network_holds_its_addresses_and_no_neighbour() {
        let cases = [
            (
                "10.1.2.3/8",
                "10.0.0.0",
                "10.255.255.255",
                "9.255.255.255",
                "11.0.0.0",
            ),
            (
                "192.168.1.77/31",
                "192.168.1.76",
                "192.168.1.77",
                "192.168.1.75",
                "192.168.1.78",
            ),
            (
                "127.0.0.1/32",
                "127.0.0.1",
                "127.0.0.1",
                "127.0.0.0",
                "127.0.0.2",
            ),
            (
                "128.0.0.0/1",
                "128.0.0.0",
                "255.255.255.255",
                "127.255.255.255",
                "127.0.0.1",
            ),
        ];
        for (rule, first, last, before, after) in cases {
            let rule: Allow = rule.parse().unwrap();
            for (address, inside) in [(first, true), (last, true), (before, false), (after, false)]
            {
                let address: Ipv4Addr = address.parse().unwrap();
                assert_eq!(rule.contains(address), inside, "{rule} {address}");
                assert_eq!(rule.allows(address, 1), inside, "{rule} {address}");
            }
        }
        assert!(Allow::network(Ipv4Addr::LOCALHOST, 33).is_none());
        assert!(Allow::network(Ipv4Addr::LOCALHOST, 32).is_some());
        assert!(Allow::network(std::net::Ipv6Addr::LOCALHOST, 129).is_none());
        assert!(Allow::network(std::net::Ipv6Addr::LOCALHOST, 128).is_some());
    }

    #[test]
    fn a_rule_prints_as_it_parses() {
        let rule: Allow = "10.1.2.3/8:80".parse().unwrap();
        assert_eq!(rule.to_string(), "10.0.0.0/8:80-80");
        let rule: Allow = "127.0.0.1".parse().unwrap();
        assert_eq!(rule.to_string(), "127.0.0.1/32:1-65535");
        for text in [
            "10.0.0.0/8:80-80",
            "127.0.0.0/24:8000-8099",
            "0.0.0.0/0:1-65535",
        ] {
            let rule: Allow = text.parse().unwrap();
            assert_eq!(rule.to_string(), text);
            assert_eq!(rule.to_string().parse::<Allow>().unwrap(), rule);
        }
        let error = "nope".parse::<Allow>().unwrap_err().to_string();
        assert!(error.starts_with("invalid allow rule \"nope\""), "{error}");
        let error = "[fe80::1%eth0]:80"
            .parse::<Allow>()
            .unwrap_err()
            .to_string();
        assert!(error.contains("zone"), "{error}");
        for text in [
            "[::1]/128:7000-7099",
            "[2001:db8::]/32:443-443",
            "[::]/0:1-65535",
        ] {
            let rule: Allow = text.parse().unwrap();
            assert_eq!(rule.to_string(), text);
        }
        assert_eq!(
            "2001:db8::5/32".parse::<Allow>().unwrap().to_string(),
            "[2001:db8::]/32:1-65535"
        );
    }

    #[test]
    fn rejects_bad_rules() {
        for bad in [
            "",
            "localhost",
            "127.0.0.1/33",
            "127.0.0.1:",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            "127.0.0.1:1-",
            "127.0.0.1/x",
            "[::1",
            "[::1]x",
            "[::1]:0",
            "[::1]/129",
            "::1/129",
            "[fe80::1%eth0]:80",
            "[127.0.0.1]:80",
            "[::ffff:127.0.0.1]:80",
            "::ffff:10.0.0.0/104",
        ] {
            assert!(bad.parse::<Allow>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ipv6_rules_hold_their_network_and_ports_and_never_the_other_family() {
        use std::net::Ipv6Addr;
        let v6 = |t: &str| t.parse::<Ipv6Addr>().unwrap();
        let rule: Allow = "[2001:db8::]/32:443".parse().unwrap();
        assert!(rule.allows(v6("2001:db8:ffff::1"), 443));
        assert!(!rule.allows(v6("2001:db8:ffff::1"), 444));
        assert!(!rule.allows(v6("2001:db9::1"), 443));
        let rule: Allow = "[::1]:7000-7099".parse().unwrap();
        assert!(rule.allows(Ipv6Addr::LOCALHOST, 7050));
        assert!(
            !rule.allows(Ipv4Addr::LOCALHOST, 7050),
            "::1 is not 127.0.0.1"
        );
        // Every IPv6 address is not every address.
        let all6: Allow = "::/0".parse().unwrap();
        assert!(all6.allows(v6("2001:db8::1"), 1));
        assert!(!all6.allows(Ipv4Addr::new(10, 0, 0, 1), 1));
        assert!(
            !all6.allows(v6("::ffff:10.0.0.1"), 1),
            "a mapped address is IPv4"
        );
        // An IPv4 rule holds the mapped form of its addresses (the same host), and no
        // other IPv6 address: not the compatible form, not ::1.
        let rule: Allow = "127.0.0.1:80".parse().unwrap();
        assert!(rule.allows(v6("::ffff:127.0.0.1"), 80));
        assert!(!rule.allows(v6("::127.0.0.1"), 80));
        assert!(!rule.allows(Ipv6Addr::LOCALHOST, 80));
        let all4: Allow = "0.0.0.0/0".parse().unwrap();
        assert!(!all4.allows(v6("2001:db8::1"), 1));
        assert!(!all4.allows(v6("::1.2.3.4"), 1));
        assert!(!all4.allows(v6("64:ff9b::1.2.3.4"), 1), "NAT64 is IPv6");
    }
}
