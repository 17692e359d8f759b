//! `waxseal dns record | policy | check`: the record to publish for a key,
//! the legacy signing-policy record with its DMARC equivalent, and a check
//! of what is published (like opendkim-testkey).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use waxseal_core::policy::{LegacyPolicy, SigningPractice, policy_zone_lines};
use waxseal_core::{KeyAnswer, KeyRecord};

use super::{DnsArgs, EXIT_TEMP, load_public_key};
use crate::dns::Dns;

#[derive(Subcommand, Debug)]
pub(super) enum DnsCmd {
    /// Print the DNS record for an existing key.
    Record {
        /// The key file: the private key, or its public key (PEM).
        #[arg(long, short = 'k')]
        key: PathBuf,
        /// The domain (d=).
        #[arg(long, short = 'd')]
        domain: String,
        /// The selector (s=).
        #[arg(long, short = 's')]
        selector: String,
        /// Test mode (t=y).
        #[arg(long, short = 't')]
        testing: bool,
    },
    /// Print the legacy signing-policy record (_policy._domainkey, as in
    /// MDaemon's workflow) and the DMARC record that does its job today.
    Policy {
        /// The domain.
        #[arg(long, short = 'd')]
        domain: String,
        /// some: the domain signs some mail (o=~); all (o=-); exclusive:
        /// all, and no third-party signatures (o=!); none: sends no mail
        /// (o=.); per-user (o=^).
        #[arg(long, value_enum, default_value_t = Practice::Some)]
        practice: Practice,
        /// Test mode (t=y; DMARC p=none).
        #[arg(long, short = 't')]
        testing: bool,
        /// Where reports go (r=, DMARC rua=).
        #[arg(long)]
        report: Option<String>,
    },
    /// Look the published record up and compare it with the private key.
    Check {
        /// The domain (d=).
        #[arg(long, short = 'd')]
        domain: String,
        /// The selector (s=).
        #[arg(long, short = 's')]
        selector: String,
        /// The key file: the private key, or its public key (PEM).
        #[arg(long, short = 'k')]
        key: PathBuf,
        #[command(flatten)]
        dns: DnsArgs,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Practice {
    Some,
    All,
    Exclusive,
    None,
    PerUser,
}

pub(super) fn dns_record(key: &Path, domain: &str, selector: &str, testing: bool) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let k = load_public_key(key)?;
    let domain = crate::names::domain("--domain", domain)?;
    let selector = crate::names::selector("--selector", selector, &domain)?;
    let record = KeyRecord::new(&k).with_testing(testing);
    writeln!(out, "; zone file (BIND):")?;
    writeln!(out, "{}", record.zone_line(&selector, &domain))?;
    writeln!(out)?;
    writeln!(out, "; DNS provider web form:")?;
    // the name relative to the zone of --domain; a web form for a parent
    // zone (example.com for mail.example.com) wants the rest of it too
    writeln!(
        out,
        ";   name:  {selector}._domainkey (in the zone {domain}; full name {})",
        selector.record_name(&domain)
    )?;
    writeln!(out, ";   type:  TXT")?;
    writeln!(out, ";   value: {}", record.to_txt())?;
    Ok(0)
}

pub(super) fn dns_policy(
    domain: &str,
    practice: Practice,
    testing: bool,
    report: Option<String>,
) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let domain = crate::names::domain("--domain", domain)?;
    let mut p = LegacyPolicy::new(match practice {
        Practice::Some => SigningPractice::SignsSome,
        Practice::All => SigningPractice::SignsAll,
        Practice::Exclusive => SigningPractice::Exclusive,
        Practice::None => SigningPractice::NoMail,
        Practice::PerUser => SigningPractice::PerUser,
    });
    p.testing = testing;
    if let Some(r) = &report
        && !waxseal_core::policy::valid_report_addresses(r)
    {
        anyhow::bail!(
            "--report {r}: not an address (user@example.com, or several separated by commas)"
        );
    }
    p.report_address = report.map(|r| r.trim().to_string());
    for line in policy_zone_lines(&domain, &p) {
        writeln!(out, "{line}")?;
    }
    if practice == Practice::Exclusive {
        writeln!(out)?;
        let dmarc = if testing {
            "DMARC p=reject, once out of test mode"
        } else {
            "DMARC p=reject"
        };
        writeln!(
            out,
            "; Caution: o=! (and {dmarc}) tells receivers to distrust any mail from"
        )?;
        writeln!(
            out,
            "; {domain} without its own valid signature. Mailing lists change messages and"
        )?;
        writeln!(
            out,
            "; break that signature, so list posts by your users will be rejected or lost."
        )?;
        writeln!(
            out,
            "; Use it only for domains whose users do not post to mailing lists."
        )?;
    }
    Ok(0)
}

