//! Pinned answers: egress by name. When a lookup of a name that a name rule allows
//! ([`crate::AllowName`]) is answered, the store remembers each address with the name and the
//! rule's ports, for [`PIN_LIFETIME`]; a TCP connect (or an accepted peer) whose address no
//! address rule allows is allowed when it is such an answer and its port is the rule's. An
//! address nobody looked up in this store stays denied, even if an allowed name would
//! resolve to it: no guessing, and no rebinding a name to an address it was not given.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alore_socket_rules::canonical;

/// How long an answer stays connectable after the lookup that gave it: the upper end of the
/// TTLs that services which move publish (Kubernetes Services, cloud load balancers: 30 to
/// 300 s), so a pool may keep connecting to what it looked up for a while, and an address a
/// name no longer resolves to is unreachable soon after. A new lookup pins afresh.
pub const PIN_LIFETIME: Duration = Duration::from_secs(300);

/// The most answers a store keeps: a guest may look allowed names up as often as it likes,
/// and what the host holds for it stays bounded (the oldest answer goes first; about 100
/// bytes each).
pub const MAX_PINS: usize = 4096;

/// One answer: an address that `name` resolved to, connectable on `ports` until `until`.
#[derive(Debug, Clone)]
struct Pin {
    address: IpAddr,
    name: String,
    ports: (u16, u16),
    until: Instant,
}

/// A store's pinned answers, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Pins(VecDeque<Pin>);

/// The pins of one store, shared by its lookups and its address check.
pub(crate) type SharedPins = Arc<Mutex<Pins>>;

impl Pins {
    /// Remember that `name` resolved to `addresses`, connectable on each of `ports`.
    pub(crate) fn pin(&mut self, name: &str, addresses: &[IpAddr], ports: &[(u16, u16)]) {
        let until = Instant::now() + PIN_LIFETIME;
        for &address in addresses {
            for &range in ports {
                let address = canonical(address);
                // A fresh answer replaces the same one given before: it lives longer.
                self.0.retain(|pin| {
                    !(pin.address == address && pin.name == name && pin.ports == range)
                });
                if self.0.len() == MAX_PINS {
                    self.0.pop_front();
                }
                self.0.push_back(Pin {
                    address,
                    name: name.to_owned(),
                    ports: range,
                    until,
                });
            }
        }
    }

    /// The names of every live answer, each once.
    pub(crate) fn live_names(&self) -> Vec<String> {
        let now = Instant::now();
        let mut names: Vec<String> = Vec::new();
        for pin in self.0.iter().filter(|pin| pin.until > now) {
            if !names.contains(&pin.name) {
                names.push(pin.name.clone());
            }
        }
        names
    }

    /// Whether `remote` is a live answer to an allowed name, on that name's ports.
    pub(crate) fn allows(&self, remote: SocketAddr) -> bool {
        !self.names_for(remote).is_empty()
    }

    /// The names a live answer gave `remote` for, on its port.
    pub(crate) fn names_for(&self, remote: SocketAddr) -> Vec<String> {
        let (address, port) = (canonical(remote.ip()), remote.port());
        let now = Instant::now();
        self.0
            .iter()
            .filter(|pin| {
                pin.address == address
                    && pin.until > now
                    && (pin.ports.0..=pin.ports.1).contains(&port)
            })
            .map(|pin| pin.name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_answers_on_their_ports_and_in_their_family_connect() {
        let mut pins = Pins::default();
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        pins.pin("redis.internal", &[ip], &[(6379, 6379)]);
        assert!(pins.allows(at("10.0.0.7:6379")));
        assert!(pins.allows(at("[::ffff:10.0.0.7]:6379")), "the same host");
        assert!(!pins.allows(at("10.0.0.7:6380")), "another port");
        assert!(!pins.allows(at("10.0.0.8:6379")), "never looked up");
        assert_eq!(pins.names_for(at("10.0.0.7:6379")), ["redis.internal"]);
    }

    #[test]
    fn the_store_keeps_at_most_max_pins_the_oldest_going_first() {
        let mut pins = Pins::default();
        for i in 0..=MAX_PINS as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from_bits(0x0a00_0000 + i));
            pins.pin("many.example", &[ip], &[(1, 65535)]);
        }
        assert_eq!(pins.0.len(), MAX_PINS);
        assert!(!pins.allows(at("10.0.0.0:80")), "the first went");
        assert!(pins.allows(at("10.0.0.1:80")));
        // The same answer again replaces itself.
        pins.pin(
            "many.example",
            &["10.0.0.1".parse().unwrap()],
            &[(1, 65535)],
        );
        assert_eq!(pins.0.len(), MAX_PINS);
    }

    #[test]
    fn the_same_answer_again_is_one_pin_and_other_names_or_ports_are_their_own() {
        let mut pins = Pins::default();
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        pins.pin("a.example", &[ip], &[(80, 80)]);
        pins.pin("a.example", &[ip], &[(80, 80)]);
        assert_eq!(pins.0.len(), 1, "renewed, not doubled");
        pins.pin("b.example", &[ip], &[(80, 80)]);
        pins.pin("a.example", &[ip], &[(443, 443)]);
        assert_eq!(pins.0.len(), 3);
        assert_eq!(
            pins.names_for(at("10.0.0.7:80")),
            ["a.example", "b.example"]
        );
        assert_eq!(pins.names_for(at("10.0.0.7:443")), ["a.example"]);
    }

    #[test]
    fn an_answer_expires() {
        let mut pins = Pins::default();
        pins.pin("old.example", &["10.0.0.9".parse().unwrap()], &[(80, 80)]);
        pins.0[0].until = Instant::now() - Duration::from_secs(1);
        assert!(!pins.allows(at("10.0.0.9:80")));
    }
}
