//! `waxseal milter --check`: loads the configuration and keys as the
//! server would, and says what it would do. With `--dns`, each key's
//! published record is looked up and compared with the key (like
//! `waxseal dns check`), and policy records are read for the caveats: a
//! key record still in test mode (`t=y`), or an exclusive policy that
//! makes receivers drop list mail whose signature a mailing list broke:
//! DMARC `p=reject` (or `sp=reject`) covering a From domain of the
//! signing table, legacy `o=!` of a key's domain.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use waxseal_core::policy::{DmarcRecord, LegacyPolicy, SigningPractice};
use waxseal_core::{KeyAnswer, KeyRecord};

use super::config::{Config, Pattern};
use crate::dns::Dns;

/// Prints the summary (and with `dns`, the record checks) to `out`;
/// returns false when a published record is missing or wrong.
pub fn check(config: &Config, dns: bool, out: &mut dyn Write) -> Result<bool> {
    writeln!(out, "config {}: ok", config.path.display())?;
    writeln!(out, "  listen: {}", config.listen)?;
    writeln!(out, "  authserv-id: {}", config.authserv_id)?;
    writeln!(
        out,
        "  engine: {}",
        if config.native { "native" } else { "sandbox" }
    )?;
    let t = &config.trust;
    let nets: Vec<String> = t.networks.iter().map(|n| n.to_string()).collect();
    writeln!(
        out,
        "  trusted: {}networks [{}]{}{}",
        if t.authenticated {
            "SASL-authenticated senders, "
        } else {
            ""
        },
        nets.join(", "),
        if t.daemon_names.is_empty() {
            String::new()
        } else {
            format!(", daemons [{}]", t.daemon_names.join(", "))
        },
        if t.login_must_match_from {
            ", login must be in the From domain"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "  verification: {}",
        if config.verify.enabled { "on" } else { "off" }
    )?;
    for (k, key) in config.keys.iter().zip(config.signing_keys.iter()) {
        writeln!(
            out,
            "  key {}: d={} s={} {} ({})",
            k.name,
            k.domain,
            k.selector,
            key.algorithm().as_str(),
            k.file.display()
        )?;
    }
    for r in &config.rules {
        let from: Vec<String> = r.from.iter().map(|p| p.to_string()).collect();
        let keys: Vec<&str> = r
            .keys
            .iter()
            .map(|&k| config.keys[k].name.as_str())
            .collect();
        writeln!(
            out,
            "  line {}: mail from {} is signed with {}",
            r.line,
            from.join(", "),
            keys.join(" + ")
        )?;
    }
    for w in &config.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    if !dns {
        return Ok(true);
    }
    let resolver = Dns::new(
        config.verify.resolver,
        config.verify.dns_timeout.max(Duration::from_secs(1)),
    )?;
    let mut ok = true;
    let mut domains: Vec<String> = Vec::new();
    for (k, key) in config.keys.iter().zip(config.signing_keys.iter()) {
        let name = k.selector.record_name(&k.domain);
        let want = KeyRecord::new(key.public_key());
        match resolver.lookup(&name) {
            KeyAnswer::NxDomain => {
                writeln!(
                    out,
                    "  problem: {name}: no TXT record; publish `waxseal dns record` for key {}",
                    k.name
                )?;
                ok = false;
            }
            KeyAnswer::TempFail => {
                writeln!(
                    out,
                    "  problem: {name}: the lookup failed (timeout or server failure)"
                )?;
                ok = false;
            }
            KeyAnswer::Records(records) => {
                let parsed: Vec<KeyRecord> = records
                    .iter()
                    .filter_map(|r| KeyRecord::parse(&r.concat()).ok())
                    .collect();
                match parsed.as_slice() {
                    [rec] => {
                        let same = rec.public_key == want.public_key
                            || rec.decode_public_key().ok().as_ref() == Some(key.public_key());
                        if same {
                            writeln!(out, "  ok: {name} publishes key {}", k.name)?;
                        } else {
                            writeln!(
                                out,
                                "  problem: {name}: the published key is not the public half of {}",
                                k.file.display()
                            )?;
                            ok = false;
                        }
                        if rec.testing {
                            writeln!(
                                out,
                                "  note: {name} is in test mode (t=y): receivers treat failures as unsigned; remove t=y once signed mail verifies"
                            )?;
                        }
                    }
                    other => {
                        writeln!(
                            out,
                            "  problem: {name}: {} DKIM key records; there must be exactly one",
                            other.len()
                        )?;
                        ok = false;
                    }
                }
            }
        }
        let d = k.domain.as_str().to_ascii_lowercase();
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    // the DMARC policy that covers each From domain signed: the one of the
    // domain, or of a parent domain (for a subdomain without its own
    // record, RFC 7489 6.6.3 uses the organizational domain's, whose `sp=`
    // applies); for `*.domain`, the domain's `sp=`
    let mut policy_domains: Vec<(String, bool)> = Vec::new();
    for r in &config.rules {
        for p in &r.from {
            let target = match p {
                Pattern::Domain(d) | Pattern::Address { domain: d, .. } => (d.clone(), false),
                Pattern::Subdomains(d) => (d.clone(), true),
            };
            if !policy_domains.contains(&target) {
                policy_domains.push(target);
            }
        }
    }
    for (d, subdomains) in &policy_domains {
        if let Some((at, rec)) = dmarc_policy(&resolver, d) {
            let (tag, applied) = if at != *d || *subdomains {
                ("sp", rec.subdomain_policy.unwrap_or(rec.policy))
            } else {
                ("p", rec.policy)
            };
            if applied == waxseal_core::policy::DmarcPolicy::Reject {
                let whose = if *subdomains {
                    format!("*.{d}")
                } else {
                    d.clone()
                };
                writeln!(
                    out,
                    "  caution: _dmarc.{at} says {tag}=reject for {whose}: mail your users send to mailing lists that change messages will be rejected by receivers that check DMARC"
                )?;
            }
        }
    }
    for d in &domains {
        let legacy = resolver.lookup(&format!("_policy._domainkey.{d}"));
        if let KeyAnswer::Records(rs) = &legacy
            && let Some(r) = rs.first()
            && let Ok(p) = LegacyPolicy::parse(&r.concat())
            && p.practice == SigningPractice::Exclusive
        {
            writeln!(
                out,
                "  caution: _policy._domainkey.{d} says o=! (exclusive): list posts by your users will fail at receivers that honour it"
            )?;
        }
    }
    Ok(ok)
}

/// The DMARC record that covers `domain` (and its subdomains), and the
/// domain it is published at: the domain's own, else the nearest parent's
/// with two labels or more. (DMARC looks at the organizational domain
/// next, which takes the public-suffix list to find; the nearest parent
/// that publishes a record is it in the usual case.)
fn dmarc_policy(resolver: &Dns, domain: &str) -> Option<(String, DmarcRecord)> {
    let mut at = domain;
    loop {
        if let KeyAnswer::Records(rs) = resolver.lookup(&format!("_dmarc.{at}"))
            && let Some(r) = rs
                .iter()
                .map(|r| r.concat())
                .find(|r| r.starts_with(b"v=DMARC1"))
        {
            return DmarcRecord::parse(&r).ok().map(|rec| (at.to_string(), rec));
        }
        let parent = at.split_once('.').map(|(_, p)| p)?;
        if !parent.contains('.') {
            return None;
        }
        at = parent;
    }
}
