//! The `DKIM-Signature` header field (RFC 6376 3.5): a typed model, the
//! parser, and the writer that folds the field to 78 columns.

use alloc::string::String;
use alloc::vec::Vec;

use crate::canonicalize::Canonicalization;
use crate::domain::{Domain, Identity, Selector};
use crate::keys::SigningAlgorithm;
use crate::message::HeaderName;
use crate::tag_list::TagList;

pub use crate::message::is_field_name;

mod parse;
mod qp;
mod write;

pub(crate) use qp::qp_encode_into;
pub use qp::{qp_decode, qp_encode};

/// The header field name.
pub const HEADER_NAME: &str = "DKIM-Signature";

/// Longest line of a folded header we write (RFC 5322 2.1.1: lines
/// SHOULD be no more than 78 characters, excluding the CRLF).
pub const FOLD_WIDTH: usize = 78;

/// A parsed or to-be-written DKIM signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSignature {
    /// `a=`.
    pub algorithm: SigningAlgorithm,
    /// `b=`: the signature bytes (empty while signing).
    pub signature: Vec<u8>,
    /// `bh=`: the body hash.
    pub body_hash: Vec<u8>,
    /// `c=`. Default (tag absent): simple/simple.
    pub canonicalization: Canonicalization,
    /// `d=`: the signing domain (SDID).
    pub domain: Domain,
    /// `h=`: the signed header field names, in order, as written.
    pub signed_headers: Vec<HeaderName>,
    /// `i=`: the agent or user identifier (AUID). Default (tag absent):
    /// `@` + d=, see [`auid`](Self::auid).
    pub identity: Option<Identity>,
    /// `l=`: number of canonicalized body bytes signed. Default: all.
    pub body_length: Option<u64>,
    /// `q=`: query methods, as written. Default (tag absent): `dns/txt`.
    pub query_methods: Option<Vec<String>>,
    /// `s=`: the selector.
    pub selector: Selector,
    /// `t=`: signature timestamp, seconds since 1970 (UTC).
    pub timestamp: Option<u64>,
    /// `x=`: expiration, seconds since 1970 (UTC).
    pub expiration: Option<u64>,
    /// `z=`: copied header fields, as written (DKIM-Quoted-Printable,
    /// separated by `|`), folding white space removed.
    pub copied_headers: Option<String>,
    /// Tags this version of DKIM does not define, kept verbatim
    /// (RFC 6376 3.2: "Unrecognized tags MUST be ignored").
    pub unknown_tags: Vec<(String, String)>,
}

/// Salvaged identification of a signature that could not be parsed, for
/// reporting (RFC 8601 `header.d`, `header.s`, ...).
///
/// Design note: these are the sender's bytes, salvaged even from
/// signatures that do not parse, and they go into log lines and the
/// `Authentication-Results` field. A value is kept only when it has no
/// control character (C0, DEL or C1, once decoded) and is no longer than
/// any valid one can be; otherwise it is left out, as if
/// absent. A hostile signature can then neither break a log line nor make
/// the report too big for the checks a host applies to it (the sandbox's
/// report is refused when oversized, which would tempfail the message on
/// every retry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureLabels {
    /// `d=` as written, if present and reportable.
    pub domain: Option<String>,
    /// `s=` as written, if present and reportable.
    pub selector: Option<String>,
    /// `a=` as written, if present and reportable.
    pub algorithm: Option<String>,
    /// `i=` as written (quoted-printable decoded), if present and
    /// reportable.
    pub identity: Option<String>,
    /// The first 8 characters of `b=` (FWS removed), what RFC 6008
    /// `header.b` reports, if present and reportable.
    pub signature: Option<String>,
}

/// The longest value kept of each label, in bytes: `d=` and `s=` are DNS
/// names (at most 255 octets, RFC 1035 2.3.4), `i=` a local part of at most
/// 64 octets (RFC 5321 4.5.3.1.1), `@` and a domain; `a=` one of a few
/// short names.
const MAX_NAME: usize = 255;
const MAX_IDENTITY: usize = 64 + 1 + MAX_NAME;
const MAX_ALGORITHM: usize = 32;

/// The characters of `b=` reported (RFC 6008 3: `header.b`, 8 at least).
const SIGNATURE_CHARS: usize = 8;

/// `value` as text if it may be reported: at most `max` bytes, no control
/// character (invalid UTF-8 replaced, as `String::from_utf8_lossy` does).
fn reportable(value: &[u8], max: usize) -> Option<String> {
    // C0 and DEL are single bytes, C1 (U+0080 to U+009F) is C2 80 to C2 9F:
    // one pass over the bytes finds any of them (and C2 bytes, for the
    // exact test), where decoding every character would cost a loop of
    // its own in WebAssembly
    let suspect = |b: &u8| *b < 0x20 || *b == 0x7f || *b == 0xc2;
    let control = |v: &[u8]| {
        v.iter().any(|&b| b < 0x20 || b == 0x7f)
            || v.windows(2)
                .any(|w| w[0] == 0xc2 && (0x80..0xa0).contains(&w[1]))
    };
    if value.len() > max || (value.iter().any(suspect) && control(value)) {
        return None;
    }
    Some(match core::str::from_utf8(value) {
        Ok(s) => String::from(s),
        Err(_) => String::from_utf8_lossy(value).into_owned(),
    })
}

impl SignatureLabels {
    /// Picks what it can out of a signature's value, even a broken one.
    pub fn salvage(value: &[u8]) -> Self {
        match TagList::parse(value) {
            Ok(tags) => Self::from_tags(&tags),
            Err(_) => SignatureLabels::default(),
        }
    }

    fn from_tags(tags: &TagList<'_>) -> Self {
        let label = |name: &str, max: usize| {
            reportable(&crate::tag_list::without_fws(tags.get(name)?.value), max)
        };
        SignatureLabels {
            domain: label("d", MAX_NAME),
            selector: label("s", MAX_NAME),
            algorithm: label("a", MAX_ALGORITHM),
            identity: tags.get("i").and_then(|i| {
                let raw = i.value_without_fws();
                reportable(&qp_decode(&raw).unwrap_or(raw), MAX_IDENTITY)
            }),
            signature: tags.get("b").and_then(|b| {
                // the first characters only: the rest (hundreds of bytes)
                // is never reported, so neither copied nor checked
                let mut prefix = Vec::with_capacity(4 * SIGNATURE_CHARS);
                let mut chars = 0;
                for &c in b.value.iter().filter(|&&c| !crate::tag_list::is_fws(c)) {
                    let starts = c & 0xc0 != 0x80;
                    if starts && chars == SIGNATURE_CHARS {
                        break;
                    }
                    chars += usize::from(starts);
                    prefix.push(c);
                }
                reportable(&prefix, 4 * SIGNATURE_CHARS)
            }),
        }
    }
}

impl DkimSignature {
    /// The AUID: `i=`, or `@` + `d=` when i= is absent (RFC 6376 3.5).
    pub fn auid(&self) -> Identity {
        self.identity
            .clone()
            .unwrap_or_else(|| Identity::for_domain(&self.domain))
    }

    /// True when `q=` is absent or lists `dns/txt`, the only query method
    /// there is (RFC 6376 3.5, q= tag).
    pub fn uses_dns_txt(&self) -> bool {
        match &self.query_methods {
            None => true,
            Some(q) => q.iter().any(|m| m == "dns/txt" || m == "dns"),
        }
    }
}

#[cfg(test)]
mod tests;
