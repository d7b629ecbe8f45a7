//! Host names: argument checks, dotted-decimal parsing, forward lookup through the edition's
//! `ip-name-lookup`, reverse lookup (hosts file, then DNS over UDP), and the host's name. WASI
//! has neither reverse lookup nor gethostname, so they are done the way a POSIX program does
//! them: files first, then DNS. Written once over [`Sys`], for both editions.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use alore_socket_rules::{
    self as rules, AddressError, HOSTNAME_ENV, HOSTNAME_FILE, HOSTS_FILE, RESOLV_CONF_FILE,
    RESOLVER_ENV, ResolvConf, etc_path, parse_ip,
};

use crate::dns::{self, Reply};
use crate::error::{Error, IoKind};
use crate::stream::{Reading, Transport, Writing};
use crate::sys::Sys;

/// Check a destination or name before any traffic; the rule is the host's too.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    rules::check_name(name).map_err(|why| Error::Value(why.into()))
}

/// An address literal ([`alore_socket_rules::parse_ip`]: IPv4, IPv6, a mapped address as its
/// IPv4 one), `None` for a name, or a `value-error` for an IPv6 literal with a zone.
pub(crate) fn address_literal(text: &str) -> Result<Option<IpAddr>, Error> {
    match parse_ip(text) {
        Ok(ip) => Ok(Some(ip)),
        Err(AddressError::NotAnAddress) => Ok(None),
        Err(e @ AddressError::Zone) => Err(Error::Value(format!("Invalid address: {e}"))),
    }
}

/// The host name a socket was connected to (`start-tls`'s default server name): the
/// destination, unless it was an address.
pub(crate) fn name_of_destination(destination: String) -> Option<String> {
    matches!(parse_ip(&destination), Err(AddressError::NotAnAddress)).then_some(destination)
}

