//! Name lookups as the policy says: `wasi:sockets/ip-name-lookup` (both WASI versions)
//! defined again over the standard one. A name may be looked up when every lookup is allowed
//! or a name rule covers it (else `access-denied`), and the answers of a covered name are
//! pinned for the store's connects ([`crate::pins`]). Answers come from the policy's own table
//! ([`crate::Policy::lookup_table`]) when it has one, for sandboxes that must not reach a DNS
//! server and for tests, which must control every answer; else from this machine's resolver.
//! One linker serves every policy, so neither doubles the linkers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, Network, Pollable, SocketError, subscribe};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::pins::SharedPins;
use crate::policy::{Allow, AllowName};
use crate::store::State;

/// The interface this module defines again: the version wasmtime-wasi 48 links, which
/// components importing any 0.2.x version are linked against.
const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";
/// Its WASI 0.3 version.
const INTERFACE_P3: &str = "wasi:sockets/ip-name-lookup@0.3.0";

/// Names and their addresses, in the order a lookup returns them. Names match without regard
/// to ASCII case or a trailing dot, as DNS names do. Clones share the answers: [`set`]
/// changes them for every store whose policy holds the table, from its next lookup on (as a
/// service registry's answers change).
///
/// [`set`]: LookupTable::set
#[derive(Debug, Clone, Default)]
pub struct LookupTable(Arc<RwLock<HashMap<String, Vec<IpAddr>>>>);

impl LookupTable {
    /// Add `address` to the addresses of `name`, after those it has.
    pub fn add(&mut self, name: &str, address: IpAddr) {
        self.write().entry(key(name)).or_default().push(address);
    }

    /// Make `addresses` the answer for `name` from now on, in every store using this table.
    pub fn set(&self, name: &str, addresses: &[IpAddr]) {
        self.write().insert(key(name), addresses.to_vec());
    }

