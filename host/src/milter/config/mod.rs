//! The milter's configuration file (TOML), validated as a whole when it is
//! loaded: every error names the line it is about, keys are read and
//! checked (permissions, format) before the first message, and a config
//! that does not load is never half applied (see `server` for reloads).
//!
//! The annotated example is `host/milter/waxseal.toml`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use ipnet::IpNet;
use serde::Deserialize;
use waxseal_core::verify::VerifyPolicy;
use waxseal_core::{Domain, Selector};

use crate::crypto::NativeKey;

mod file;
mod keyfile;

pub use keyfile::load_private_key;

/// What the milter does with a message when something goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let the message through (unsigned, or without a verdict).
    Accept,
    /// Ask the client to try again later (4xx): nothing is lost.
    Tempfail,
    /// Refuse the message (5xx).
    Reject,
}

/// Where the milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `inet:HOST:PORT` (Postfix's notation).
    Tcp(SocketAddr),
    /// `unix:/path`.
    Unix(PathBuf),
}

impl Listen {
    fn parse(s: &str) -> Result<Self> {
        if let Some(path) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("local:")) {
            if !path.starts_with('/') {
                bail!("unix socket path must be absolute: {s}");
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        let addr = s.strip_prefix("inet:").unwrap_or(s);
        let addr = addr.parse::<SocketAddr>().map_err(|_| {
            anyhow!("`{s}`: expected inet:IP:PORT (e.g. inet:127.0.0.1:8891) or unix:/path")
        })?;
        Ok(Listen::Tcp(addr))
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Tcp(a) => write!(f, "inet:{a}"),
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Who counts as one of ours (whose mail is signed).
#[derive(Debug, Clone)]
pub struct Trust {
    /// SASL-authenticated clients (`{auth_authen}` set).
    pub authenticated: bool,
    /// Client networks, each trusted or (written `!net`) excluded: the
    /// most specific network that holds a client decides (see
    /// [`Trust::network_of`]).
    pub networks: Vec<Network>,
    /// `{daemon_name}` values (Postfix `milter_macro_daemon_name`).
    pub daemon_names: Vec<String>,
    /// The SASL login must be an address in the From domain.
    pub login_must_match_from: bool,
}

/// A network of `[trust] networks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// The addresses; an IPv4-mapped IPv6 network is held as the IPv4
    /// network it maps (clients' addresses are compared that way too).
    pub net: IpNet,
    /// Written `!net`: its clients are not trusted by network, though a
    /// wider network holds them (OpenDKIM's `InternalHosts` `!` entries).
    pub excluded: bool,
}

impl Network {
    /// Parses `10.0.0.0/8`, `10.1.2.3`, `2001:db8::/32` or one of them
    /// after `!`.
    pub fn parse(text: &str) -> Option<Network> {
        let (excluded, n) = match text.strip_prefix('!') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, text),
        };
        let net = n
            .parse::<IpNet>()
            .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
            .ok()?;
        // ::ffff:a.b.c.d/n (n >= 96) is the IPv4 network a.b.c.d/(n - 96)
        let net = match net {
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
                None => net,
            },
            _ => net,
        };
        Some(Network { net, excluded })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.excluded {
            f.write_str("!")?;
        }
        write!(f, "{}", self.net)
    }
}

impl Trust {
    /// The network that decides whether `ip` is trusted by network: the
    /// most specific one that holds it (an exclusion, when a trusted
    /// network of the same length holds it too), as OpenDKIM reads its
    /// `InternalHosts`. Trusted when it is not an exclusion.
    pub fn network_of(&self, ip: IpAddr) -> Option<&Network> {
        // an IPv4-mapped IPv6 address is the IPv4 address
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.networks
            .iter()
            .filter(|n| n.net.contains(&ip))
            .max_by_key(|n| (n.net.prefix_len(), n.excluded))
    }
}

