//! [`Allow`]: one rule of a policy, an IPv4 network and a port range, and its text form
//! `ADDR[/BITS][:PORT[-PORT]]`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// One allowed destination: an IPv4 network (address and prefix length) and a port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allow {
    network: Ipv4Addr,
    prefix: u8,
    first_port: u16,
    last_port: u16,
}

impl Allow {
    /// Every port of one address.
    pub fn host(address: Ipv4Addr) -> Self {
        Allow {
            network: address,
            prefix: 32,
            first_port: 1,
            last_port: u16::MAX,
        }
    }

    /// Every port of the addresses in `network/prefix`; `None` when `prefix` is over 32.
    pub fn network(network: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Allow {
            network: Ipv4Addr::from_bits(network.to_bits() & mask(prefix)),
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
    pub fn allows(&self, address: Ipv4Addr, port: u16) -> bool {
        self.contains(address) && (self.first_port..=self.last_port).contains(&port)
    }

    /// Whether `address` is in the rule's network, whatever the port.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        address.to_bits() & mask(self.prefix) == self.network.to_bits()
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// Parses `ADDR[/BITS][:PORT[-PORT]]`, e.g. `127.0.0.1`, `10.0.0.0/8:80`, `127.0.0.1:8000-8099`.
impl FromStr for Allow {
    type Err = ParseAllowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseAllowError(text.to_owned());
        let (net, ports) = match text.split_once(':') {
            Some((net, ports)) => (net, Some(ports)),
            None => (text, None),
        };
        let (address, prefix) = match net.split_once('/') {
            Some((address, bits)) => (address, bits.parse().map_err(|_| bad())?),
            None => (net, 32),
        };
        let rule = Allow::network(address.parse().map_err(|_| bad())?, prefix).ok_or_else(bad)?;
        let Some(ports) = ports else {
            return Ok(rule);
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad);
        Ok(match ports.split_once('-') {
            Some((first, last)) => rule.ports(port(first)?, port(last)?),
            None => rule.port(port(ports)?),
        })
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}:{}-{}",
            self.network, self.prefix, self.first_port, self.last_port
        )
    }
}

/// An `--allow` rule that is not `ADDR[/BITS][:PORT[-PORT]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid allow rule {0:?}: expected ADDR[/BITS][:PORT[-PORT]], e.g. 127.0.0.1:8000-8099")]
pub struct ParseAllowError(String);

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
        assert_eq!(mask(0), 0);
        assert_eq!(mask(1), 0x8000_0000);
        assert_eq!(mask(24), 0xffff_ff00);
        assert_eq!(mask(32), u32::MAX);
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
            "::1",
            "127.0.0.1/x",
        ] {
            assert!(bad.parse::<Allow>().is_err(), "{bad:?}");
        }
    }
}
