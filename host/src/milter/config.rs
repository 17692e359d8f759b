//! The milter's configuration file (TOML), validated as a whole when it is
//! loaded: every error names the line it is about, keys are read and
//! checked (permissions, format) before the first message, and a config
//! that does not load is never half applied (see `server` for reloads).
//!
//! The annotated example is `host/milter/waxseal.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;
use waxseal_core::verify::VerifyPolicy;
use waxseal_core::{Domain, PrivateKey, Selector};

use crate::crypto::NativeKey;

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
    /// Client networks.
    pub networks: Vec<IpNet>,
    /// `{daemon_name}` values (Postfix `milter_macro_daemon_name`).
    pub daemon_names: Vec<String>,
    /// The SASL login must be an address in the From domain.
    pub login_must_match_from: bool,
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
        Domain::new(&lower)
            .map_err(|e| anyhow!("`{s}`: {e} (a domain, *.domain or user@domain)"))?;
        Ok(Pattern::Domain(lower))
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
    /// Largest header block handled (signing refuses, verification gives
    /// `permerror`). Default 1 MiB.
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

// ------------------------------------------------------------- raw form

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    listen: Spanned<String>,
    socket_mode: Option<Spanned<String>>,
    socket_owner: Option<String>,
    authserv_id: Option<String>,
    #[serde(default)]
    engine: Option<Spanned<String>>,
    #[serde(default)]
    trust: RawTrust,
    #[serde(default)]
    verify: RawVerify,
    #[serde(default)]
    actions: RawActions,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<RawKey>>,
    #[serde(default)]
    signing: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTrust {
    authenticated: bool,
    networks: Spanned<Vec<String>>,
    daemon_names: Vec<String>,
    login_must_match_from: bool,
}

