//! `Authentication-Results` (RFC 8601) for DKIM results, with the
//! `header.d`, `header.s`, `header.i`, `header.a` and `header.b` (RFC 6008:
//! the first 8 characters of `b=`) properties.

use alloc::string::String;
use core::fmt::Write as _;

use super::SignatureResult;

/// A byte of an RFC 2045 token: visible ASCII but not `tspecials`
/// (characters that end a MIME token).
const fn token_byte(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        )
}

fn is_token(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(token_byte)
}

/// A byte of an RFC 5322 `atext`.
const fn atext(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}

/// An RFC 5322 `dot-atom-text`: atoms joined by single dots.
fn is_dot_atom(v: &str) -> bool {
    v.split('.').all(|a| !a.is_empty() && a.bytes().all(atext))
}

/// Appends an RFC 8601 `pvalue` for a `header.*` property (2.2): a token,
/// `[local-part] "@" domain-name` as written when it is one (a dot-atom
/// local part, a domain name of two labels or more: RFC 6376 3.5, letters,
/// digits and hyphens: RFC 5321 4.1.2), or
/// else a quoted string, which any value can be.
fn push_pvalue(out: &mut String, v: &str) {
    let address = v.split_once('@').is_some_and(|(local, domain)| {
        (local.is_empty() || is_dot_atom(local))
            && crate::domain::valid_name(domain, 2)
            && !domain.contains('_')
    });
    if is_token(v) || address {
        out.push_str(v);
    } else {
        push_quoted(out, v);
    }
}

fn push_quoted(out: &mut String, v: &str) {
    out.reserve(v.len() + 2);
    out.push('"');
    for c in v.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Appends one `dkim=...` resinfo.
fn push_resinfo(s: &mut String, r: &SignatureResult) {
    s.push_str("dkim=");
    s.push_str(r.result.as_str());
    if r.testing {
        s.push_str(" (key in test mode)");
    }
    if let Some(reason) = &r.reason {
        s.push_str(" reason=");
        push_quoted(s, &alloc::format!("{reason}"));
    }
    let l = &r.labels;
    for (name, value) in [
        ("d", &l.domain),
        ("s", &l.selector),
        ("i", &l.identity),
        ("a", &l.algorithm),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            let _ = write!(s, " header.{name}=");
            push_pvalue(s, v);
        }
    }
    if let Some(b) = l.signature.as_deref().filter(|b| !b.is_empty()) {
        // RFC 6008: the first 8 characters
        let end = b.char_indices().nth(8).map_or(b.len(), |(i, _)| i);
        s.push_str(" header.b=");
        push_pvalue(s, &b[..end]);
    }
}

/// The authserv-id as RFC 8601 2.2 wants it: a token (host names are), or
/// else a quoted string, so that no input can end the field early.
fn push_authserv(out: &mut String, id: &str) {
    if is_token(id) {
        out.push_str(id);
    } else {
        push_quoted(out, id);
    }
}

/// `authserv-id`, then each resinfo after `separator`.
fn build(head: &str, authserv_id: &str, results: &[SignatureResult], separator: &str) -> String {
    // about 120 bytes per result: one allocation
    let mut s = String::with_capacity(head.len() + authserv_id.len() + 16 + 128 * results.len());
    s.push_str(head);
    push_authserv(&mut s, authserv_id);
    if results.is_empty() {
        s.push_str(separator);
        s.push_str("dkim=none");
    }
    for r in results {
        s.push_str(separator);
        push_resinfo(&mut s, r);
    }
    s
}

/// The field value: `authserv-id; dkim=...; dkim=...`, or
/// `authserv-id; dkim=none` for an unsigned message. One line; see
/// [`field`] for a folded header field.
pub fn format(authserv_id: &str, results: &[SignatureResult]) -> String {
    build("", authserv_id, results, "; ")
}

/// The whole header field, `Authentication-Results: ...`, one result per
/// line (folded with CRLF and a TAB), ending in CRLF.
pub fn field(authserv_id: &str, results: &[SignatureResult]) -> String {
    let mut s = build("Authentication-Results: ", authserv_id, results, ";\r\n\t");
    s.push_str("\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pvalue(v: &str) -> String {
        let mut s = String::new();
        push_pvalue(&mut s, v);
        s
    }

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
        // RFC 8601 2.2: `local-part "@" domain-name` only when it is one;
        // anything else quoted
        assert_eq!(pvalue("o'neil+tag@example.com"), "o'neil+tag@example.com");
        for odd in [
            "a..b@example.com",
            "a.@example.com",
            ".a@example.com",
            "x@exa!mple.com",
            "x@example",
            "x@ex_ample.com",
            "x@",
            "\"a b\"@example.com",
        ] {
            assert_eq!(
                pvalue(odd),
                alloc::format!("\"{}\"", odd.replace('"', "\\\"")),
                "{odd}"
            );
        }
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