pub(super) fn dns_check(domain: &str, selector: &str, key: &Path, dns: &DnsArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let k = load_public_key(key)?;
    let domain = crate::names::domain("--domain", domain)?;
    let selector = crate::names::selector("--selector", selector, &domain)?;
    let name = selector.record_name(&domain);
    let resolver = Dns::new(dns.resolver, Duration::from_secs(dns.dns_timeout))?;
    let want = KeyRecord::new(&k);
    let records = match resolver.lookup(&name) {
        KeyAnswer::NxDomain => {
            writeln!(
                out,
                "{name}: no TXT record: publish the record first (waxseal dns record)"
            )?;
            return Ok(1);
        }
        KeyAnswer::TempFail => {
            writeln!(
                out,
                "{name}: the DNS lookup failed (timeout or server failure); try again"
            )?;
            return Ok(EXIT_TEMP);
        }
        KeyAnswer::Records(r) => r,
    };
    let dkim: Vec<&Vec<Vec<u8>>> = records
        .iter()
        .filter(|r| {
            let v = r.concat();
            !v.starts_with(b"v=") || v.starts_with(b"v=DKIM1")
        })
        .collect();
    if dkim.len() != 1 {
        writeln!(
            out,
            "{name}: {} TXT records that could be DKIM keys; there must be exactly one (RFC 6376 3.6.2.2)",
            dkim.len()
        )?;
        return Ok(1);
    }
    let strings = dkim[0];
    let value = strings.concat();
    let text = String::from_utf8_lossy(&value).into_owned();
    writeln!(
        out,
        "{name}: found, {} bytes in {} string(s)",
        value.len(),
        strings.len()
    )?;
    let mut ok = true;
    if text.contains('"') || text.contains('\\') {
        writeln!(
            out,
            "  problem: the value contains quote or backslash characters; the zone-file form was"
        )?;
        writeln!(
            out,
            "           pasted where the plain value belongs (see `waxseal dns record`)"
        )?;
        ok = false;
    }
    match KeyRecord::parse(&value) {
        Err(e) => {
            writeln!(out, "  problem: the record does not parse: {e}")?;
            ok = false;
        }
        Ok(rec) => {
            if rec.is_revoked() {
                writeln!(out, "  problem: p= is empty: the key is revoked")?;
                ok = false;
            } else if rec.key_type != want.key_type || rec.public_key != want.public_key {
                match rec.decode_public_key() {
                    Ok(pk) if pk == k => {
                        writeln!(out, "  ok: the key matches (published in another encoding)")?;
                    }
                    _ => {
                        writeln!(
                            out,
                            "  problem: the published key is not the public half of {}",
                            key.display()
                        )?;
                        ok = false;
                    }
                }
            } else {
                writeln!(
                    out,
                    "  ok: the key matches {} ({} {} bits)",
                    key.display(),
                    k.key_type().as_str(),
                    k.bits()
                )?;
            }
            if !rec.allows_email() {
                writeln!(out, "  problem: s= does not include email")?;
                ok = false;
            }
            if !rec.allows_hash(waxseal_core::HashAlgorithm::Sha256) {
                writeln!(out, "  problem: h= does not allow sha256")?;
                ok = false;
            }
            if rec.testing {
                writeln!(
                    out,
                    "  note: test mode (t=y): receivers treat failures as unsigned; remove t=y when signed mail verifies"
                )?;
            }
            if k.key_type() == waxseal_core::KeyType::Rsa && k.bits() < 2048 {
                writeln!(
                    out,
                    "  note: {}-bit RSA: RFC 8301 asks signers for 2048 bits",
                    k.bits()
                )?;
            }
        }
    }
    Ok(if ok { 0 } else { 1 })
}
