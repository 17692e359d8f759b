//! Sender signing policy records: the legacy `_policy._domainkey` record of
//! the MDaemon / early-DKIM workflow (draft-allman-dkim-ssp, the DomainKeys
//! `o=` policy of RFC 4870 3.6.2), and the DMARC record (RFC 7489 6.3) that
//! does this job today.
//!
//! Both are parsed and built here; waxseal reports them as information and
//! never rejects mail because of them.
//!
//! # The legacy record
//!
//! Published as TXT at `_policy._domainkey.<domain>`, for example
//! `o=~; t=y`:
//!
//! | `o=` | meaning |
//! |------|---------|
//! | `~`  | the domain signs some of its mail |
//! | `-`  | the domain signs all of its mail |
//! | `!`  | the domain signs all of its mail, and no third party may sign for it (exclusive) |
//! | `.`  | the domain sends no mail at all |
//! | `^`  | ask again at the user level (`<user>._policy._domainkey.<domain>`) |
//!
//! `t=y` marks the policy as a test; `r=` names an address for reports;
//! `n=` holds notes.
//!
//! **The exclusive caveat.** `o=!` (like DMARC `p=reject`) tells receivers
//! that mail from the domain without the domain's own valid signature is
//! forged. Mailing lists change messages (subject tags, footers) and resend
//! them, which breaks the original signature, so list posts from users of
//! an `o=!` domain are rejected or lost at receivers that honour it. Use it
//! only for domains whose users do not post to mailing lists, and prefer
//! DMARC, which receivers actually evaluate today (with ARC for lists).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::domain::Domain;
use crate::error::Error;
use crate::tag_list::TagList;

/// The outbound signing practice of a legacy policy record (`o=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningPractice {
    /// `o=~`: some mail is signed.
    SignsSome,
    /// `o=-`: all mail is signed.
    SignsAll,
    /// `o=!`: all mail is signed and no third-party signature is valid.
    Exclusive,
    /// `o=.`: the domain sends no mail.
    NoMail,
    /// `o=^`: repeat the query at the user level.
    PerUser,
}

impl SigningPractice {
    /// The `o=` character.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignsSome => "~",
            Self::SignsAll => "-",
            Self::Exclusive => "!",
            Self::NoMail => ".",
            Self::PerUser => "^",
        }
    }

    /// Parses an `o=` value.
    pub fn parse(v: &[u8]) -> Result<Self, Error> {
        match v {
            b"~" => Ok(Self::SignsSome),
            b"-" => Ok(Self::SignsAll),
            b"!" => Ok(Self::Exclusive),
            b"." => Ok(Self::NoMail),
            b"^" => Ok(Self::PerUser),
            _ => Err(Error::InvalidPolicyRecord),
        }
    }

    /// A short description for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::SignsSome => "the domain signs some of its mail",
            Self::SignsAll => "the domain signs all of its mail",
            Self::Exclusive => {
                "the domain signs all of its mail and allows no third-party signatures"
            }
            Self::NoMail => "the domain sends no mail",
            Self::PerUser => "the policy is published per user",
        }
    }
}

/// A legacy `_policy._domainkey` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyPolicy {
    /// `o=`: the signing practice. Default (tag absent): some mail signed.
    pub practice: SigningPractice,
    /// `t=y`: the policy is being tested. Default: false.
    pub testing: bool,
    /// `r=`: address for reports. Default: none.
    pub report_address: Option<String>,
    /// `n=`: notes. Default: none.
    pub notes: Option<String>,
}

impl LegacyPolicy {
    /// A policy with the given practice and no other tags.
    pub fn new(practice: SigningPractice) -> Self {
        LegacyPolicy {
            practice,
            testing: false,
            report_address: None,
            notes: None,
        }
    }

    /// The DNS name of the record: `_policy._domainkey.<domain>`.
    pub fn record_name(domain: &Domain) -> String {
        let mut s = String::from("_policy._domainkey.");
        s.push_str(domain.as_str());
        s
    }

