//! A destination (a name or a dotted-decimal address) and a port to a connection: check the
//! arguments before any traffic, resolve, and try each IPv4 address in turn.

use std::net::SocketAddrV4;

use crate::error::Error;
use crate::names;
use crate::sys::Sys;

/// Try each IPv4 address of `destination` in turn, all by `deadline`; the last failure is the
/// one reported.
pub(crate) async fn connect<S: Sys>(
    destination: &str,
    port: u16,
    deadline: S::Deadline,
) -> Result<S::Connection, Error> {
    names::check_name(destination)?;
    if port == 0 {
        return Err(Error::Value(
            "Port 0 is not a port one can connect to".into(),
        ));
    }
    let mut last = None;
    for address in names::resolve_ipv4::<S>(destination, deadline).await? {
        match S::connect(SocketAddrV4::new(address, port), deadline).await {
            Ok(connection) => return Ok(connection),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Name("No IP address for host".into())))
}
