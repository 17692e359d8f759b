//! Validated names: signing domains (d=), selectors (s=) and agent or user
//! identifiers (i=), with label-aware comparison.
//!
//! RFC 6376 3.5: `d=` is a `domain-name` (RFC 5321 sub-domains joined by
//! dots), `s=` a dot-separated list of sub-domains, `i=` is
//! `[ Local-part ] "@" domain-name` whose domain must be the same as, or a
//! subdomain of, `d=`. Comparison is ASCII case-insensitive and by whole
//! labels, so `@evilexample.com` is *not* under `example.com`.
//!
//! Design note: labels may also contain `_` (seen in real selectors and
//! allowed by DNS), and a single trailing dot is dropped. Internationalized
//! names must be given as A-labels (`xn--...`); UTF-8 labels are rejected.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::fmt;

use crate::error::Error;

/// Longest domain name in text form (RFC 1035 2.3.4, without the final dot).
const MAX_NAME_LEN: usize = 253;

fn valid_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub(crate) fn valid_name(name: &str, min_labels: usize) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.split('.').all(valid_label)
        && name.split('.').count() >= min_labels
}

/// True when `name` (no final dot) is a DNS name as waxseal takes them: at
/// most 253 characters, labels of 1 to 63 letters, digits, `-` (not at an
/// end) and `_`. For a host that gets names from elsewhere (a sandbox, a
/// file) and must not use anything else as one.
pub fn is_dns_name(name: &str) -> bool {
    valid_name(name, 1)
}

/// True when a name of `len` characters (no final dot) can exist in DNS.
pub(crate) fn fits_dns(len: usize) -> bool {
    len <= MAX_NAME_LEN
}

pub(crate) fn strip_root(s: &str) -> &str {
    s.strip_suffix('.').unwrap_or(s)
}

/// True when `sub` equals `parent` or is a subdomain of it, comparing whole
/// labels case-insensitively.
fn eq_or_subdomain(sub: &str, parent: &str) -> bool {
    let mut a = sub.rsplit('.');
    for p in parent.rsplit('.') {
        match a.next() {
            Some(l) if l.eq_ignore_ascii_case(p) => {}
            _ => return false,
        }
    }
    true
}

/// A signing domain (`d=`): a syntactically valid domain name.
///
/// Cheap to clone (shared, not copied): every signature a signer makes
/// carries its domain and selector.
#[derive(Clone, Debug, Eq)]
pub struct Domain(Arc<str>);

impl Domain {
    /// Validates a domain name: at least two labels, as RFC 6376 3.5's
    /// `domain-name` (`sub-domain 1*("." sub-domain)`) asks, so a
    /// signature with `d=com` or `d=localhost` is a syntax error
    /// (`permerror`), and no key signs for one.
    pub fn new(name: &str) -> Result<Self, Error> {
        let name = strip_root(name);
        if valid_name(name, 2) {
            Ok(Domain(Arc::from(name)))
        } else {
            Err(Error::InvalidDomain)
        }
    }

    /// The name as given (case preserved, no trailing dot).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `self` is `other` or a subdomain of `other`, label by label.
    pub fn eq_or_subdomain_of(&self, other: &Domain) -> bool {
        eq_or_subdomain(&self.0, &other.0)
    }
}

impl PartialEq for Domain {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::str::FromStr for Domain {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Domain::new(s)
    }
}

/// A selector (`s=`): one or more labels, naming the key record at
/// `<selector>._domainkey.<domain>`.
///
/// Cheap to clone, like [`Domain`].
#[derive(Clone, Debug, Eq)]
pub struct Selector(Arc<str>);

impl Selector {
    /// Validates a selector.
    pub fn new(name: &str) -> Result<Self, Error> {
        if valid_name(name, 1) {
            Ok(Selector(Arc::from(name)))
        } else {
            Err(Error::InvalidSelector)
        }
    }

    /// The selector as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the key record's name fits in a DNS name (253
    /// characters, RFC 1035 2.3.4): each part may be valid alone, and the
    /// name still too long to exist, so no key can ever be found there.
    pub fn record_name_fits(&self, domain: &Domain) -> bool {
        fits_dns(self.0.len() + "._domainkey.".len() + domain.0.len())
    }

    /// The DNS name of the key record: `<selector>._domainkey.<domain>`
    /// (RFC 6376 3.6.2.1).
    pub fn record_name(&self, domain: &Domain) -> String {
        let mut s = String::with_capacity(self.0.len() + domain.0.len() + 12);
        s.push_str(&self.0);
        s.push_str("._domainkey.");
        s.push_str(&domain.0);
        s
    }
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::str::FromStr for Selector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Selector::new(s)
    }
}

/// An agent or user identifier (`i=`): `[local-part]@domain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    local_part: Option<String>,
    domain: Domain,
}