/// Where a server socket listens: `address` (an address literal of either family; IPv4's
/// any address when left out, as Alore's) and `port`.
pub(crate) fn listen_address(address: Option<String>, port: u16) -> Result<SocketAddr, Error> {
    let ip = match address {
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        Some(text) => address_literal(&text)?.ok_or_else(|| {
            Error::Value(format!(
                "Invalid address: {text:?} is not dotted-decimal IPv4 or an IPv6 address"
            ))
        })?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// The addresses of a `name` that passed [`check_name`], both families, in the resolver's
/// order. An address literal is its own answer and never reaches the resolver.
pub(crate) async fn resolve<S: Sys>(
    name: &str,
    deadline: S::Deadline,
) -> Result<Vec<IpAddr>, Error> {
    if let Some(address) = address_literal(name)? {
        return Ok(vec![address]);
    }
    let addresses: Vec<IpAddr> = S::resolve(name, deadline)
        .await?
        .into_iter()
        .map(rules::canonical)
        .collect();
    if addresses.is_empty() {
        return Err(Error::Name("No IP address for host".into()));
    }
    Ok(addresses)
}

/// `get-host-by-name`: an address literal as it is (in its standard text); a name as its
/// first IPv4 address, Alore's meaning, or its first IPv6 one when it has no IPv4 address.
pub(crate) async fn host_by_name<S: Sys>(name: &str) -> Result<String, Error> {
    check_name(name)?;
    let addresses = resolve::<S>(name, S::NEVER).await?;
    let first = addresses
        .iter()
        .find(|ip| ip.is_ipv4())
        .unwrap_or(&addresses[0]);
    Ok(first.to_string())
}

/// `get-host-addresses`: every address of `name`, both families, in the resolver's order; an
/// address literal as it is.
pub(crate) async fn host_addresses<S: Sys>(name: &str) -> Result<Vec<String>, Error> {
    check_name(name)?;
    let addresses = resolve::<S>(name, S::NEVER).await?;
    Ok(addresses.iter().map(IpAddr::to_string).collect())
}

/// `get-host-by-address`: an address literal of either family only; then the hosts file;
/// then a DNS PTR query (`in-addr.arpa` or `ip6.arpa`) over UDP (TCP when the answer is
/// truncated), within the configured tries.
pub(crate) async fn host_by_address<S: Sys>(address: &str) -> Result<String, Error> {
    let Some(ip) = address_literal(address)? else {
        return Err(Error::Value(format!(
            "Invalid address: {address:?} is not dotted-decimal IPv4 or an IPv6 address"
        )));
    };
    if let Some(hosts) = S::read_file(&etc_path(HOSTS_FILE)).await
        && let Some(name) = dns::name_in_hosts(&hosts, ip)
    {
        return Ok(name);
    }
    let conf = S::read_file(&etc_path(RESOLV_CONF_FILE))
        .await
        .map(|text| ResolvConf::parse(&text))
        .unwrap_or_default();
    let servers = match S::env(RESOLVER_ENV) {
        Some(text) => vec![
            rules::parse_resolver(&text)
                .map_err(|why| Error::Name(format!("{RESOLVER_ENV}: {why}")))?,
        ],
        None => conf.nameservers.clone(),
    };
    if servers.is_empty() {
        return Err(Error::Name(format!(
            "Unknown host: {address} is not in {}, and no resolver is configured \
             (no nameserver in {}, no {RESOLVER_ENV})",
            etc_path(HOSTS_FILE),
            etc_path(RESOLV_CONF_FILE)
        )));
    }
    reverse_dns::<S>(ip, &servers, &conf).await
}

/// Every server once per attempt, each try bounded by the timeout: the longest wait is
/// attempts × servers × timeout (three times that for a try that falls back to TCP: the UDP
/// try, the TCP connect and the TCP exchange).
async fn reverse_dns<S: Sys>(
    ip: IpAddr,
    servers: &[SocketAddrV4],
    conf: &ResolvConf,
) -> Result<String, Error> {
    let name = dns::ptr_name(ip);
    let mut last_failure = String::new();
    for _ in 0..conf.attempts {
        for &server in servers {
            // Unpredictable IDs make forged answers harder to slip in.
            let id = S::random_u64() as u16;
            let query = dns::ptr_query(id, &name)?;
            let is_ours = |message: &[u8]| dns::answers(message, id, &name);
            let deadline = S::after(conf.timeout);
            let reply = match S::udp_exchange(server, &query, deadline, is_ours).await {
                Ok(Some(message)) => dns::read_reply(&message, &name),
                Ok(None) => {
                    last_failure = format!("no answer from {server} within {:?}", conf.timeout);
                    continue;
                }
                Err(e) => {
                    last_failure = format!("{server}: {e}");
                    continue;
                }
            };
            let reply = match reply {
                Reply::Truncated => {
                    let framed = dns::tcp_frame(&query)?;
                    match tcp_request::<S>(server, &framed, conf.timeout, dns::tcp_unframe).await {
                        Ok(message) if is_ours(&message) => dns::read_reply(&message, &name),
                        Ok(_) => Reply::Failed("a TCP answer to another question".into()),
                        Err(e) => Reply::Failed(format!("over TCP: {e}")),
                    }
                }
                reply => reply,
            };
            match reply {
                Reply::Name(host) => return Ok(host),
                Reply::NoSuchName => {
                    return Err(Error::Name(format!(
                        "Unknown host: {name} does not exist (NXDOMAIN from {server})"
                    )));
                }
                Reply::NoRecord => {
                    return Err(Error::Name(format!(
                        "Unknown host: {name} has no PTR record ({server})"
                    )));
                }
                Reply::Invalid(why) => {
                    return Err(Error::Name(format!(
                        "Unknown host: {server} answered for {name}, but {why}"
                    )));
                }
                Reply::Truncated => last_failure = format!("{server}: truncated over TCP too"),
                Reply::Failed(why) => last_failure = format!("{server}: {why}"),
            }
        }
    }
    Err(Error::Name(format!(
        "Temporary name server error: no answer for {name} after {} tries: {last_failure}",
        conf.attempts
    )))
}

/// Send `request` over a new TCP connection to `server` and read until `reply` finds a whole
/// answer in what has arrived: the connect within `timeout`, then the exchange within
/// `timeout` (`timed-out` after). The framing is the caller's: `reply` returns the answer once
/// the bytes hold one.
async fn tcp_request<S: Sys>(
    server: SocketAddrV4,
    request: &[u8],
    timeout: Duration,
    reply: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, Error> {
    let mut connection = S::connect(SocketAddr::V4(server), S::after(timeout)).await?;
    connection.set_deadline(Some(timeout));
    let mut sent = 0;
    while sent < request.len() {
        sent += connection.write(&request[sent..]).await?;
    }
    connection.flush().await?;
    let mut received = Vec::new();
    loop {
        if let Some(answer) = reply(&received) {
            return Ok(answer);
        }
        let chunk = connection.read(u16::MAX.into()).await?;
        if chunk.is_empty() {
            return Err(Error::io(
                IoKind::ConnectionReset,
                "the server closed the connection before it answered",
            ));
        }
        received
            .try_reserve(chunk.len())
            .map_err(|_| Error::out_of_memory())?;
        received.extend_from_slice(&chunk);
    }
}

/// `get-host-name`: `$HOSTNAME`, else the first line of `/etc/hostname`.
pub(crate) async fn host_name<S: Sys>() -> Result<String, Error> {
    let from_env = S::env(HOSTNAME_ENV).map(|name| name.trim().to_owned());
    let from_env = from_env.filter(|name| !name.is_empty());
    let from_file = match from_env {
        Some(_) => None,
        None => S::read_file(&etc_path(HOSTNAME_FILE))
            .await
            .and_then(|text| Some(text.lines().next()?.trim().to_owned()))
            .filter(|name| !name.is_empty()),
    };
    from_env.or(from_file).ok_or_else(|| {
        Error::Name(format!(
            "Unknown host name: the host gave neither {HOSTNAME_ENV} nor {}",
            etc_path(HOSTNAME_FILE)
        ))
    })
}

/// `server-name` as `start-tls` takes it: the name given, checked as a host name, or the name
/// the socket was connected to.
pub(crate) fn server_name(
    given: Option<String>,
    connected_to: Option<&str>,
) -> Result<String, Error> {
    match given {
        Some(name) => {
            check_name(&name)?;
            if !matches!(parse_ip(&name), Err(AddressError::NotAnAddress)) {
                return Err(Error::Value(
                    "A TLS server name is a host name, not an address".into(),
                ));
            }
            Ok(name)
        }
        None => connected_to.map(str::to_owned).ok_or_else(|| {
            Error::Value(
                "This socket was not connected to a host name: give start-tls the server's name"
                    .into(),
            )
        }),
    }
}
