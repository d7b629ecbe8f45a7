//! Name lookups answered from the policy's own table ([`crate::Policy::lookup_table`]) instead
//! of this machine's resolver: `wasi:sockets/ip-name-lookup` defined again over the standard
//! one, which it calls for stores without a table. One linker serves both, so a policy's
//! table does not double the linkers. For sandboxes that must not reach a DNS server, and for
//! tests, which must control every answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, Network, Pollable, SocketError, subscribe};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::store::State;

/// The interface this module defines again: the version wasmtime-wasi 48 links, which
/// components importing any 0.2.x version are linked against.
const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";
/// Its WASI 0.3 version.
const INTERFACE_P3: &str = "wasi:sockets/ip-name-lookup@0.3.0";

/// Names and their addresses, in the order a lookup returns them. Names match without regard
/// to ASCII case or a trailing dot, as DNS names do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupTable(HashMap<String, Vec<IpAddr>>);

impl LookupTable {
    /// Add `address` to the addresses of `name`, after those it has.
    pub fn add(&mut self, name: &str, address: IpAddr) {
        self.0.entry(key(name)).or_default().push(address);
    }

    /// The addresses of `name`, if the table has it.
    pub fn get(&self, name: &str) -> Option<&[IpAddr]> {
        self.0.get(&key(name)).map(Vec::as_slice)
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

fn key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// How a store's lookups are answered when its policy has a table: from the table, if
/// lookups are allowed.
#[derive(Clone)]
pub(crate) struct Lookups {
    pub(crate) allowed: bool,
    pub(crate) table: Arc<LookupTable>,
}

/// A lookup's answers: all known at once (from a table), or wasmtime-wasi's own lookup.
pub(crate) enum Answers {
    Table(std::vec::IntoIter<IpAddress>),
    Machine(Resource<ResolveAddressStream>),
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

/// Define `ip-name-lookup` in `linker` over the standard one: answered from the store's
/// table when its policy has one (as wasmtime does, a lookup that is not allowed is
/// `permanent-resolver-failure`; a name the table lacks is `name-unresolvable`), else by
/// wasmtime-wasi's lookup.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut instance = linker.instance(INTERFACE)?;
    instance.resource(
        "resolve-address-stream",
        ResourceType::host::<Answers>(),
        |mut store, rep| {
            let state = store.data_mut();
            let answers = state.table.delete(Resource::<Answers>::new_own(rep))?;
            if let Answers::Machine(inner) = answers {
                HostResolveAddressStream::drop(&mut state.sockets(), inner)?;
            }
            Ok(())
        },
    )?;
    instance.func_wrap(
        "resolve-addresses",
        |mut store, (network, name): (Resource<Network>, String)| -> Answer<Resource<Answers>> {
            let state = store.data_mut();
            let Some(lookups) = state.lookups.clone() else {
                let made = Host::resolve_addresses(&mut state.sockets(), network, name);
                return match made {
                    Ok(inner) => Ok((Ok(state.table.push(Answers::Machine(inner))?),)),
                    Err(e) => answer(Err(e)),
                };
            };
            state.table.get(&network)?; // the capability must be real
            if !lookups.allowed {
                return Ok((Err(ErrorCode::PermanentResolverFailure),));
            }
            // An address literal is its own answer, as in wasmtime's lookup.
            let literal = name.parse::<IpAddr>().ok();
            let addresses = match (&literal, lookups.table.get(&name)) {
                (Some(ip), _) => std::slice::from_ref(ip),
                (None, Some(addresses)) => addresses,
                (None, None) => return Ok((Err(ErrorCode::NameUnresolvable),)),
            };
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
                Answers::Machine(inner) => {
                    let inner = Resource::new_borrow(inner.rep());
                    answer(state.sockets().resolve_next_address(inner))
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
                Answers::Machine(inner) => {
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

/// Define WASI 0.3's `resolve-addresses` in `linker` over wasmtime-wasi's: from the store's
/// table when its policy has one, else from this machine's resolver, as wasmtime does (a
/// lookup that is not allowed is `permanent-resolver-failure`, an address is its own answer).
pub(crate) fn add_p3_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p3::bindings::sockets::ip_name_lookup::ErrorCode as Code;
    use wasmtime_wasi::p3::bindings::sockets::types::IpAddress as Address;
    type Resolved = wasmtime::Result<(Result<Vec<Address>, Code>,)>;
    linker.allow_shadowing(true);
    linker.instance(INTERFACE_P3)?.func_wrap_concurrent(
        "resolve-addresses",
        |accessor, (name,): (String,)| {
            Box::pin(async move {
                let (allowed, table) = accessor.with(|mut store| {
                    let state = store.data_mut();
                    (state.lookups_allowed, state.lookups.clone())
                });
                if !allowed {
                    return Ok((Err(Code::PermanentResolverFailure),)) as Resolved;
                }
                if let Ok(ip) = name.parse::<IpAddr>() {
                    return Ok((Ok(vec![Address::from(ip)]),));
                }
                if alore_socket_rules::check_name(&name).is_err() {
                    return Ok((Err(Code::InvalidArgument),));
                }
                let addresses: Vec<IpAddr> = match table {
                    Some(lookups) => match lookups.table.get(&name) {
                        Some(addresses) => addresses.to_vec(),
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
        assert_eq!(table.get("multi.test"), Some(&[one, two][..]));
        assert_eq!(table.get("MULTI.TEST."), Some(&[one, two][..]));
        assert_eq!(table.get("other.test"), None);
    }
}
