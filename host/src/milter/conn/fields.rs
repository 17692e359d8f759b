//! Header field text the milter reads and writes: the authserv-id of an
//! Authentication-Results field (RFC 8601 2.2), the DKIM-Signature fields
//! a session returns, the Authentication-Results field it adds, and the
//! log line.

use crate::engine::Report;

/// The authserv-id of an Authentication-Results value (RFC 8601 2.2:
/// `[CFWS] authserv-id`, where the id is a `value`, RFC 2045: a token or a
/// quoted string, given here without its quotes and quoted-pairs).
/// Comments nest and may hold quoted-pairs (RFC 5322 3.2.2), so `(\()`
/// is one comment, not the start of one that swallows the id.
pub(super) fn authserv_id(value: &[u8]) -> String {
    let n = value.len();
    let mut i = 0;
    // CFWS before the id
    while i < n {
        match value[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => i = comment_end(value, i),
            _ => break,
        }
    }
    let mut id = Vec::new();
    if value.get(i) == Some(&b'"') {
        i += 1;
        while i < n && value[i] != b'"' {
            if value[i] == b'\\' && i + 1 < n {
                i += 1;
            }
            // a fold inside the quotes unfolds (its CRLF goes)
            if !matches!(value[i], b'\r' | b'\n') {
                id.push(value[i]);
            }
            i += 1;
        }
    } else {
        while i < n && !matches!(value[i], b';' | b'(' | b'"' | b' ' | b'\t' | b'\r' | b'\n') {
            id.push(value[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&id).into_owned()
}

/// Where the comment that opens at `value[start]` ends (just after its
/// closing parenthesis, or the end of `value`).
fn comment_end(value: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < value.len() {
        match value[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    value.len()
}

/// Header fields (`Name: value\r\n`, folded) as name and value (the value
/// with its leading space, without the final CRLF).
pub(super) fn split_fields(text: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\n' && !matches!(b.get(i + 1), Some(b' ' | b'\t')) {
            let field = &b[start..=i];
            let field = field.strip_suffix(b"\r\n").unwrap_or(field);
            if let Some(colon) = field.iter().position(|&c| c == b':') {
                out.push((field[..colon].to_vec(), field[colon + 1..].to_vec()));
            }
            start = i + 1;
        }
        i += 1;
    }
    out
}

/// The Authentication-Results field's value, with a leading space, folded
/// after each `;` outside quoted strings when it is longer than a line.
pub(super) fn authentication_results_field(report: &Report) -> Vec<u8> {
    let text = report.authentication_results.as_bytes();
    let mut v = b" ".to_vec();
    if text.len() < 70 {
        v.extend_from_slice(text);
        return v;
    }
    let mut quoted = false;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        match b {
            b'"' => quoted = !quoted,
            b'\\' if quoted => {
                v.push(b);
                i += 1;
                if let Some(&n) = text.get(i) {
                    v.push(n);
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        v.push(b);
        if b == b';' && !quoted {
            v.extend_from_slice(b"\r\n\t");
            while text.get(i + 1) == Some(&b' ') {
                i += 1;
            }
        }
        i += 1;
    }
    v
}

/// One line for the log: each signature's result.
pub(super) fn summary(report: &Report) -> String {
    if report.verdicts.is_empty() {
        return "dkim=none (no signature)".into();
    }
    report
        .verdicts
        .iter()
        .map(|v| v.summary.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn authserv_ids() {
        assert_eq!(authserv_id(b" mx.example.com; dkim=pass"), "mx.example.com");
        assert_eq!(
            authserv_id(b" (comment) mx.example.com 1; none"),
            "mx.example.com"
        );
        assert_eq!(authserv_id(b"mx.example.com;dkim=pass"), "mx.example.com");
        assert_eq!(authserv_id(b"\n\tmx.example.com;"), "mx.example.com");
        // a quoted-string id, a quoted-pair in a comment, nested comments
        assert_eq!(
            authserv_id(b" \"mx.example.com\"; dkim=pass"),
            "mx.example.com"
        );
        assert_eq!(authserv_id(b" \"mx.exa\\mple.com\";"), "mx.example.com");
        assert_eq!(
            authserv_id(b" (\\() mx.example.com; dkim=pass"),
            "mx.example.com"
        );
        assert_eq!(
            authserv_id(b" (a (b) c)\n\t(d)mx.example.com(e);"),
            "mx.example.com"
        );
        assert_eq!(authserv_id(b" (never closed mx.example.com;"), "");
    }

    #[test]
    fn fields_split() {
        let f = split_fields(
            "DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=abc\r\nDKIM-Signature: v=1;\r\n b=x\r\n",
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0, b"DKIM-Signature");
        assert_eq!(f[0].1, b" v=1; a=rsa-sha256;\r\n\tb=abc");
        assert_eq!(f[1].1, b" v=1;\r\n b=x");
    }
}
