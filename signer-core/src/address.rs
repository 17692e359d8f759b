//! The address in a From (or Sender) field, as far as DKIM signing and
//! policy need it (RFC 5322 3.4): `Name <user@example.com>` or
//! `user@example.com`, comments and quoted display names skipped. Good
//! enough to pick a signing key and name the policy records to look up;
//! not a full RFC 5322 address parser.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// A mailbox address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The local part as written (quotes kept), without surrounding
    /// white space.
    pub local: String,
    /// The domain, validated and lower-cased.
    pub domain: String,
}

/// The first mailbox of a From or Sender field value, if it has one with a
/// valid domain.
pub fn mailbox(value: &[u8]) -> Option<Mailbox> {
    let clean = without_comments(value);
    let (local, domain) = split_address(&clean)?;
    let domain = domain_of(domain)?;
    let local = core::str::from_utf8(local.trim_ascii()).ok()?;
    Some(Mailbox {
        local: String::from(local),
        domain,
    })
}

/// The first address of a From or Sender field value as written: its
/// local part and its domain (white space of a folded address removed),
/// the domain not validated. For a caller that maps an internationalized
/// domain (U-labels, RFC 6532) to its A-labels before it looks for a key;
/// [`mailbox`] takes only ASCII domains.
pub fn address_as_written(value: &[u8]) -> Option<(String, String)> {
    let clean = without_comments(value);
    let (local, domain) = split_address(&clean)?;
    let local = core::str::from_utf8(local.trim_ascii()).ok()?;
    let domain = unfolded_domain(domain)?.into_owned();
    Some((String::from(local), domain))
}

/// The domain of [`mailbox`], lower-cased, without the rest.
pub fn mailbox_domain(value: &[u8]) -> Option<String> {
    let clean = without_comments(value);
    domain_of(split_address(&clean)?.1)
}

/// The first address of a value without comments, split at its last `@`:
/// the local part and the domain as written.
fn split_address(clean: &[u8]) -> Option<(&[u8], &[u8])> {
    let addr = first_address(clean);
    let at = addr.iter().rposition(|b| *b == b'@')?;
    Some((&addr[..at], &addr[at + 1..]))
}

/// A domain as written after the `@`, white space of a folded address
/// removed (borrowed when there is none), if it is UTF-8.
fn unfolded_domain(text: &[u8]) -> Option<Cow<'_, str>> {
    if text.iter().any(u8::is_ascii_whitespace) {
        let owned: Vec<u8> = text
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        String::from_utf8(owned).ok().map(Cow::Owned)
    } else {
        core::str::from_utf8(text).ok().map(Cow::Borrowed)
    }
}

/// A domain as written after the `@` (white space of a folded address
/// removed), if valid: lower-cased.
fn domain_of(text: &[u8]) -> Option<String> {
    let unfolded = unfolded_domain(text)?;
    let d = crate::domain::strip_root(&unfolded);
    // what `Domain::new` accepts
    crate::domain::valid_name(d, 2).then(|| d.to_ascii_lowercase())
}

/// The value without comments (quoted strings are kept: a local part may
/// be one, but a quoted display name holds no address).
fn without_comments(value: &[u8]) -> Vec<u8> {
    let mut clean = Vec::with_capacity(value.len());
    let (mut quoted, mut depth, mut escaped) = (false, 0usize, false);
    for &b in value {
        if escaped {
            escaped = false;
            if quoted {
                clean.push(b);
            }
            continue;
        }
        match b {
            b'\\' if quoted || depth > 0 => {
                escaped = true;
                if quoted {
                    clean.push(b);
                }
            }
            b'"' if depth == 0 => {
                quoted = !quoted;
                clean.push(b);
            }
            b'(' if !quoted => depth += 1,
            b')' if !quoted && depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => clean.push(b),
        }
    }
    clean
}