/// A signing key with the `d=` and `s=` it signs with; the key itself is
/// in [`Config::signing_keys`] at the same index.
pub struct Key {
    /// The name in the config.
    pub name: String,
    /// `d=`.
    pub domain: Domain,
    /// `s=`.
    pub selector: Selector,
    /// Where it was read from.
    pub file: PathBuf,
}

/// A pattern of the signing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `user@example.com`: that address.
    Address {
        /// Local part, compared without regard to case.
        local: String,
        /// Domain.
        domain: String,
    },
    /// `example.com`: that domain.
    Domain(String),
    /// `*.example.com`: every subdomain (not the domain itself).
    Subdomains(String),
}

impl Pattern {
    fn parse(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        // internationalized domains as their A-labels (RFC 8616)
        let lower = match lower.rsplit_once('@') {
            _ if lower.is_ascii() => lower,
            Some((local, d)) => format!("{local}@{}", crate::names::domain("from", d)?),
            None => match lower.strip_prefix("*.") {
                Some(parent) => format!("*.{}", crate::names::domain("from", parent)?),
                None => crate::names::domain("from", &lower)?.as_str().to_string(),
            },
        }
        .to_ascii_lowercase();
        // a fully qualified `example.com.` is the From domain `example.com`
        // (whose trailing dot the decision strips too)
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        if let Some((local, domain)) = lower.rsplit_once('@') {
            Domain::new(domain).map_err(|e| anyhow!("`{s}`: {e}"))?;
            if local.is_empty() {
                bail!("`{s}`: empty local part");
            }
            return Ok(Pattern::Address {
                local: local.into(),
                domain: domain.into(),
            });
        }
        if let Some(parent) = lower.strip_prefix("*.") {
            Domain::new(parent).map_err(|e| anyhow!("`{s}`: {e}"))?;
            return Ok(Pattern::Subdomains(parent.into()));
        }
        Domain::new(lower)
            .map_err(|e| anyhow!("`{s}`: {e} (a domain, *.domain or user@domain)"))?;
        Ok(Pattern::Domain(lower.into()))
    }

    /// How specific a match is: an address over a domain over a wildcard
    /// (deeper wildcards first).
    fn rank(&self, domain: &str, local: &str) -> Option<usize> {
        match self {
            Pattern::Address {
                local: l,
                domain: d,
            } => (d == domain && l.eq_ignore_ascii_case(local)).then_some(usize::MAX),
            Pattern::Domain(d) => (d == domain).then_some(usize::MAX - 1),
            Pattern::Subdomains(parent) => domain
                .strip_suffix(parent.as_str())
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
                .then_some(parent.len()),
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Address { local, domain } => write!(f, "{local}@{domain}"),
            Pattern::Domain(d) => f.write_str(d),
            Pattern::Subdomains(d) => write!(f, "*.{d}"),
        }
    }
}

/// A signing-table entry: mail from these senders is signed with these
/// keys, these options.
#[derive(Debug)]
pub struct Rule {
    /// The line of the entry in the config file.
    pub line: usize,
    /// Whose mail.
    pub from: Vec<Pattern>,
    /// Indexes into [`Config::keys`]: one signature each (RSA and
    /// Ed25519 for dual signing).
    pub keys: Vec<usize>,
    /// `c=`.
    pub canonicalization: Option<String>,
    /// Fields to sign (None: waxseal's default list).
    pub headers: Option<Vec<String>>,
    /// Fields to oversign.
    pub oversign: Option<Vec<String>>,
    /// Signatures expire this long after signing (`x=`).
    pub expire: Option<u64>,
}

/// What happens when, per failure class.
#[derive(Debug, Clone, Copy)]
pub struct Actions {
    /// A trusted sender's message that cannot be signed: no key for the
    /// From domain, no or several From fields, a login outside the From
    /// domain. Default: accept (delivered unsigned, reason logged).
    pub no_key: Action,
    /// Signing failed (a bad message, a key that does not sign).
    /// Default: tempfail.
    pub signing_error: Action,
    /// A key lookup for verification failed temporarily. Default: accept
    /// (delivered with `dkim=temperror`).
    pub dns_error: Action,
    /// The engine failed (sandbox deadline or memory). Default: tempfail.
    pub internal_error: Action,
    /// Too many messages at once. Default: tempfail.
    pub overload: Action,
}