    /// Parses a TXT value. Unknown tags are ignored.
    pub fn parse(txt: &[u8]) -> Result<Self, Error> {
        let tags = TagList::parse(txt).map_err(|_| Error::InvalidPolicyRecord)?;
        let text = |name: &str| {
            tags.get(name)
                .map(|t| String::from_utf8_lossy(t.value).into_owned())
        };
        Ok(LegacyPolicy {
            practice: match tags.get("o") {
                Some(o) => SigningPractice::parse(o.value)?,
                None => SigningPractice::SignsSome,
            },
            testing: tags.get("t").is_some_and(|t| t.value == b"y"),
            report_address: text("r"),
            notes: text("n"),
        })
    }

    /// The TXT value, e.g. `o=~; t=y`.
    pub fn to_txt(&self) -> String {
        let mut s = String::from("o=");
        s.push_str(self.practice.as_str());
        if self.testing {
            s.push_str("; t=y");
        }
        if let Some(r) = &self.report_address {
            let _ = write!(s, "; r={r}");
        }
        if let Some(n) = &self.notes {
            let _ = write!(s, "; n={n}");
        }
        s
    }

    /// The DMARC record that does this policy's job today.
    ///
    /// `~` and `^` become `p=none` (monitor only), `-` `p=quarantine`, `!`
    /// and `.` `p=reject`; a policy in test mode becomes `p=none`. DKIM
    /// alignment is strict (`adkim=s`) for the exclusive practice.
    pub fn suggested_dmarc(&self) -> DmarcRecord {
        let mut d = DmarcRecord::new(match self.practice {
            SigningPractice::SignsSome | SigningPractice::PerUser => DmarcPolicy::None,
            SigningPractice::SignsAll => DmarcPolicy::Quarantine,
            SigningPractice::Exclusive | SigningPractice::NoMail => DmarcPolicy::Reject,
        });
        if self.testing {
            d.policy = DmarcPolicy::None;
        }
        if self.practice == SigningPractice::Exclusive {
            d.dkim_alignment = Some(Alignment::Strict);
        }
        if let Some(r) = &self.report_address {
            // RFC 7489 6.3 rua=: a comma-separated list of URIs, each one
            // `mailto:` here
            let uris: Vec<String> = r
                .split(',')
                .map(|a| {
                    let a = a.trim();
                    if a.starts_with("mailto:") {
                        a.into()
                    } else {
                        ["mailto:", a].concat()
                    }
                })
                .collect();
            d.aggregate_reports = Some(uris.join(","));
        }
        d
    }
}

/// True when `r` can be a report address (`r=`, and DMARC's `rua=` from
/// it): one or more `user@domain` addresses, `mailto:` optional,
/// comma-separated, with nothing that would end a tag (`;`, RFC 6376 3.2),
/// another tag's text, or break a zone-file string (`"`, `\`, space).
pub fn valid_report_addresses(r: &str) -> bool {
    !r.is_empty()
        && r.split(',').all(|a| {
            let a = a.trim();
            let a = a.strip_prefix("mailto:").unwrap_or(a);
            a.rsplit_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && local
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b";\"\\,<>()[]@".contains(&b))
                    && crate::domain::valid_name(domain, 2)
            })
        })
}

/// DMARC's requested handling of failing mail (`p=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmarcPolicy {
    /// `none`: monitor only.
    None,
    /// `quarantine`: treat as suspicious.
    Quarantine,
    /// `reject`: reject.
    Reject,
}

impl DmarcPolicy {
    /// The `p=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Quarantine => "quarantine",
            Self::Reject => "reject",
        }
    }

    fn parse(v: &[u8]) -> Result<Self, Error> {
        match v {
            b"none" => Ok(Self::None),
            b"quarantine" => Ok(Self::Quarantine),
            b"reject" => Ok(Self::Reject),
            _ => Err(Error::InvalidPolicyRecord),
        }
    }
}

/// Identifier alignment mode (`adkim=`, `aspf=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alignment {
    /// `r`: organizational domains must match.
    Relaxed,
    /// `s`: exact domain match.
    Strict,
}

impl Alignment {
    fn as_str(self) -> &'static str {
        match self {
            Self::Relaxed => "r",
            Self::Strict => "s",
        }
    }

    fn parse(v: &[u8]) -> Result<Self, Error> {
        match v {
            b"r" => Ok(Self::Relaxed),
            b"s" => Ok(Self::Strict),
            _ => Err(Error::InvalidPolicyRecord),
        }
    }
}

