//! The policy as command-line flags (feature `flags`): the one parser that the CLI and the
//! containerd shim share, and the [`PolicyDocument`] an image carries them in.
//!
//! A document is the flags as text, with the CA certificates that `--tls-ca` names inlined
//! (a path on the machine that built an image means nothing where it runs):
//!
//! ```json
//! {"alore-socket-policy": 1, "flags": ["--allow", "127.0.0.1/32:7000-7000"], "tls-ca": []}
//! ```

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::{Allow, AllowName, Error, ParseAllowError, ParseAllowNameError, Policy};

/// The media type of an image layer that holds a [`PolicyDocument`] (the Wasm OCI artifact
/// form of an image: the component is the `application/wasm` layer beside it).
pub const POLICY_MEDIA_TYPE: &str = "application/vnd.alore-socket.policy.v1+json";

/// Where an image in the plain-layer form (one tar layer, as containerd 1.6 imports) keeps its
/// [`PolicyDocument`], beside the component.
pub const POLICY_FILE: &str = "/alore-socket/policy.json";

/// The image annotation and config label that repeat the [`PolicyDocument`], for people and
/// tools that inspect an image (the shim reads the layer or the file, which a registry cannot
/// separate from the component's digest).
pub const POLICY_ANNOTATION: &str = "org.alore-socket.policy";

/// The largest policy document read: Mozilla's whole root store as PEM is about 200 KiB, so
/// four times that holds any private CA bundle, and a hostile image cannot make the shim
/// parse more.
pub const MAX_POLICY_DOCUMENT: usize = 1 << 20;

/// The format version [`PolicyDocument`] writes and reads; a document of another version is
/// refused rather than half-understood.
const DOCUMENT_VERSION: u64 = 1;

/// The policy's flags, as `alore-socket` takes them. (The fields' docs are the flags' help
/// text, written for a terminal: `[::1]` there is an address, not a link.)
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Parser, Debug, Clone, Default)]
pub struct PolicyFlags {
    /// Allow TCP connections to these addresses and ports (repeatable), e.g. 127.0.0.1:8080,
    /// 10.0.0.0/8, 127.0.0.1:8000-8099, [::1]:8080, [2001:db8::]/32:443 (IPv6 in brackets
    /// when a port follows). An IPv4 rule also covers the IPv4-mapped IPv6 form of its
    /// addresses, and nothing else of IPv6. Or to a service by name: redis.internal:6379,
    /// *.svc.cluster.local:6379 (one label), .example.com:443 (any depth): the name may be
    /// looked up, and the addresses that lookup answers may be connected to on those ports,
    /// for five minutes.
    #[arg(
        long = "allow",
        value_name = "ADDR[/BITS][:PORT[-PORT]]|NAME[:PORT[-PORT]]",
        global = true
    )]
    pub allow: Vec<Rule>,
    /// Allow server sockets on these addresses and ports (repeatable), e.g. 127.0.0.1:8000,
    /// [::1]:8000.
    /// Accepted peers must be allowed by --allow, as if the component had connected to them.
    #[arg(
        long = "allow-listen",
        value_name = "ADDR[/BITS][:PORT[-PORT]]",
        global = true
    )]
    pub allow_listen: Vec<Allow>,
    /// Allow host name lookups through this machine's resolver.
    #[arg(long, global = true)]
    pub allow_lookup: bool,
    /// Give the component what reverse lookups and host-name need, for commands that do not
    /// get it by default (run, connect, serve, lookup): a private read-only /etc with copies
    /// of hosts, resolv.conf and hostname; $HOSTNAME; UDP and TCP to the resolvers on their
    /// port. In `run` the whole composition shares these grants: the application can then
    /// send its own packets to those resolvers.
    #[arg(long, global = true, conflicts_with = "no_reverse_lookup")]
    pub allow_reverse_lookup: bool,
    /// Withhold what reverse lookups need from `reverse` and `hostname`, which get it by
    /// default.
    #[arg(long, global = true)]
    pub no_reverse_lookup: bool,
    /// Allow TLS (start-tls): the component's TLS build runs, and the store gets wasi:tls,
    /// trusting Mozilla's roots and --tls-ca. In `run` the application can then make TLS
    /// connections of its own too, over the connections --allow grants.
    #[arg(long, global = true)]
    pub allow_tls: bool,
    /// Also trust the CA certificates in this PEM file (repeatable), e.g. a private CA's.
    /// Needs --allow-tls (or connect --tls).
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_ca: Vec<PathBuf>,
    /// Send reverse lookups to this DNS server instead of resolv.conf's nameservers.
    #[arg(long, value_name = "IP[:PORT]", global = true, value_parser = alore_socket_rules::parse_resolver)]
    pub resolver: Option<SocketAddrV4>,
    /// The most memory the component (in `run`: the whole composition) may use, in MiB
    /// [default: 256].
    #[arg(long, value_name = "MIB", global = true, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub memory_limit: Option<u32>,
    /// Stop each call into the component (in `run`: the whole run) after this many
    /// milliseconds [default: none].
    #[arg(long, value_name = "MS", global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub deadline: Option<u64>,
}

