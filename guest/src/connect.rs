//! A destination (a name or an address literal) and a port to a connection: check the
//! arguments before any traffic, resolve, and connect the way modern clients do (RFC 8305,
//! "Happy Eyeballs" version 2): the addresses of both families interleaved, each attempt
//! started [`CONNECTION_ATTEMPT_DELAY`] after the one before (or as soon as it fails), the
//! first to connect kept and the others cancelled, the last failure reported if none does.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::error::{Error, IoKind, message_of};
use crate::names;
use crate::sys::Sys;

/// How long an attempt has before the next one starts beside it: RFC 8305 §5's recommended
/// 250 ms, long enough for a connect on a working path (one round trip) and short enough
/// that a dead first family costs a user a quarter of a second, not a connect timeout.
pub(crate) const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Connect to `destination:port` by `deadline`, as the module's doc says.
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
    let literal = names::address_literal(destination)?;
    let addresses = names::resolve::<S>(destination, deadline).await?;
    let remotes: Vec<SocketAddr> = interleave(addresses)
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    race::<S>(&remotes, deadline).await.map_err(|e| match e {
        // Say which rule was missing: an address is reachable by an address rule, or as an
        // answer to a name a name rule allows, looked up in this instance.
        Error::Io {
            kind: IoKind::AccessDenied,
            ..
        } => Error::io(
            IoKind::AccessDenied,
            match literal {
                Some(ip) => format!(
                    "{}: no address rule allows {}, and no lookup of an allowed name here \
                     answered it",
                    message_of(IoKind::AccessDenied),
                    SocketAddr::new(ip, port)
                ),
                None => format!(
                    "{}: no rule allows port {port} of {destination}",
                    message_of(IoKind::AccessDenied)
                ),
            },
        ),
        e => e,
    })
}

/// RFC 8305 §4: the resolver's order within each family, the families alternating, starting
/// with the family of the resolver's first answer.
pub(crate) fn interleave(addresses: Vec<IpAddr>) -> Vec<IpAddr> {
    let Some(first) = addresses.first() else {
        return addresses;
    };
    let first_is_v6 = first.is_ipv6();
    let (mut firsts, mut seconds): (Vec<IpAddr>, Vec<IpAddr>) = addresses
        .into_iter()
        .partition(|ip| ip.is_ipv6() == first_is_v6);
    let mut order = Vec::with_capacity(firsts.len() + seconds.len());
    firsts.reverse();
    seconds.reverse();
    while let Some(ip) = firsts.pop() {
        order.push(ip);
        order.extend(seconds.pop());
    }
    order.extend(seconds.into_iter().rev());
    order
}

/// Start an attempt at each of `remotes` in turn, the next one when the last started has had
/// [`CONNECTION_ATTEMPT_DELAY`] or has failed, until one connects or `deadline` passes.
async fn race<S: Sys>(
    remotes: &[SocketAddr],
    deadline: S::Deadline,
) -> Result<S::Connection, Error> {
    let mut attempts = Vec::new();
    let mut next = remotes.iter();
    let mut last_failure = None;
    loop {
        if attempts.is_empty() {
            // Nothing in flight: start the next address now (one that cannot even start, as
            // an address of a family the host lacks, is a failure like any other).
            match next.next() {
                Some(&remote) => match S::start(remote) {
                    Ok(attempt) => attempts.push(attempt),
                    Err(e) => {
                        last_failure = Some(e);
                        continue;
                    }
                },
                None => {
                    return Err(last_failure
                        .unwrap_or_else(|| Error::Name("No IP address for host".into())));
                }
            }
        }
        let until = if !next.as_slice().is_empty() {
            S::earlier(S::after(CONNECTION_ATTEMPT_DELAY), deadline)
        } else {
            deadline
        };
        match S::settle(&mut attempts, until).await {
            Some(Ok(connection)) => return Ok(connection), // the others drop: cancelled
            Some(Err(e)) => last_failure = Some(e),
            None if S::passed(deadline) => {
                return Err(Error::io(IoKind::TimedOut, message_of(IoKind::TimedOut)));
            }
            None => {
                if let Some(&remote) = next.next() {
                    match S::start(remote) {
                        Ok(attempt) => attempts.push(attempt),
                        Err(e) => last_failure = Some(e),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(text: &str) -> Vec<IpAddr> {
        text.split_whitespace()
            .map(|t| t.parse().unwrap())
            .collect()
    }

    #[test]
    fn families_alternate_from_the_resolvers_first() {
        let order = interleave(ips("::1 ::2 ::3 1.0.0.1 1.0.0.2"));
        assert_eq!(order, ips("::1 1.0.0.1 ::2 1.0.0.2 ::3"));
        let order = interleave(ips("1.0.0.1 ::1 ::2 ::3 1.0.0.2"));
        assert_eq!(order, ips("1.0.0.1 ::1 1.0.0.2 ::2 ::3"));
        let order = interleave(ips("1.0.0.1 1.0.0.2"));
        assert_eq!(order, ips("1.0.0.1 1.0.0.2"));
        let order = interleave(ips("1.0.0.1 ::1 ::2 ::3"));
        assert_eq!(order, ips("1.0.0.1 ::1 ::2 ::3"));
        assert!(interleave(Vec::new()).is_empty());
    }
}