/// The angle-addr, if any (outside quotes), else the first address of a
/// list.
fn first_address(clean: &[u8]) -> &[u8] {
    // one pass: the end of the first element, and its angle-addr if any
    let mut quotes = Quotes::default();
    let (mut open, mut close, mut end) = (None, None, clean.len());
    for (i, &b) in clean.iter().enumerate() {
        if !quotes.outside(b) {
            continue;
        }
        match b {
            b'<' if open.is_none() => open = Some(i),
            b'>' if open.is_some() && close.is_none() => close = Some(i),
            b',' if open.is_none() || close.is_some() => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    match (open, close) {
        (Some(a), Some(z)) => &clean[a + 1..z],
        _ => &clean[..end],
    }
}

/// The first element of an address list (up to a comma outside quoted
/// strings and angle brackets).
fn first_element(clean: &[u8]) -> &[u8] {
    let mut quotes = Quotes::default();
    let mut angle = false;
    for (i, &b) in clean.iter().enumerate() {
        if !quotes.outside(b) {
            continue;
        }
        match b {
            b'<' => angle = true,
            b'>' => angle = false,
            b',' if !angle => return &clean[..i],
            _ => {}
        }
    }
    clean
}

/// Where a scan of a value without comments is: in a quoted string or
/// not, after a backslash in one or not.
#[derive(Default)]
struct Quotes {
    quoted: bool,
    escaped: bool,
}

impl Quotes {
    /// Takes the next byte: true when it is outside every quoted string
    /// (quote marks are not; a quoted-pair does not end the quoted
    /// string, RFC 5322 3.2.4).
    #[inline(always)]
    fn outside(&mut self, b: u8) -> bool {
        if self.escaped {
            self.escaped = false;
            return false;
        }
        match b {
            b'\\' if self.quoted => self.escaped = true,
            b'"' => self.quoted = !self.quoted,
            _ => return !self.quoted,
        }
        false
    }
}

/// How many addresses a From or Sender field value lists (RFC 5322 3.6.2
/// allows several in From): the elements of the list that hold an `@`.
pub fn address_count(value: &[u8]) -> usize {
    let clean = without_comments(value);
    let mut rest: &[u8] = &clean;
    let mut n = 0;
    loop {
        let first = first_element(rest);
        n += usize::from(first.contains(&b'@'));
        match rest.get(first.len() + 1..) {
            Some(r) => rest = r,
            None => return n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mailbox, checking that `mailbox_domain` finds its domain.
    fn m(v: &str) -> Option<(String, String)> {
        let r = mailbox(v.as_bytes()).map(|m| (m.local, m.domain));
        assert_eq!(mailbox_domain(v.as_bytes()), r.clone().map(|r| r.1), "{v}");
        r
    }

    fn pair(l: &str, d: &str) -> Option<(String, String)> {
        Some((l.into(), d.into()))
    }

    #[test]
    fn common_forms() {
        assert_eq!(m(" Joe <joe@Example.COM>"), pair("joe", "example.com"));
        assert_eq!(m("joe@example.com"), pair("joe", "example.com"));
        assert_eq!(m(" joe@example.com (Joe)"), pair("joe", "example.com"));
        assert_eq!(
            m(" \"Smith, Joe <x@evil.example>\" <joe@example.com>"),
            pair("joe", "example.com")
        );
        assert_eq!(
            m(" (c@evil.example) <joe@example.com>"),
            pair("joe", "example.com")
        );
        assert_eq!(
            m(" \"joe q\"@example.com"),
            pair("\"joe q\"", "example.com")
        );
        assert_eq!(m(" a@example.com, b@other.org"), pair("a", "example.com"));
        assert_eq!(
            m(" a@example.com, B <b@other.org>"),
            pair("a", "example.com")
        );
        // a quoted-pair does not end the quoted string (RFC 5322 3.2.4)
        assert_eq!(
            m(" \"\\\" <alice@a.example>\" <ceo@b.example>"),
            pair("ceo", "b.example")
        );
        assert_eq!(
            m(" \"x\\\"y, <z@a.example>\" <ceo@b.example>"),
            pair("ceo", "b.example")
        );
        assert_eq!(m(" <joe@exa\r\n mple.com.>"), pair("joe", "example.com"));
    }

    #[test]
    fn no_address() {
        assert_eq!(m(" undisclosed-recipients:;"), None);
        assert_eq!(m(" Joe <joe>"), None);
        assert_eq!(m(" <joe@bad_domain!>"), None);
        assert_eq!(m(""), None);
        // RFC 6376 3.5: a domain-name has two labels or more
        assert_eq!(m(" <joe@localhost>"), None);
        // an internationalized domain: not here, but as written below
        assert_eq!(m(" J\u{f6}rg <j\u{f6}rg@b\u{fc}cher.example>"), None);
    }

    #[test]
    fn addresses_counted() {
        for (v, n) in [
            (" a@example.com", 1),
            (" Joe <joe@example.com>", 1),
            (" \"Smith, Joe <x@evil.example>\" <joe@example.com>", 1),
            (" (a@b.example, c@d.example) joe@example.com", 1),
            (" a@example.com, b@other.org", 2),
            (" \"\\\", x\" <a@example.com>, B <b@other.org>", 2),
            (" a@example.com, ,", 1),
            (" undisclosed-recipients:;", 0),
        ] {
            assert_eq!(address_count(v.as_bytes()), n, "{v}");
        }
    }

    #[test]
    fn addresses_as_written() {
        assert_eq!(
            address_as_written(" J\u{f6}rg (x) <j\u{f6}rg@B\u{fc}cher.\r\n example>".as_bytes()),
            Some(("j\u{f6}rg".into(), "B\u{fc}cher.example".into()))
        );
        assert_eq!(address_as_written(b" undisclosed-recipients:;"), None);
    }
}