/// A DMARC record (RFC 7489 6.3), published at `_dmarc.<domain>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcRecord {
    /// `p=`: required.
    pub policy: DmarcPolicy,
    /// `sp=`: policy for subdomains. Default: same as `p=`.
    pub subdomain_policy: Option<DmarcPolicy>,
    /// `adkim=`. Default: relaxed.
    pub dkim_alignment: Option<Alignment>,
    /// `aspf=`. Default: relaxed.
    pub spf_alignment: Option<Alignment>,
    /// `pct=`: percentage of mail the policy applies to. Default: 100.
    pub percent: Option<u8>,
    /// `rua=`: where aggregate reports go (`mailto:` URIs). Default: none.
    pub aggregate_reports: Option<String>,
    /// `ruf=`: where failure reports go. Default: none.
    pub failure_reports: Option<String>,
}

impl DmarcRecord {
    /// A record with `p=` and nothing else.
    pub fn new(policy: DmarcPolicy) -> Self {
        DmarcRecord {
            policy,
            subdomain_policy: None,
            dkim_alignment: None,
            spf_alignment: None,
            percent: None,
            aggregate_reports: None,
            failure_reports: None,
        }
    }

    /// The DNS name of the record: `_dmarc.<domain>`.
    pub fn record_name(domain: &Domain) -> String {
        ["_dmarc.", domain.as_str()].concat()
    }

    /// Parses a TXT value: `v=DMARC1` must come first (RFC 7489 6.3);
    /// unknown tags are ignored.
    pub fn parse(txt: &[u8]) -> Result<Self, Error> {
        let tags = TagList::parse(txt).map_err(|_| Error::InvalidPolicyRecord)?;
        match tags.iter().next() {
            Some(v) if v.name == "v" && v.value == b"DMARC1" => {}
            _ => return Err(Error::InvalidPolicyRecord),
        }
        let p = tags.get("p").ok_or(Error::InvalidPolicyRecord)?;
        let text = |name: &str| {
            tags.get(name)
                .map(|t| String::from_utf8_lossy(t.value).into_owned())
        };
        Ok(DmarcRecord {
            policy: DmarcPolicy::parse(p.value)?,
            subdomain_policy: tags
                .get("sp")
                .map(|t| DmarcPolicy::parse(t.value))
                .transpose()?,
            dkim_alignment: tags
                .get("adkim")
                .map(|t| Alignment::parse(t.value))
                .transpose()?,
            spf_alignment: tags
                .get("aspf")
                .map(|t| Alignment::parse(t.value))
                .transpose()?,
            percent: tags
                .get("pct")
                .map(|t| {
                    core::str::from_utf8(t.value)
                        .ok()
                        .and_then(|s| s.parse::<u8>().ok())
                        .filter(|p| *p <= 100)
                        .ok_or(Error::InvalidPolicyRecord)
                })
                .transpose()?,
            aggregate_reports: text("rua"),
            failure_reports: text("ruf"),
        })
    }

    /// The TXT value, e.g. `v=DMARC1; p=none; rua=mailto:dmarc@example.com`.
    pub fn to_txt(&self) -> String {
        let mut s = String::from("v=DMARC1; p=");
        s.push_str(self.policy.as_str());
        if let Some(sp) = self.subdomain_policy {
            let _ = write!(s, "; sp={}", sp.as_str());
        }
        if let Some(a) = self.dkim_alignment {
            let _ = write!(s, "; adkim={}", a.as_str());
        }
        if let Some(a) = self.spf_alignment {
            let _ = write!(s, "; aspf={}", a.as_str());
        }
        if let Some(p) = self.percent {
            let _ = write!(s, "; pct={p}");
        }
        if let Some(r) = &self.aggregate_reports {
            let _ = write!(s, "; rua={r}");
        }
        if let Some(r) = &self.failure_reports {
            let _ = write!(s, "; ruf={r}");
        }
        s
    }
}