    /// The addresses of `name`, if the table has it.
    pub fn get(&self, name: &str) -> Option<Vec<IpAddr>> {
        let answers = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        answers.get(&key(name)).cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<IpAddr>>> {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<N: AsRef<str>> FromIterator<(N, IpAddr)> for LookupTable {
    fn from_iter<I: IntoIterator<Item = (N, IpAddr)>>(entries: I) -> Self {
        let mut table = LookupTable::default();
        for (name, address) in entries {
            table.add(name.as_ref(), address);
        }
        table
    }
}

use crate::policy::name_key as key;

/// An address WASI 0.2 gave, as Rust writes it.
fn ip_of(address: IpAddress) -> IpAddr {
    match address {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::from([a, b, c, d]),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::from([a, b, c, d, e, f, g, h]),
    }
}

/// What a store may look up, where the answers come from, and where they are pinned.
#[derive(Clone)]
pub(crate) struct Lookups {
    /// Every name may be looked up ([`crate::Policy::allow_lookup`]).
    pub(crate) all: bool,
    /// The name rules: the names they cover may be looked up, and their answers are pinned.
    pub(crate) names: Arc<[AllowName]>,
    /// The policy's own answers, instead of this machine's resolver.
    pub(crate) table: Option<LookupTable>,
    pub(crate) pins: SharedPins,
    /// The address rules: a peer one of them allows is not bound to a name.
    pub(crate) addresses: Arc<[Allow]>,
}

impl Lookups {
    /// Whether `name` may be looked up (`None`: it may not), and the ports its answers are
    /// pinned for (none when only [`Lookups::all`] allows it).
    pub(crate) fn grant(&self, name: &str) -> Option<Vec<(u16, u16)>> {
        let ports: Vec<(u16, u16)> = self
            .names
            .iter()
            .filter(|rule| rule.covers(name))
            .map(AllowName::port_range)
            .collect();
        (self.all || !ports.is_empty()).then_some(ports)
    }

    /// Whether any lookup at all is allowed.
    pub(crate) fn any(&self) -> bool {
        self.all || !self.names.is_empty()
    }

    /// Whether a TLS handshake with `peer` may verify `server_name`: any name for a peer an
    /// address rule allows; for one reached through a name rule, only a name it was looked
    /// up as (`Err`: why not, in one line).
    pub(crate) fn tls_name_allowed(
        &self,
        peer: SocketAddr,
        server_name: &str,
    ) -> Result<(), String> {
        if self
            .addresses
            .iter()
            .any(|rule| rule.allows(peer.ip(), peer.port()))
        {
            return Ok(());
        }
        let pins = self
            .pins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let names = pins.names_for(peer);
        if names.iter().any(|name| key(name) == key(server_name)) {
            return Ok(());
        }
        Err(match names.is_empty() {
            true => format!(
                "the server name {server_name:?} is refused: {peer} was allowed as the answer \
                 to a name whose answer has since expired"
            ),
            false => format!(
                "the server name {server_name:?} is refused: {peer} was allowed as {} only",
                names.join(", ")
            ),
        })
    }

    /// Whether a TLS handshake on a connection the host cannot name may verify
    /// `server_name` (WASI 0.3's `wasi:tls` is given streams, not a socket): any name while the
    /// store holds no live answer of a name rule; once it does, only a name it looked up under
    /// one, since the handshake may ride on a connection reached by name (`Err`: why not).
    pub(crate) fn tls_name_allowed_on_any_peer(&self, server_name: &str) -> Result<(), String> {
        let names = self
            .pins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .live_names();
        if names.is_empty() || names.iter().any(|name| key(name) == key(server_name)) {
            return Ok(());
        }
        Err(format!(
            "the server name {server_name:?} is refused: this store's connections by name \
             were allowed as {} only (a WASI 0.3 handshake is not told which it rides on)",
            names.join(", ")
        ))
    }

    /// Pin `addresses`, the answer for `name`, on `ports` (nothing when no name rule allowed
    /// the lookup).
    fn pin(&self, name: &str, addresses: &[IpAddr], ports: &[(u16, u16)]) {
        if ports.is_empty() || addresses.is_empty() {
            return;
        }
        let mut pins = self
            .pins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pins.pin(name, addresses, ports);
    }
}

/// A lookup's answers: all known at once (from a table), or wasmtime-wasi's own lookup, whose
/// answers are pinned for `name` on `ports` as they come.
pub(crate) enum Answers {
    Table(std::vec::IntoIter<IpAddress>),
    Machine {
        inner: Resource<ResolveAddressStream>,
        name: String,
        ports: Vec<(u16, u16)>,
    },
}

#[wasmtime_wasi::async_trait]
impl Pollable for Answers {
    // Only a table's answers are polled here: `subscribe` hands out wasmtime-wasi's own
    // pollable for a machine lookup.
    async fn ready(&mut self) {}
}

type Answer<T> = wasmtime::Result<(Result<T, ErrorCode>,)>;

/// A wasmtime-wasi lookup result as the linker returns it: a WASI error code to the guest, a
/// trap as a trap.
fn answer<T>(result: Result<T, SocketError>) -> Answer<T> {
    match result {
        Ok(value) => Ok((Ok(value),)),
        Err(e) => Ok((Err(e.downcast()?),)),
    }
}

/// Define `ip-name-lookup` in `linker` over the standard one: a lookup the policy does not
/// allow is `access-denied`; an allowed one is answered from the store's table when its
/// policy has one (a name the table lacks is `name-unresolvable`), else by wasmtime-wasi's
/// lookup; the answers of a name a name rule covers are pinned.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut instance = linker.instance(INTERFACE)?;
    instance.resource(
        "resolve-address-stream",
        ResourceType::host::<Answers>(),
        |mut store, rep| {
            let state = store.data_mut();
            let answers = state.table.delete(Resource::<Answers>::new_own(rep))?;
            if let Answers::Machine { inner, .. } = answers {
                HostResolveAddressStream::drop(&mut state.sockets(), inner)?;
            }
            Ok(())
        },
    )?;
    instance.func_wrap(
        "resolve-addresses",
        |mut store, (network, name): (Resource<Network>, String)| -> Answer<Resource<Answers>> {
            let state = store.data_mut();
            state.table.get(&network)?; // the capability must be real
            let lookups = state.lookups.clone();
            // An address literal is its own answer, as in wasmtime's lookup.
            if let Ok(ip) = name.parse::<IpAddr>() {
                if !lookups.any() {
                    return Ok((Err(ErrorCode::AccessDenied),));
                }
                let answer = vec![IpAddress::from(ip)].into_iter();
                return Ok((Ok(state.table.push(Answers::Table(answer))?),));
            }
            let Some(ports) = lookups.grant(&name) else {
                return Ok((Err(ErrorCode::AccessDenied),));
            };
            let Some(table) = &lookups.table else {
                let made = Host::resolve_addresses(&mut state.sockets(), network, name.clone());
                return match made {
                    Ok(inner) => {
                        let answers = Answers::Machine { inner, name, ports };
                        Ok((Ok(state.table.push(answers)?),))
                    }
                    Err(e) => answer(Err(e)),
                };
            };
            let Some(addresses) = table.get(&name) else {
                return Ok((Err(ErrorCode::NameUnresolvable),));
            };
            lookups.pin(&name, &addresses, &ports);
            let answers: Vec<IpAddress> = addresses.iter().map(|&ip| IpAddress::from(ip)).collect();
            let stream = state.table.push(Answers::Table(answers.into_iter()))?;
            Ok((Ok(stream),))
        },
    )?;
    instance.func_wrap(
        "[method]resolve-address-stream.resolve-next-address",
        |mut store, (stream,): (Resource<Answers>,)| -> Answer<Option<IpAddress>> {
            let state = store.data_mut();
            match state.table.get_mut(&stream)? {
                Answers::Table(answers) => Ok((Ok(answers.next()),)),
                Answers::Machine { inner, name, ports } => {
                    let (inner, name, ports) = (
                        Resource::new_borrow(inner.rep()),
                        name.clone(),
                        ports.clone(),
                    );
                    let next = state.sockets().resolve_next_address(inner);
                    if let Ok(Some(address)) = &next {
                        state.lookups.pin(&name, &[ip_of(*address)], &ports);
                    }
                    answer(next)
                }
            }
        },
    )?;
    instance.func_wrap(
        "[method]resolve-address-stream.subscribe",
        |mut store,
         (stream,): (Resource<Answers>,)|
         -> wasmtime::Result<(Resource<DynPollable>,)> {
            let state = store.data_mut();
            match state.table.get(&stream)? {
                Answers::Table(_) => Ok((subscribe(&mut state.table, stream)?,)),
                Answers::Machine { inner, .. } => {
                    let inner = Resource::new_borrow(inner.rep());
                    Ok((HostResolveAddressStream::subscribe(
                        &mut state.sockets(),
                        inner,
                    )?,))
                }
            }
        },
    )?;
    Ok(())
}

/// Define WASI 0.3's `resolve-addresses` in `linker` over wasmtime-wasi's, by the same rules
/// as [`add_to_linker`]: `access-denied` for a name the policy does not allow, answers from
/// the store's table or this machine's resolver, pinned for a name a name rule covers.
pub(crate) fn add_p3_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p3::bindings::sockets::ip_name_lookup::ErrorCode as Code;
    use wasmtime_wasi::p3::bindings::sockets::types::IpAddress as Address;
    type Resolved = wasmtime::Result<(Result<Vec<Address>, Code>,)>;
    linker.allow_shadowing(true);
    linker.instance(INTERFACE_P3)?.func_wrap_concurrent(
        "resolve-addresses",
        |accessor, (name,): (String,)| {
            Box::pin(async move {
                let lookups = accessor.with(|mut store| store.data_mut().lookups.clone());
                if let Ok(ip) = name.parse::<IpAddr>() {
                    if !lookups.any() {
                        return Ok((Err(Code::AccessDenied),)) as Resolved;
                    }
                    return Ok((Ok(vec![Address::from(ip)]),));
                }
                let Some(ports) = lookups.grant(&name) else {
                    return Ok((Err(Code::AccessDenied),));
                };
                if alore_socket_rules::check_name(&name).is_err() {
                    return Ok((Err(Code::InvalidArgument),));
                }
                let addresses: Vec<IpAddr> = match &lookups.table {
                    Some(table) => match table.get(&name) {
                        Some(addresses) => addresses,
                        None => return Ok((Err(Code::NameUnresolvable),)),
                    },
                    None => match tokio::net::lookup_host((name.as_str(), 0)).await {
                        Ok(found) => found.map(|address| address.ip()).collect(),
                        Err(_) => return Ok((Err(Code::NameUnresolvable),)),
                    },
                };
                if addresses.is_empty() {
                    return Ok((Err(Code::NameUnresolvable),));
                }
                lookups.pin(&name, &addresses, &ports);
                Ok((Ok(addresses.into_iter().map(Address::from).collect()),))
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_dns_names_do_and_keep_their_order() {
        let one: IpAddr = "127.0.0.2".parse().unwrap();
        let two: IpAddr = "127.0.0.3".parse().unwrap();
        let table: LookupTable = [("Multi.Test", one), ("multi.test.", two)]
            .into_iter()
            .collect();
        assert_eq!(table.get("multi.test"), Some(vec![one, two]));
        assert_eq!(table.get("MULTI.TEST."), Some(vec![one, two]));
        assert_eq!(table.get("other.test"), None);
        // Clones share the answers.
        let clone = table.clone();
        clone.set("Multi.test", &[two]);
        assert_eq!(table.get("multi.test"), Some(vec![two]));
    }
}
