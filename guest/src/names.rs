//! Host names: argument checks, dotted-decimal parsing, and forward lookup through
//! `wasi:sockets/ip-name-lookup`.

use std::net::Ipv4Addr;

use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{ErrorCode, IpAddress};

use crate::error::{self, Error};

/// The longest host name DNS can carry in text form (RFC 1035: 255 octets on the wire).
pub const MAX_NAME_LENGTH: usize = 253;

/// Check a destination or name before any traffic (spec decision 7).
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::Value("Empty host name".into()));
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(Error::Value(format!(
            "Host name longer than {MAX_NAME_LENGTH} bytes"
        )));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Value(
            "Host name contains a space, NUL or control character".into(),
        ));
    }
    Ok(())
}

/// A strict dotted-decimal IPv4 address, as `inet_pton(AF_INET)` takes it: four decimal
/// parts of 0..=255 with no leading zeros. ("127.1" is not one.)
pub fn parse_ipv4(text: &str) -> Option<Ipv4Addr> {
    text.parse().ok()
}

/// The IPv4 addresses of a `name` that passed [`check_name`], in the resolver's order. A
/// dotted-decimal name is its own answer and never reaches the resolver.
pub fn resolve_ipv4(name: &str) -> Result<Vec<Ipv4Addr>, Error> {
    if let Some(address) = parse_ipv4(name) {
        return Ok(vec![address]);
    }
    let addresses = lookup(name).map_err(|code| match code {
        ErrorCode::InvalidArgument => Error::Value(format!("Invalid host name: {name:?}")),
        code => error::from_code(code),
    })?;
    let ipv4: Vec<Ipv4Addr> = addresses
        .into_iter()
        .filter_map(|address| match address {
            IpAddress::Ipv4((a, b, c, d)) => Some(Ipv4Addr::new(a, b, c, d)),
            IpAddress::Ipv6(_) => None,
        })
        .collect();
    if ipv4.is_empty() {
        return Err(Error::Name("No IP address for host".into()));
    }
    Ok(ipv4)
}

fn lookup(name: &str) -> Result<Vec<IpAddress>, ErrorCode> {
    let network = instance_network();
    let stream = resolve_addresses(&network, name)?;
    // Declared after `stream`, so dropped before it: a pollable is its stream's child.
    let ready = stream.subscribe();
    let mut addresses = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(address)) => addresses.push(address),
            Ok(None) => return Ok(addresses),
            Err(ErrorCode::WouldBlock) => ready.block(),
            Err(code) => return Err(code),
        }
    }
}

/// `get-host-by-name`: dotted decimal as it is, a name as its first IPv4 address.
pub fn host_by_name(name: &str) -> Result<String, Error> {
    check_name(name)?;
    Ok(resolve_ipv4(name)?[0].to_string())
}

/// `get-host-by-address`: the argument is checked; WASI 0.2 has no reverse lookup, and the
/// files-then-DNS implementation is not built yet.
pub fn host_by_address(address: &str) -> Result<String, Error> {
    if parse_ipv4(address).is_none() {
        return Err(Error::Value(format!(
            "Invalid address: {address:?} is not dotted-decimal IPv4"
        )));
    }
    Err(Error::Name(
        "Reverse lookup is not supported yet by this component".into(),
    ))
}

/// `get-host-name`: WASI 0.2 has no gethostname, and the environment-then-file
/// implementation is not built yet.
pub fn host_name() -> Result<String, Error> {
    Err(Error::Name(
        "Host name lookup is not supported yet by this component".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(check_name(&"a".repeat(253)).is_ok());
        for bad in ["", "a b", "a\0b", "a\tb", "a\nb", &"a".repeat(254)] {
            assert!(matches!(check_name(bad), Err(Error::Value(_))), "{bad:?}");
        }
    }
}