/// What is wrong in a clap error, on one line: clap's first paragraph says it; the rest is
/// usage advice.
pub fn clap_error_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let what = text.split("\n\n").next().unwrap_or_default();
    let what = what.strip_prefix("error: ").unwrap_or(what);
    alore_socket_rules::one_line(what)
}

/// What a command grants beyond its flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct Implied {
    /// Reverse lookups (`reverse`, `hostname`): given unless `--no-reverse-lookup`.
    pub reverse_lookup: bool,
    /// TLS (`connect --tls`).
    pub tls: bool,
}

impl PolicyFlags {
    /// Parse flags, e.g. a [`PolicyDocument`]'s, as the CLI would; the error is one line.
    pub fn parse_args<I, T>(args: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        let args = std::iter::once("policy".into()).chain(args.into_iter().map(Into::into));
        Self::try_parse_from(args).map_err(|e| Error::InvalidPolicy(clap_error_line(&e)))
    }

    /// The policy the flags make, with what the command implies, reading `--tls-ca` files.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`]: `--tls-ca` without TLS, a CA file that cannot be read or
    /// holds no certificate.
    pub fn policy(&self, implied: Implied) -> Result<Policy, Error> {
        let mut pems = Vec::with_capacity(self.tls_ca.len());
        for file in &self.tls_ca {
            let pem = std::fs::read(file).map_err(|e| {
                Error::InvalidPolicy(format!("cannot read {}: {e}", file.display()))
            })?;
            pems.push((pem, file.display().to_string()));
        }
        self.policy_with_roots(implied, &pems)
    }

    fn policy_with_roots(
        &self,
        implied: Implied,
        pems: &[(Vec<u8>, String)],
    ) -> Result<Policy, Error> {
        let mut policy = self
            .allow
            .iter()
            .fold(Policy::deny_all(), |p, rule| match rule {
                Rule::Address(rule) => p.allow(*rule),
                Rule::Name(rule) => p.allow_name(rule.clone()),
            });
        // Reverse lookups need grants (an /etc, UDP and TCP to the resolvers) that a
        // composition would share with the application: only commands that are reverse
        // lookups get them unasked.
        let reverse = if implied.reverse_lookup {
            !self.no_reverse_lookup
        } else {
            self.allow_reverse_lookup
        };
        policy = self
            .allow_listen
            .iter()
            .fold(policy, |p, &rule| p.allow_listen(rule))
            .allow_lookup(self.allow_lookup)
            .allow_reverse_lookup(reverse);
        if let Some(resolver) = self.resolver {
            policy = policy.resolver(resolver);
        }
        let tls = self.allow_tls || implied.tls;
        if !pems.is_empty() && !tls {
            return Err(Error::InvalidPolicy(
                "--tls-ca needs --allow-tls (or connect --tls)".into(),
            ));
        }
        policy = policy.allow_tls(tls);
        for (pem, what) in pems {
            policy = policy.tls_root_pem(pem, what)?;
        }
        if let Some(mib) = self.memory_limit {
            policy = policy.memory_limit(usize::try_from(mib).unwrap_or(usize::MAX) << 20);
        }
        if let Some(ms) = self.deadline {
            policy = policy.call_deadline(Some(Duration::from_millis(ms)));
        }
        Ok(policy)
    }