impl Default for RawTrust {
    fn default() -> Self {
        RawTrust {
            authenticated: true,
            networks: Spanned::new(0..0, vec!["127.0.0.1/32".into(), "::1/128".into()]),
            daemon_names: Vec::new(),
            login_must_match_from: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawVerify {
    enabled: bool,
    resolver: Option<Spanned<String>>,
    dns_timeout: u64,
    min_rsa_bits: usize,
    allow_rsa_sha1: bool,
    allow_unsigned_body_tail: bool,
    ignore_expiration: bool,
    allow_from_count: bool,
    clock_skew: u64,
    max_signatures: usize,
}

impl Default for RawVerify {
    fn default() -> Self {
        let p = VerifyPolicy::default();
        RawVerify {
            enabled: true,
            resolver: None,
            dns_timeout: 5,
            min_rsa_bits: p.min_rsa_bits,
            allow_rsa_sha1: p.allow_rsa_sha1,
            allow_unsigned_body_tail: p.allow_unsigned_body_tail,
            ignore_expiration: p.ignore_expiration,
            allow_from_count: p.allow_from_count,
            clock_skew: p.clock_skew,
            max_signatures: p.max_signatures,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawActions {
    no_key: Action,
    signing_error: Action,
    dns_error: Action,
    internal_error: Action,
    overload: Action,
}

impl Default for RawActions {
    fn default() -> Self {
        RawActions {
            no_key: Action::Accept,
            signing_error: Action::Tempfail,
            dns_error: Action::Accept,
            internal_error: Action::Tempfail,
            overload: Action::Tempfail,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max_header_bytes: usize,
    max_messages: usize,
    sandbox_deadline: u64,
    sandbox_memory_mib: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_header_bytes: waxseal_core::sign::DEFAULT_MAX_HEADER_BYTES,
            max_messages: 1024,
            sandbox_deadline: 10,
            sandbox_memory_mib: 256,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    domain: String,
    selector: String,
    file: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    from: OneOrMany,
    keys: OneOrMany,
    canonicalization: Option<String>,
    headers: Option<Vec<String>>,
    oversign: Option<Vec<String>>,
    expire: Option<u64>,
}

// ------------------------------------------------------------- loading

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Reads, parses and checks `path`; keys are loaded and checked too.
    /// Errors name the file and line.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// [`load`](Self::load) for a config given as text; relative key
    /// paths are relative to `path`'s folder.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let at = |offset: usize| format!("{}:{}", path.display(), line_of(text, offset));
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            anyhow!("{}:{line}: {}", path.display(), e.message().trim_end())
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut warnings = Vec::new();

        let listen = Listen::parse(raw.listen.get_ref())
            .map_err(|e| anyhow!("{}: listen: {e}", at(raw.listen.span().start)))?;
        if let Listen::Tcp(a) = &listen
            && !a.ip().is_loopback()
        {
            warnings.push(format!(
                "listen {a}: not a loopback address; anyone who reaches it can have mail signed"
            ));
        }
        let socket_mode = match &raw.socket_mode {
            Some(m) => Some(
                u32::from_str_radix(m.get_ref().trim_start_matches("0o"), 8).map_err(|_| {
                    anyhow!(
                        "{}: socket_mode: `{}` is not an octal mode like \"0660\"",
                        at(m.span().start),
                        m.get_ref()
                    )
                })?,
            ),
            None => None,
        };
        let native = match raw.engine.as_ref().map(|e| e.get_ref().as_str()) {
            None | Some("sandbox") => false,
            Some("native") => true,
            Some(other) => bail!(
                "{}: engine: `{other}` (sandbox or native)",
                at(raw.engine.as_ref().map_or(0, |e| e.span().start))
            ),
        };

        let mut networks = Vec::new();
        for n in raw.trust.networks.get_ref() {
            let net = n
                .parse::<IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    anyhow!(
                        "{}: trust.networks: `{n}` is not an address or CIDR network",
                        at(raw.trust.networks.span().start)
                    )
                })?;
            networks.push(net);
        }
        let trust = Trust {
            authenticated: raw.trust.authenticated,
            networks,
            daemon_names: raw.trust.daemon_names,
            login_must_match_from: raw.trust.login_must_match_from,
        };

        let v = raw.verify;
        let resolver = match &v.resolver {
            Some(r) => Some(r.get_ref().parse::<SocketAddr>().map_err(|_| {
                anyhow!(
                    "{}: verify.resolver: `{}` is not IP:PORT",
                    at(r.span().start),
                    r.get_ref()
                )
            })?),
            None => None,
        };
        if v.dns_timeout == 0 {
            bail!(
                "{}: verify.dns_timeout must be at least 1 second",
                path.display()
            );
        }
        let limits = Limits {
            max_header_bytes: raw.limits.max_header_bytes,
            max_messages: raw.limits.max_messages.max(1),
            deadline: Duration::from_secs(raw.limits.sandbox_deadline.max(1)),
            memory: raw.limits.sandbox_memory_mib.max(16) << 20,
        };
        let verify = Verify {
            enabled: v.enabled,
            resolver,
            dns_timeout: Duration::from_secs(v.dns_timeout),
            policy: VerifyPolicy {
                min_rsa_bits: v.min_rsa_bits,
                allow_rsa_sha1: v.allow_rsa_sha1,
                allow_unsigned_body_tail: v.allow_unsigned_body_tail,
                ignore_expiration: v.ignore_expiration,
                allow_from_count: v.allow_from_count,
                clock_skew: v.clock_skew,
                max_signatures: v.max_signatures,
                max_header_bytes: limits.max_header_bytes,
                ..VerifyPolicy::default()
            },
        };
        let a = raw.actions;
        let actions = Actions {
            no_key: a.no_key,
            signing_error: a.signing_error,
            dns_error: a.dns_error,
            internal_error: a.internal_error,
            overload: a.overload,
        };

        // keys, in file order
        let mut named: Vec<(String, Spanned<RawKey>)> = raw.keys.into_iter().collect();
        named.sort_by_key(|(_, k)| k.span().start);
        let mut keys = Vec::new();
        let mut signing_keys = Vec::new();
        for (name, k) in named {
            let where_ = at(k.span().start);
            let rk = k.get_ref();
            let domain = crate::names::domain("domain", &rk.domain)
                .map_err(|e| anyhow!("{where_}: keys.{name}: {e}"))?;
            let selector = Selector::new(&rk.selector)
                .map_err(|e| anyhow!("{where_}: keys.{name}: selector `{}`: {e}", rk.selector))?;
            let file = dir.join(&rk.file);
            let key = load_private_key(&file).map_err(|e| anyhow!("{where_}: keys.{name}: {e}"))?;
            keys.push(Key {
                name,
                domain,
                selector,
                file,
            });
            signing_keys.push(key);
        }

        let mut rules = Vec::new();
        for r in raw.signing {
            let line = line_of(text, r.span().start);
            let where_ = format!("{}:{line}", path.display());
            let rr = r.into_inner();
            let from = rr
                .from
                .into_vec()
                .iter()
                .map(|p| Pattern::parse(p).map_err(|e| anyhow!("{where_}: signing.from: {e}")))
                .collect::<Result<Vec<_>>>()?;
            if from.is_empty() {
                bail!("{where_}: signing.from is empty");
            }
            let mut idx = Vec::new();
            for k in rr.keys.into_vec() {
                let i = keys.iter().position(|x| x.name == k).ok_or_else(|| {
                    anyhow!("{where_}: signing.keys: no key named `{k}` (define it as [keys.{k}])")
                })?;
                idx.push(i);
            }
            if idx.is_empty() {
                bail!("{where_}: signing.keys is empty");
            }
            let rule = Rule {
                line,
                from,
                keys: idx,
                canonicalization: rr.canonicalization,
                headers: rr.headers,
                oversign: rr.oversign,
                expire: rr.expire,
            };
            // the options must be valid for every key (checked now, not at
            // the first message)
            for spec in rule_specs(&rule, &keys, 0) {
                spec.spec
                    .options()
                    .map_err(|e| anyhow!("{where_}: signing: {e}"))?;
            }
            for p in &rule.from {
                let from_domain = match p {
                    Pattern::Address { domain, .. } | Pattern::Domain(domain) => domain,
                    Pattern::Subdomains(parent) => parent,
                };
                for &k in &rule.keys {
                    let d = keys[k].domain.as_str().to_ascii_lowercase();
                    if !(from_domain == &d || from_domain.ends_with(&format!(".{d}"))) {
                        warnings.push(format!(
                            "{where_}: key {} signs with d={d}, which is not {p} or a parent domain: its signatures will not align with From for DMARC",
                            keys[k].name
                        ));
                    }
                }
            }
            rules.push(rule);
        }
        if rules.is_empty() && !verify.enabled {
            warnings.push(
                "no signing rules and verification off: the milter will pass every message".into(),
            );
        }
        Ok(Config {
            path: path.to_path_buf(),
            listen,
            socket_mode,
            socket_owner: raw.socket_owner,
            authserv_id: match raw.authserv_id {
                Some(id) if !id.trim().is_empty() => id,
                _ => hostname(),
            },
            native,
            trust,
            verify,
            actions,
            limits,
            keys,
            signing_keys: Arc::new(signing_keys),
            rules,
            warnings,
        })
    }

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

/// Reads a private key file, refusing one that others can read.
pub fn load_private_key(file: &Path) -> Result<NativeKey> {
    let meta =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "{}: mode {mode:04o}; a private key must be readable by its owner only (chmod 600)",
                file.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let key = PrivateKey::parse(&data).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    NativeKey::from_core(key)
}

/// This host's name, for the default authserv-id.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