/// Limits per message and for the process.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest header block handled: a larger one is not signed (the
    /// `signing_error` action; the signer's own limit, 1 MiB, applies
    /// too) and gets `permerror` when verified. Default 1 MiB.
    pub max_header_bytes: usize,
    /// Messages in progress at once; beyond, the `overload` action.
    /// Default 1024.
    pub max_messages: usize,
    /// The sandbox's deadline per step. Default 10 s.
    pub deadline: Duration,
    /// The sandbox's memory per instance. Default 256 MiB.
    pub memory: usize,
}

/// Inbound verification.
#[derive(Debug, Clone)]
pub struct Verify {
    /// Verify mail from senders who are not ours. Default: true.
    pub enabled: bool,
    /// Ask this DNS server instead of the system's.
    pub resolver: Option<SocketAddr>,
    /// The whole wait for the keys of one message, retries included.
    /// Default 5 s.
    pub dns_timeout: Duration,
    /// The verification policy (RFC 8301 and waxseal's defaults).
    pub policy: VerifyPolicy,
}

/// The whole configuration, checked.
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Where to listen.
    pub listen: Listen,
    /// Mode of a unix socket.
    pub socket_mode: Option<u32>,
    /// Owner (`user` or `user:group`) of a unix socket.
    pub socket_owner: Option<String>,
    /// The authserv-id of Authentication-Results (RFC 8601 2.5).
    pub authserv_id: String,
    /// Run the core linked in instead of the sandbox.
    pub native: bool,
    /// Who is ours.
    pub trust: Trust,
    /// Inbound verification.
    pub verify: Verify,
    /// Failure actions.
    pub actions: Actions,
    /// Limits.
    pub limits: Limits,
    /// The keys, in the order of the file.
    pub keys: Vec<Key>,
    /// The keys themselves, in native crypto, by the same index: what the
    /// engine lends to a message's signatures.
    pub signing_keys: Arc<Vec<NativeKey>>,
    /// The signing table, in file order.
    pub rules: Vec<Rule>,
    /// Things worth telling the operator that do not stop the milter.
    pub warnings: Vec<String>,
}

impl Config {
    /// The rule for a From address, the most specific match (an address,
    /// then the domain, then the deepest wildcard; the first in the file
    /// among equals).
    pub fn rule_for(&self, local: &str, domain: &str) -> Option<&Rule> {
        let mut best: Option<(usize, &Rule)> = None;
        for r in &self.rules {
            let rank = r.from.iter().filter_map(|p| p.rank(domain, local)).max();
            if let Some(rank) = rank
                && best.is_none_or(|(b, _)| rank > b)
            {
                best = Some((rank, r));
            }
        }
        best.map(|(_, r)| r)
    }
}

/// The sign specs of `rule`: one per key, with the handle of each key in
/// [`Config::keys`] and the time `now`.
pub fn rule_specs(rule: &Rule, keys: &[Key], now: u64) -> Vec<crate::engine::SignSpec> {
    rule.keys
        .iter()
        .map(|&k| crate::engine::SignSpec {
            key: k,
            spec: waxseal_core::SignSpec {
                domain: keys[k].domain.as_str().into(),
                selector: keys[k].selector.as_str().into(),
                identity: None,
                headers: rule.headers.clone(),
                oversign: rule.oversign.clone(),
                canonicalization: rule.canonicalization.clone(),
                timestamp: Some(now),
                expiration: rule.expire.map(|x| now.saturating_add(x)),
                body_length: false,
                copy_headers: false,
            },
        })
        .collect()
}