    /// The flags as text that [`PolicyFlags::parse_args`] reads back to the same policy,
    /// without `--tls-ca` (a document inlines the certificates).
    fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut flag = |name: &str, value: Option<String>| {
            args.push(format!("--{name}"));
            args.extend(value);
        };
        for rule in &self.allow {
            flag("allow", Some(rule.to_string()));
        }
        for rule in &self.allow_listen {
            flag("allow-listen", Some(rule.to_string()));
        }
        let switches = [
            ("allow-lookup", self.allow_lookup),
            ("allow-reverse-lookup", self.allow_reverse_lookup),
            ("no-reverse-lookup", self.no_reverse_lookup),
            ("allow-tls", self.allow_tls),
        ];
        for (name, on) in switches {
            if on {
                flag(name, None);
            }
        }
        if let Some(resolver) = self.resolver {
            flag("resolver", Some(resolver.to_string()));
        }
        if let Some(mib) = self.memory_limit {
            flag("memory-limit", Some(mib.to_string()));
        }
        if let Some(ms) = self.deadline {
            flag("deadline", Some(ms.to_string()));
        }
        args
    }
}

/// An `--allow` rule: by address, or by name.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `ADDR[/BITS][:PORT[-PORT]]`.
    Address(Allow),
    /// `NAME[:PORT[-PORT]]`.
    Name(AllowName),
}

/// An address rule when the text starts with an address (or a bracket), else a name rule;
/// each says what is wrong with it in its own terms.
impl std::str::FromStr for Rule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let head = text.split(['/', ':']).next().unwrap_or_default();
        let address = text.starts_with('[')
            || text.matches(':').count() > 1
            || alore_socket_rules::parse_ip(head).is_ok()
            || head.parse::<std::net::IpAddr>().is_ok();
        if address {
            text.parse()
                .map(Rule::Address)
                .map_err(|e: ParseAllowError| e.to_string())
        } else {
            text.parse()
                .map(Rule::Name)
                .map_err(|e: ParseAllowNameError| e.to_string())
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Address(rule) => rule.fmt(f),
            Rule::Name(rule) => rule.fmt(f),
        }
    }
}

/// The policy an image carries: the flags, and the PEM text of each `--tls-ca` file.
#[derive(Debug, Clone)]
pub struct PolicyDocument {
    flags: PolicyFlags,
    tls_ca: Vec<String>,
}

impl PolicyDocument {
    /// The document of `flags` as a command that implies nothing (`run`) reads them: the
    /// CA files are read now and inlined, and the policy is built once to check it.
    ///
    /// # Errors
    /// As [`PolicyFlags::policy`]; a CA file that is not UTF-8 text.
    pub fn new(flags: &PolicyFlags) -> Result<Self, Error> {
        let mut tls_ca = Vec::with_capacity(flags.tls_ca.len());
        for file in &flags.tls_ca {
            let pem = std::fs::read_to_string(file).map_err(|e| {
                Error::InvalidPolicy(format!("cannot read {}: {e}", file.display()))
            })?;
            tls_ca.push(pem);
        }
        let document = PolicyDocument {
            flags: PolicyFlags {
                tls_ca: Vec::new(),
                ..flags.clone()
            },
            tls_ca,
        };
        document.policy()?;
        Ok(document)
    }

    /// The flags (without `--tls-ca`: see [`PolicyDocument::tls_ca`]).
    pub fn flags(&self) -> &PolicyFlags {
        &self.flags
    }

    /// The CA certificates, as PEM text, one entry per `--tls-ca` file.
    pub fn tls_ca(&self) -> &[String] {
        &self.tls_ca
    }

    /// The policy it describes, for `run`.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] when a certificate does not parse.
    pub fn policy(&self) -> Result<Policy, Error> {
        let pems: Vec<(Vec<u8>, String)> = self
            .tls_ca
            .iter()
            .enumerate()
            .map(|(i, pem)| (pem.clone().into_bytes(), format!("tls-ca[{i}]")))
            .collect();
        self.flags.policy_with_roots(Implied::default(), &pems)
    }

