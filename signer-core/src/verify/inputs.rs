//! What a verifier is given: the policy (how strict), the DNS answers, and
//! the queries it asks for.

use alloc::string::String;
use alloc::vec::Vec;

use crate::keys::RSA_MIN_SIGNING_BITS;

/// How strict verification is. Defaults follow RFC 6376 and RFC 8301;
/// every relaxation is a named field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// RSA keys with fewer bits get `policy`. Default: 1024 (RFC 8301 3.2).
    pub min_rsa_bits: usize,
    /// Accept `rsa-sha1` signatures. Default: false (RFC 8301 3.1).
    pub allow_rsa_sha1: bool,
    /// Accept signatures whose `l=` leaves part of the body unsigned.
    /// Default: false (anything can be appended to such a message).
    pub allow_unsigned_body_tail: bool,
    /// Accept signatures whose `h=` lacks From. Default: false (RFC 6376
    /// 6.1.1 says verifiers MUST reject them).
    pub allow_unsigned_from: bool,
    /// Do not check `x=`. Default: false.
    pub ignore_expiration: bool,
    /// How far `t=` may lie in the future, in seconds. Default: 300.
    pub clock_skew: u64,
    /// At most this many signatures are evaluated: those of the From
    /// domain first, then of its parent domains, then the others, each
    /// from the top; the rest get one `neutral` entry. Default: 8.
    pub max_signatures: usize,
    /// Largest header block accepted, in bytes. Default: 1 MiB.
    pub max_header_bytes: usize,
    /// Accept a message without exactly one From field, as RFC 6376 alone
    /// would. Default: false: such a message's valid signatures get
    /// `policy` with [`Reason::FromCount`](super::Reason::FromCount), because a From field added
    /// above a signed one is how a signed message is made to show another
    /// sender (RFC 6376 8.15; DMARC, RFC 7489 6.6.1, rejects it too).
    pub allow_from_count: bool,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        VerifyPolicy {
            min_rsa_bits: RSA_MIN_SIGNING_BITS,
            allow_rsa_sha1: false,
            allow_unsigned_body_tail: false,
            allow_unsigned_from: false,
            ignore_expiration: false,
            clock_skew: 300,
            max_signatures: 8,
            max_header_bytes: crate::sign::DEFAULT_MAX_HEADER_BYTES,
            allow_from_count: false,
        }
    }
}

/// The answer to one DNS TXT query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAnswer {
    /// The TXT records at the name; each record is the list of its
    /// character-strings, which are concatenated (RFC 6376 3.6.2.2).
    Records(Vec<Vec<Vec<u8>>>),
    /// The name does not exist, or has no TXT record.
    NxDomain,
    /// The lookup failed temporarily (timeout, SERVFAIL).
    TempFail,
}

impl KeyAnswer {
    /// One record of one string.
    pub fn record(txt: impl AsRef<[u8]>) -> Self {
        KeyAnswer::Records(alloc::vec![alloc::vec![txt.as_ref().to_vec()]])
    }

    /// An answer written as text, the way `waxseal verify --key-dir` files
    /// and test vectors hold it: the word `NXDOMAIN`; or the TXT record in
    /// zone-file form, its character-strings in double quotes (kept apart,
    /// as a resolver returns them; `\"`, `\\` and `\DDD` escapes, RFC 1035
    /// 5.1), anything outside the quotes (owner name, `IN TXT`, parentheses)
    /// ignored; or else the plain value, its lines trimmed and joined (a
    /// value pasted with line breaks).
    pub fn from_record_text(text: &str) -> Self {
        let text = text.trim_start_matches('\u{feff}');
        if text.trim() == "NXDOMAIN" {
            return KeyAnswer::NxDomain;
        }
        if !text.contains('"') {
            let joined: String = text.lines().map(str::trim).collect();
            return KeyAnswer::record(joined);
        }
        let b = text.as_bytes();
        let mut strings = Vec::new();
        let mut cur = Vec::new();
        let mut inside = false;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            i += 1;
            match (inside, c) {
                (false, b'"') => inside = true,
                (false, _) => {}
                (true, b'"') => {
                    strings.push(core::mem::take(&mut cur));
                    inside = false;
                }
                (true, b'\\') => {
                    let digits = b[i..].iter().take(3).take_while(|d| d.is_ascii_digit());
                    if digits.count() == 3 {
                        let n = b[i..i + 3]
                            .iter()
                            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                        cur.push(n.min(255) as u8);
                        i += 3;
                    } else if let Some(&e) = b.get(i) {
                        cur.push(e);
                        i += 1;
                    }
                }
                (true, _) => cur.push(c),
            }
        }
        if inside {
            // an unterminated string still counts
            strings.push(cur);
        }
        KeyAnswer::Records(alloc::vec![strings])
    }

    pub(super) fn records(&self) -> Vec<Vec<u8>> {
        match self {
            KeyAnswer::Records(rs) => rs.iter().map(|strings| strings.concat()).collect(),
            _ => Vec::new(),
        }
    }
}

/// What a DNS query is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryKind {
    /// A DKIM key record (`<s>._domainkey.<d>`).
    Key,
    /// The legacy signing policy of the From domain
    /// (`_policy._domainkey.<domain>`); information only.
    LegacyPolicy,
    /// The DMARC record of the From domain (`_dmarc.<domain>`);
    /// information only.
    Dmarc,
}

/// A DNS TXT query the verifier would like answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The name to look up (no trailing dot).
    pub name: String,
    /// Why.
    pub kind: QueryKind,
}
