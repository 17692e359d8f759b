//! The `DKIM-Signature` header field (RFC 6376 3.5): a typed model, the
//! parser, and the writer that folds the field to 78 columns.

use alloc::string::String;
use alloc::vec::Vec;

use crate::canonicalize::Canonicalization;
use crate::domain::{Domain, Identity, Selector};
use crate::keys::SigningAlgorithm;
use crate::message::HeaderName;
use crate::tag_list::{Tag, TagList};

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
    /// `b=` as written (FWS removed), if present and reportable.
    pub signature: Option<String>,
}

/// The longest value kept of each label, in bytes: `d=` and `s=` are DNS
/// names (at most 255 octets, RFC 1035 2.3.4), `i=` a local part of at most
/// 64 octets (RFC 5321 4.5.3.1.1), `@` and a domain; `a=` one of a few
/// short names; `b=` the base64 of at most an RSA-8192 signature (1,366
/// characters).
const MAX_NAME: usize = 255;
const MAX_IDENTITY: usize = 64 + 1 + MAX_NAME;
const MAX_ALGORITHM: usize = 32;
const MAX_SIGNATURE: usize = 1400;

/// `value` if it may be reported: at most `max` bytes, no control
/// character.
fn reportable(value: String, max: usize) -> Option<String> {
    (value.len() <= max && !value.chars().any(char::is_control)).then_some(value)
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
        let text = |t: &Tag<'_>| {
            let v = crate::tag_list::without_fws(t.value);
            match core::str::from_utf8(&v) {
                Ok(s) => String::from(s),
                Err(_) => String::from_utf8_lossy(&v).into_owned(),
            }
        };
        let label =
            |name: &str, max: usize| tags.get(name).map(text).and_then(|v| reportable(v, max));
        SignatureLabels {
            domain: label("d", MAX_NAME),
            selector: label("s", MAX_NAME),
            algorithm: label("a", MAX_ALGORITHM),
            identity: tags
                .get("i")
                .map(|i| {
                    let raw = i.value_without_fws();
                    let bytes = qp_decode(&raw).unwrap_or(raw);
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .and_then(|v| reportable(v, MAX_IDENTITY)),
            signature: label("b", MAX_SIGNATURE),
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