    /// The document as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "alore-socket-policy": DOCUMENT_VERSION,
            "flags": self.flags.to_args(),
            "tls-ca": self.tls_ca,
        })
        .to_string()
    }

    /// Read a document: JSON of this version with exactly the fields it writes, flags the
    /// CLI takes, no `--tls-ca` (certificates are inlined).
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`], one line saying what is wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |why: String| Error::InvalidPolicy(format!("the policy document: {why}"));
        if bytes.len() > MAX_POLICY_DOCUMENT {
            return Err(bad(format!(
                "{} bytes, more than the {MAX_POLICY_DOCUMENT} read",
                bytes.len()
            )));
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        if let Some(key) = object
            .keys()
            .find(|key| !["alore-socket-policy", "flags", "tls-ca"].contains(&key.as_str()))
        {
            return Err(bad(format!("unknown field {key:?}")));
        }
        match object.get("alore-socket-policy").and_then(|v| v.as_u64()) {
            Some(DOCUMENT_VERSION) => {}
            Some(other) => {
                return Err(bad(format!(
                    "version {other}; this host reads version {DOCUMENT_VERSION}"
                )));
            }
            None => return Err(bad("no \"alore-socket-policy\" version number".into())),
        }
        let strings = |key: &str| -> Result<Vec<String>, Error> {
            let Some(value) = object.get(key) else {
                return Ok(Vec::new());
            };
            let items = value
                .as_array()
                .ok_or_else(|| bad(format!("{key:?} is not an array")))?;
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad(format!("{key:?} holds something other than text")))
                })
                .collect()
        };
        let flags = PolicyFlags::parse_args(strings("flags")?)
            .map_err(|e| bad(format!("its flags: {e}")))?;
        if !flags.tls_ca.is_empty() {
            return Err(bad(
                "--tls-ca names a file; a document carries its certificates in \"tls-ca\"".into(),
            ));
        }
        let document = PolicyDocument {
            flags,
            tls_ca: strings("tls-ca")?,
        };
        document.policy()?;
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> PolicyFlags {
        PolicyFlags::parse_args(args).expect("valid flags")
    }

    #[test]
    fn a_document_reads_back_to_the_same_flags() {
        let original = flags(&[
            "--allow",
            "127.0.0.1:7000",
            "--allow",
            "*.svc.cluster.local:6379",
            "--allow",
            "[::1]/128:1-2",
            "--allow-listen",
            "0.0.0.0:8080",
            "--allow-lookup",
            "--resolver",
            "10.0.0.10",
            "--memory-limit",
            "64",
            "--deadline",
            "1500",
        ]);
        let json = PolicyDocument::new(&original).unwrap().to_json();
        let read = PolicyDocument::from_json(json.as_bytes()).unwrap();
        assert_eq!(read.flags().to_args(), original.to_args());
        let policy = read.policy().unwrap();
        assert!(policy.allows_connect("127.0.0.1:7000".parse().unwrap()));
        assert!(!policy.allows_connect("127.0.0.1:7001".parse().unwrap()));
        assert!(policy.allows_lookup_of("redis.svc.cluster.local"));
        assert!(policy.allows_listen("0.0.0.0:8080".parse().unwrap()));
    }

    #[test]
    fn an_empty_document_denies_everything() {
        let read = PolicyDocument::from_json(br#"{"alore-socket-policy":1}"#).unwrap();
        let policy = read.policy().unwrap();
        assert!(!policy.allows_connect("127.0.0.1:80".parse().unwrap()));
        assert!(!policy.allows_lookup() && !policy.allows_tls());
    }

    #[test]
    fn bad_documents_say_what_is_wrong_on_one_line() {
        let cases: [(&[u8], &str); 7] = [
            (b"[1]", "not a JSON object"),
            (b"{", "not JSON"),
            (br#"{"alore-socket-policy":2}"#, "version 2"),
            (br#"{"flags":[]}"#, "version number"),
            (
                br#"{"alore-socket-policy":1,"allow":[]}"#,
                "unknown field \"allow\"",
            ),
            (
                br#"{"alore-socket-policy":1,"flags":["--allow","nope:0"]}"#,
                "its flags",
            ),
            (
                br#"{"alore-socket-policy":1,"flags":["--tls-ca","/ca.pem","--allow-tls"]}"#,
                "--tls-ca names a file",
            ),
        ];
        for (json, expected) in cases {
            let e = PolicyDocument::from_json(json).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let huge = vec![b' '; MAX_POLICY_DOCUMENT + 1];
        let e = PolicyDocument::from_json(&huge).unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
    }
}
