//! The configuration file as written (TOML, every value with its place
//! in the file) and its reading into a checked [`Config`]: each error
//! names its line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use toml::Spanned;
use waxseal_core::verify::VerifyPolicy;

use super::{
    Action, Actions, Config, Key, Limits, Listen, Network, Pattern, Rule, Trust, Verify,
    load_private_key, rule_specs,
};

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
    dns_timeout: Spanned<u64>,
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
            dns_timeout: Spanned::new(0..0, 5),
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

/// The smallest `max_header_bytes` taken: a typical header block is 2-8 KiB.
const MIN_HEADER_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max_header_bytes: Spanned<usize>,
    max_messages: usize,
    sandbox_deadline: u64,
    sandbox_memory_mib: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_header_bytes: Spanned::new(0..0, waxseal_core::sign::DEFAULT_MAX_HEADER_BYTES),
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
            let net = Network::parse(n).ok_or_else(|| {
                anyhow!(
                    "{}: trust.networks: `{n}` is not an address or CIDR network (or one after `!`)",
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
        // past a few minutes the MTA has given up on the message (Postfix's
        // milter_content_timeout is 300 s); a huge value overflowed the
        // resolver's clock
        let dns_timeout = *v.dns_timeout.get_ref();
        if !(1..=300).contains(&dns_timeout) {
            bail!(
                "{}: verify.dns_timeout must be 1 to 300 seconds, not {dns_timeout}",
                at(v.dns_timeout.span().start)
            );
        }
        // below a few KiB nearly every message's header block is over it
        // (its mail not signed): most likely KiB were meant
        let max_header_bytes = *raw.limits.max_header_bytes.get_ref();
        if max_header_bytes < MIN_HEADER_BYTES {
            bail!(
                "{}: limits.max_header_bytes is in bytes: at least {MIN_HEADER_BYTES}, not {max_header_bytes}",
                at(raw.limits.max_header_bytes.span().start)
            );
        }
        let limits = Limits {
            max_header_bytes,
            max_messages: raw.limits.max_messages.max(1),
            deadline: Duration::from_secs(raw.limits.sandbox_deadline.max(1)),
            memory: raw.limits.sandbox_memory_mib.max(16) << 20,
        };
        let verify = Verify {
            enabled: v.enabled,
            resolver,
            dns_timeout: Duration::from_secs(dns_timeout),
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
            let selector = crate::names::selector("selector", &rk.selector, &domain)
                .map_err(|e| anyhow!("{where_}: keys.{name}: {e}"))?;
            let file = dir.join(&rk.file);
            let key =
                load_private_key(&file).map_err(|e| anyhow!("{where_}: keys.{name}: {e:#}"))?;
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