/// Zone-file lines for a domain's policy: the legacy record and its DMARC
/// equivalent, each preceded by a comment.
pub fn policy_zone_lines(domain: &Domain, legacy: &LegacyPolicy) -> Vec<String> {
    let dmarc = legacy.suggested_dmarc();
    let mut out = Vec::new();
    out.push(["; legacy signing policy: ", legacy.practice.describe()].concat());
    out.push(alloc::format!(
        "{}. IN TXT \"{}\"",
        LegacyPolicy::record_name(domain),
        legacy.to_txt()
    ));
    out.push("; DMARC, what receivers evaluate today".to_string());
    out.push(alloc::format!(
        "{}. IN TXT \"{}\"",
        DmarcRecord::record_name(domain),
        dmarc.to_txt()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    #[test]
    fn report_addresses() {
        for ok in [
            "a@b.com",
            "mailto:a@b.com",
            "a@x.com, mailto:b@y.org",
            "dmarc+x@sub.example.com",
        ] {
            assert!(valid_report_addresses(ok), "{ok}");
        }
        for bad in [
            "",
            "a@b.com; p=none",
            "a\"b@x.com",
            "a\\b@x.com",
            "no-at",
            "@b.com",
            "a@com",
            "a@b.com,",
            "a b@x.com",
        ] {
            assert!(!valid_report_addresses(bad), "{bad}");
        }
        let mut pol = LegacyPolicy::new(SigningPractice::SignsAll);
        pol.report_address = Some("a@x.com, mailto:b@y.org".into());
        assert_eq!(
            pol.suggested_dmarc().aggregate_reports.as_deref(),
            Some("mailto:a@x.com,mailto:b@y.org")
        );
    }

    #[test]
    fn legacy_round_trip_every_practice() {
        for p in [
            SigningPractice::SignsSome,
            SigningPractice::SignsAll,
            SigningPractice::Exclusive,
            SigningPractice::NoMail,
            SigningPractice::PerUser,
        ] {
            let mut pol = LegacyPolicy::new(p);
            pol.testing = true;
            pol.report_address = Some("dkim@example.com".into());
            let txt = pol.to_txt();
            assert_eq!(LegacyPolicy::parse(txt.as_bytes()).unwrap(), pol, "{txt}");
        }
        assert_eq!(LegacyPolicy::parse(b"o=?"), Err(Error::InvalidPolicyRecord));
        assert_eq!(
            LegacyPolicy::parse(b"t=y").unwrap().practice,
            SigningPractice::SignsSome
        );
    }

    #[test]
    fn dmarc_suggestions() {
        let d = LegacyPolicy::parse(b"o=!").unwrap().suggested_dmarc();
        assert_eq!(d.to_txt(), "v=DMARC1; p=reject; adkim=s");
        let d = LegacyPolicy::parse(b"o=-; t=y; r=postmaster@example.com")
            .unwrap()
            .suggested_dmarc();
        assert_eq!(
            d.to_txt(),
            "v=DMARC1; p=none; rua=mailto:postmaster@example.com"
        );
        assert_eq!(
            LegacyPolicy::parse(b"o=-")
                .unwrap()
                .suggested_dmarc()
                .policy,
            DmarcPolicy::Quarantine
        );
    }

    #[test]
    fn dmarc_parse() {
        let d = DmarcRecord::parse(
            b"v=DMARC1; p=quarantine; sp=reject; pct=50; rua=mailto:a@b.c; foo=bar",
        )
        .unwrap();
        assert_eq!(d.policy, DmarcPolicy::Quarantine);
        assert_eq!(d.subdomain_policy, Some(DmarcPolicy::Reject));
        assert_eq!(d.percent, Some(50));
        assert_eq!(DmarcRecord::parse(d.to_txt().as_bytes()).unwrap(), d);
        for bad in [
            &b"p=none"[..],
            b"p=none; v=DMARC1",
            b"v=DMARC1",
            b"v=DMARC1; p=maybe",
            b"v=DMARC1; p=none; pct=101",
        ] {
            assert_eq!(DmarcRecord::parse(bad), Err(Error::InvalidPolicyRecord));
        }
    }

    #[test]
    fn zone_lines() {
        let d = Domain::new("example.com").unwrap();
        let lines = policy_zone_lines(&d, &LegacyPolicy::new(SigningPractice::SignsSome));
        assert_eq!(lines[1], "_policy._domainkey.example.com. IN TXT \"o=~\"");
        assert_eq!(lines[3], "_dmarc.example.com. IN TXT \"v=DMARC1; p=none\"");
    }
}
