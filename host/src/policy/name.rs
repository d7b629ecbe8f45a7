//! [`AllowName`]: a policy rule by host name (egress by name), and its text form
//! `NAME[:PORT[-PORT]]`. A name rule allows looking the name up, and connecting to the
//! addresses that lookup answered, in this store, on the rule's ports ([`crate::pins`]).

use std::fmt;
use std::str::FromStr;

/// Which names a rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// This name.
    Exact(String),
    /// `*.SUFFIX`: a name of exactly one more label than `SUFFIX` (as a TLS wildcard
    /// certificate covers, RFC 6125 §6.4.3): `*.example.com` covers `a.example.com`, not
    /// `a.b.example.com` nor `example.com`.
    OneLabel(String),
    /// `.SUFFIX`: every name below `SUFFIX`, at any depth (as `NO_PROXY` reads a leading dot):
    /// `.svc.cluster.local` covers `redis.ns.svc.cluster.local`, not `svc.cluster.local`.
    Below(String),
}

/// One allowed service by name: a name, a one-label wildcard or a suffix, and a port range.
/// Names compare as DNS names do: without regard to ASCII case or a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowName {
    pattern: Pattern,
    first_port: u16,
    last_port: u16,
}

/// `name` as rules compare it: lower case, no trailing dot.
pub(crate) fn key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl AllowName {
    /// Every port of the names `pattern` covers (`name`, `*.suffix` or `.suffix`); `None`
    /// when it is not one ([`FromStr`] says why).
    pub fn names(pattern: &str) -> Option<Self> {
        parse_pattern(pattern).ok().map(|pattern| AllowName {
            pattern,
            first_port: 1,
            last_port: u16::MAX,
        })
    }

    /// Only the ports `first..=last`.
    pub fn ports(self, first: u16, last: u16) -> Self {
        AllowName {
            first_port: first.min(last),
            last_port: first.max(last),
            ..self
        }
    }

    /// Only `port`.
    pub fn port(self, port: u16) -> Self {
        self.ports(port, port)
    }

    /// Whether the rule covers `name` (any port).
    pub fn covers(&self, name: &str) -> bool {
        let name = key(name);
        match &self.pattern {
            Pattern::Exact(exact) => name == *exact,
            Pattern::OneLabel(suffix) => name
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            Pattern::Below(suffix) => name
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
        }
    }

    /// The rule's ports, `(first, last)`.
    pub fn port_range(&self) -> (u16, u16) {
        (self.first_port, self.last_port)
    }
}

/// A pattern's text, checked by the host-name rule both sides use (`alore_socket_rules`),
/// in ASCII only.
fn parse_pattern(text: &str) -> Result<Pattern, String> {
    let (make, name): (fn(String) -> Pattern, &str) = if let Some(rest) = text.strip_prefix("*.") {
        (Pattern::OneLabel, rest)
    } else if let Some(rest) = text.strip_prefix('.') {
        (Pattern::Below, rest)
    } else {
        (Pattern::Exact, text)
    };
    if !name.is_ascii() {
        return Err("an internationalized name is written in its ASCII form (xn--…)".into());
    }
    if name.contains('*') {
        return Err("a wildcard is only a first label of `*`".into());
    }
    alore_socket_rules::check_answered_name(name).map_err(str::to_owned)?;
    // All-numeric labels read as an address to a resolver ("127.1" is 127.0.0.1 to
    // getaddrinfo): a name rule must not become an address rule that way.
    let numeric = |label: &str| label.bytes().all(|b| b.is_ascii_digit());
    if name.trim_end_matches('.').split('.').all(numeric)
        || name.parse::<std::net::IpAddr>().is_ok()
    {
        return Err("an address is not a name".into());
    }
    Ok(make(key(name)))
}