impl Identity {
    /// Parses `[local-part]@domain`. The local part is split at the last
    /// `@` (an unquoted `@` before it is let through) and may be empty; it
    /// may hold printable ASCII and UTF-8 (RFC 8616 3.2), but no white
    /// space, control characters or `;`, except
    /// inside a quoted local part (RFC 5321 4.1.2 `Quoted-string`, which
    /// keeps its quotes: `"joe smith"@example.com`, written `=22joe=20smith=22`
    /// in `i=`).
    pub fn new(text: &str) -> Result<Self, Error> {
        let at = text.rfind('@').ok_or(Error::InvalidIdentity)?;
        let (local, domain) = (&text[..at], &text[at + 1..]);
        let plain = |b: u8| (b.is_ascii_graphic() && b != b';') || b >= 0x80;
        let ok = match local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
            // qtextSMTP and quoted-pairSMTP: printable ASCII and SP
            Some(inner) => inner.bytes().all(|b| plain(b) || b == b' ' || b == b';'),
            None => local.bytes().all(plain),
        };
        if !ok {
            return Err(Error::InvalidIdentity);
        }
        let domain = Domain::new(domain).map_err(|_| Error::InvalidIdentity)?;
        Ok(Identity {
            local_part: (!local.is_empty()).then(|| local.to_string()),
            domain,
        })
    }

    /// Identity `@domain` (no local part), the default i= for d=domain.
    pub fn for_domain(domain: &Domain) -> Self {
        Identity {
            local_part: None,
            domain: domain.clone(),
        }
    }

    /// The local part, if there is one.
    pub fn local_part(&self) -> Option<&str> {
        self.local_part.as_deref()
    }

    /// The domain part.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// True when the identity's domain is `d` or a subdomain of `d`
    /// (RFC 6376 3.5, i= tag).
    pub fn is_within(&self, d: &Domain) -> bool {
        self.domain.eq_or_subdomain_of(d)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = &self.local_part {
            f.write_str(l)?;
        }
        write!(f, "@{}", self.domain)
    }
}

impl core::str::FromStr for Identity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Identity::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    #[test]
    fn domains() {
        assert!(Domain::new("example.com").is_ok());
        assert_eq!(Domain::new("Example.COM.").unwrap().as_str(), "Example.COM");
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "a b.com",
            "exämple.com",
            "a.com..",
            // RFC 6376 3.5: a domain-name has two labels or more
            "com",
            "localhost",
            "com.",
        ] {
            assert_eq!(Domain::new(bad), Err(Error::InvalidDomain), "{bad}");
        }
        let long = ["a"; 130].join(".");
        assert_eq!(Domain::new(&long), Err(Error::InvalidDomain));
        assert_eq!(Domain::new(&"a".repeat(64)), Err(Error::InvalidDomain));
    }

    #[test]
    fn subdomain_by_labels_not_suffix() {
        let d = Domain::new("example.com").unwrap();
        let ok = |s: &str| Domain::new(s).unwrap().eq_or_subdomain_of(&d);
        assert!(ok("example.com"));
        assert!(ok("EXAMPLE.com"));
        assert!(ok("mail.example.com"));
        assert!(ok("a.b.Example.Com"));
        assert!(!ok("evilexample.com"));
        assert!(!ok("example.org"));
    }

    #[test]
    fn rfc6376_3_5_identity_must_be_within_d() {
        let d = Domain::new("example.com").unwrap();
        assert!(Identity::new("@example.com").unwrap().is_within(&d));
        assert!(Identity::new("joe@eng.example.com").unwrap().is_within(&d));
        assert!(!Identity::new("joe@evilexample.com").unwrap().is_within(&d));
        let i = Identity::new("\"a@b\"@example.com").unwrap();
        assert_eq!(i.local_part(), Some("\"a@b\""));
        assert_eq!(i.to_string(), "\"a@b\"@example.com");
        assert_eq!(Identity::new("example.com"), Err(Error::InvalidIdentity));
        assert_eq!(
            Identity::new("a b@example.com"),
            Err(Error::InvalidIdentity)
        );
        // RFC 5321 4.1.2: a quoted local part may hold SP and `;`
        let q = Identity::new("\"joe smith;x\"@example.com").unwrap();
        assert_eq!(q.local_part(), Some("\"joe smith;x\""));
        assert_eq!(
            Identity::new("\"a\tb\"@example.com"),
            Err(Error::InvalidIdentity)
        );
        assert_eq!(Identity::new("@com"), Err(Error::InvalidIdentity));
        // RFC 8616: UTF-8 local parts
        assert_eq!(
            Identity::new("jos\u{e9}@example.com").unwrap().local_part(),
            Some("jos\u{e9}")
        );
        assert_eq!(Identity::new("a@"), Err(Error::InvalidIdentity));
        // lenient on purpose: an unquoted `@` in the local part (RFC 5321's
        // Dot-string has none) is kept, split at the last `@`; what 3.5
        // asks of i= is its domain, and a verifier that refused the
        // signature for its local part would fail mail others pass
        let loose = Identity::new("a@b@example.com").unwrap();
        assert_eq!(loose.local_part(), Some("a@b"));
        assert!(loose.is_within(&d));
    }

    #[test]
    fn selector_record_name() {
        let s = Selector::new("brisbane").unwrap();
        let d = Domain::new("football.example.com").unwrap();
        assert_eq!(
            s.record_name(&d),
            "brisbane._domainkey.football.example.com"
        );
        assert!(Selector::new("2024.q1").is_ok());
        assert_eq!(Selector::new("a;b"), Err(Error::InvalidSelector));
        // each part valid, the record name one character too long
        let domain = Domain::new(
            &[
                "a".repeat(63),
                "b".repeat(63),
                "c".repeat(63),
                "example".into(),
            ]
            .join("."),
        )
        .unwrap();
        assert_eq!(domain.as_str().len(), 199);
        let fits = Selector::new(&"s".repeat(253 - 199 - 12)).unwrap();
        assert!(fits.record_name_fits(&domain));
        assert_eq!(fits.record_name(&domain).len(), 253);
        let over = Selector::new(&"s".repeat(253 - 199 - 11)).unwrap();
        assert!(!over.record_name_fits(&domain));
    }
}
