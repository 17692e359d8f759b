//! `Authentication-Results` (RFC 8601) for DKIM results, with the
//! `header.d`, `header.s`, `header.i`, `header.a` and `header.b` (RFC 6008:
//! the first 8 characters of `b=`) properties.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::SignatureResult;

/// RFC 2045 `tspecials`: characters that end a MIME token.
fn is_token(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

/// An RFC 8601 `pvalue` for a `header.*` property: a token, an
/// `[local-part] "@" domain` as written, or else a quoted string.
fn pvalue(v: &str) -> String {
    let addr_like = v.bytes().filter(|b| *b == b'@').count() == 1
        && v.split('@')
            .all(|p| p.is_empty() || is_token(p) || p.split('.').all(is_token));
    if is_token(v) || (addr_like && !v.ends_with('@')) {
        return String::from(v);
    }
    quoted(v)
}

fn quoted(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// One `dkim=...` resinfo.
pub(crate) fn resinfo(r: &SignatureResult) -> String {
    let mut s = String::from("dkim=");
    s.push_str(r.result.as_str());
    if r.testing {
        s.push_str(" (key in test mode)");
    }
    if let Some(reason) = &r.reason {
        let _ = write!(s, " reason={}", quoted(&alloc::format!("{reason}")));
    }
    let l = &r.labels;
    for (name, value) in [
        ("d", &l.domain),
        ("s", &l.selector),
        ("i", &l.identity),
        ("a", &l.algorithm),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            let _ = write!(s, " header.{name}={}", pvalue(v));
        }
    }
    if let Some(b) = l.signature.as_deref().filter(|b| !b.is_empty()) {
        let prefix: String = b.chars().take(8).collect();
        let _ = write!(s, " header.b={}", pvalue(&prefix));
    }
    s
}

/// The authserv-id as RFC 8601 2.2 wants it: a token (host names are), or
/// else a quoted string, so that no input can end the field early.
fn authserv(id: &str) -> String {
    if is_token(id) {
        String::from(id)
    } else {
        quoted(id)
    }
}

fn parts(results: &[SignatureResult]) -> Vec<String> {
    if results.is_empty() {
        alloc::vec![String::from("dkim=none")]
    } else {
        results.iter().map(resinfo).collect()
    }
}

/// The field value: `authserv-id; dkim=...; dkim=...`, or
/// `authserv-id; dkim=none` for an unsigned message. One line; see
/// [`field`] for a folded header field.
pub fn format(authserv_id: &str, results: &[SignatureResult]) -> String {
    let mut s = authserv(authserv_id);
    for p in parts(results) {
        s.push_str("; ");
        s.push_str(&p);
    }
    s
}

/// The whole header field, `Authentication-Results: ...`, one result per
/// line (folded with CRLF and a TAB), ending in CRLF.
pub fn field(authserv_id: &str, results: &[SignatureResult]) -> String {
    let mut s = String::from("Authentication-Results: ");
    s.push_str(&authserv(authserv_id));
    for p in parts(results) {
        s.push_str(";\r\n\t");
        s.push_str(&p);
    }
    s.push_str("\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvalues() {
        assert_eq!(pvalue("example.com"), "example.com");
        assert_eq!(pvalue("@example.com"), "@example.com");
        assert_eq!(
            pvalue("joe@football.example.com"),
            "joe@football.example.com"
        );
        assert_eq!(pvalue("rsa-sha256"), "rsa-sha256");
        assert_eq!(pvalue("ab/cd+ef"), "\"ab/cd+ef\"");
        assert_eq!(pvalue("a\"b"), "\"a\\\"b\"");
        assert_eq!(pvalue("x\r\ny"), "\"xy\"");
    }

    #[test]
    fn authserv_id_cannot_inject_a_field() {
        assert_eq!(format("mx.example.org", &[]), "mx.example.org; dkim=none");
        assert_eq!(
            field("mx\r\nX-Evil: 1", &[]),
            "Authentication-Results: \"mxX-Evil: 1\";\r\n\tdkim=none\r\n"
        );
    }
}