/// Parses `NAME[:PORT[-PORT]]`: `redis.internal:6379`, `api.example.com:443`,
/// `*.svc.cluster.local:6379`, `.example.com:8000-8099`.
impl FromStr for AllowName {
    type Err = ParseAllowNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| ParseAllowNameError {
            rule: text.to_owned(),
            why,
        };
        let (name, ports) = match text.split_once(':') {
            Some((name, ports)) => (name, Some(ports)),
            None => (text, None),
        };
        let rule = AllowName {
            pattern: parse_pattern(name).map_err(bad)?,
            first_port: 1,
            last_port: u16::MAX,
        };
        let Some(ports) = ports else {
            return Ok(rule);
        };
        let (first, last) = super::parse_ports(ports)
            .ok_or_else(|| bad("a port is a number of 1 to 65535".into()))?;
        Ok(rule.ports(first, last))
    }
}

impl fmt::Display for AllowName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pattern {
            Pattern::Exact(name) => write!(f, "{name}")?,
            Pattern::OneLabel(suffix) => write!(f, "*.{suffix}")?,
            Pattern::Below(suffix) => write!(f, ".{suffix}")?,
        }
        write!(f, ":{}-{}", self.first_port, self.last_port)
    }
}

/// A name rule that is not `NAME[:PORT[-PORT]]`, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid name rule {rule:?}: {why}; expected NAME[:PORT[-PORT]], e.g. redis.internal:6379 \
     or *.svc.cluster.local:6379"
)]
pub struct ParseAllowNameError {
    rule: String,
    why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_match_as_dns_names_do() {
        let rule: AllowName = "Redis.Internal:6379".parse().unwrap();
        assert!(rule.covers("redis.internal"));
        assert!(rule.covers("REDIS.internal."));
        assert!(!rule.covers("redis.internal.evil"));
        assert!(!rule.covers("x.redis.internal"));
        assert!(!rule.covers("redis"));
        assert_eq!(rule.port_range(), (6379, 6379));
    }

    #[test]
    fn a_one_label_wildcard_covers_one_label_and_a_suffix_every_depth() {
        let one: AllowName = "*.svc.cluster.local:6379".parse().unwrap();
        assert!(one.covers("redis.svc.cluster.local"));
        assert!(!one.covers("a.redis.svc.cluster.local"), "one label only");
        assert!(!one.covers("svc.cluster.local"));
        assert!(
            !one.covers("xsvc.cluster.local"),
            "a label, not a string suffix"
        );
        let below: AllowName = ".svc.cluster.local".parse().unwrap();
        assert!(below.covers("redis.svc.cluster.local"));
        assert!(below.covers("a.b.svc.cluster.local"));
        assert!(!below.covers("svc.cluster.local"));
        assert!(!below.covers("evilsvc.cluster.local"));
        assert_eq!(below.port_range(), (1, 65535));
    }

    #[test]
    fn rules_print_as_they_parse() {
        for text in [
            "redis.internal:6379-6379",
            "*.svc.cluster.local:1-65535",
            ".example.com:8000-8099",
        ] {
            let rule: AllowName = text.parse().unwrap();
            assert_eq!(rule.to_string(), text);
        }
        assert_eq!(
            AllowName::names("api.example.com").unwrap().port(443),
            "api.example.com:443".parse().unwrap()
        );
    }

    #[test]
    fn bad_name_rules_say_why_in_one_line() {
        for (bad, why) in [
            ("", "Empty"),
            ("bücher.example:443", "xn--"),
            ("a.*.example:443", "wildcard"),
            ("**.example", "wildcard"),
            ("a b.example", "letter"),
            ("redis.internal:0", "port"),
            ("redis.internal:70000", "port"),
            ("redis.internal:", "port"),
            ("127.0.0.1", "address"),
            ("127.1:80", "address"),
            ("ex..ample", "empty label"),
        ] {
            let error = bad.parse::<AllowName>().unwrap_err().to_string();
            assert!(error.contains(why), "{bad:?}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }
}
