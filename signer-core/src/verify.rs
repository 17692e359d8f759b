//! Verification (RFC 6376 6), sans-I/O.
//!
//! The [`Verifier`] takes the message in chunks. As soon as the header
//! block is complete it knows every `DKIM-Signature` and tells which DNS
//! names it needs ([`Verifier::queries`]); the caller looks them up however
//! it likes (blocking, async, DNS-over-HTTPS, a test map) and hands the
//! answers back with [`Verifier::answer`], while the body keeps streaming.
//! The body is read once for all signatures. [`Verifier::finish`] returns
//! one typed result per signature, in RFC 8601 words, and an
//! `Authentication-Results` value.
//!
//! ```
//! use waxseal_core::verify::{verify, KeyAnswer, VerifyPolicy};
//! let msg = include_bytes!("../tests/vectors/rfc8463/a3-signed.eml");
//! let report = verify(msg, &VerifyPolicy::default(), Some(1528637909), &mut |name: &str| {
//!     match name {
//!         "brisbane._domainkey.football.example.com" => KeyAnswer::record(
//!             "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
//!         _ => KeyAnswer::NxDomain,
//!     }
//! })?;
//! assert_eq!(report.results[0].result.as_str(), "pass");   // ed25519
//! assert_eq!(report.results[1].result.as_str(), "permerror"); // no RSA key published
//! # Ok::<(), waxseal_core::Error>(())
//! ```
//!
//! # What counts as what
//!
//! Checks run in the order of RFC 6376 6.1: the signature field (6.1.1),
//! the key (6.1.2), then the hashes (6.1.3). The cryptographic check runs
//! even where policy will reject the signature (rsa-sha1, small keys,
//! expired, l=), so that "valid but not acceptable" (`policy`) is told apart
//! from "broken" (`fail`).
//!
//! | result | reasons |
//! |--------|---------|
//! | `pass` | it verifies and policy accepts it |
//! | `fail` | body hash mismatch; bad signature; key revoked (6.1.2: "treat this as a failed signature check") |
//! | `policy` | rsa-sha1 (RFC 8301 3.1); RSA key under the minimum (RFC 8301 3.2); `l=` leaves part of the body unsigned; expired (`x=`); timestamp in the future |
//! | `permerror` | signature syntax (missing tag, bad value, unknown algorithm, ...); From not signed; i= not under d=; x= before t=; l= larger than the body; no key; key syntax; k= does not match a=; key h= forbids the hash; key s= excludes email; key t=s and i= in a subdomain; query method not dns/txt |
//! | `temperror` | the key lookup failed temporarily, or was never answered |
//! | `neutral` | not evaluated: more signatures than the policy allows (one entry for all of them) |
//! | `none` | the message has no signature (message-level, see [`VerificationReport`]) |
//!
//! A key record with `t=y` (testing) is reported and does not change the
//! result.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::canonicalize::BodyCanonicalizer;
use crate::domain::Domain;
use crate::error::Error;
use crate::hash::{BodyHash, BodyHashSet, Sha256Factory};
use crate::keys::{KeyType, RSA_MIN_SIGNING_BITS, SigningAlgorithm};
use crate::message::{self, HeaderField};
use crate::policy::{DmarcRecord, LegacyPolicy};
use crate::sign::{header_hash_input, select_headers};
use crate::signature::{DkimSignature, HEADER_NAME, SignatureLabels};

/// At most this many TXT records at a key's name are tried (RFC 6376
/// 3.6.2.2 leaves several records undefined; a bound keeps a signer's DNS
/// from multiplying the work).
pub const MAX_KEY_RECORDS: usize = 4;

/// RFC 8601 2.7.1 result of one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DkimResult {
    /// The signature verified and is acceptable.
    Pass,
    /// The signature did not verify (the message or the key changed).
    Fail,
    /// Not evaluated.
    Neutral,
    /// It verifies, but local policy does not accept it.
    Policy,
    /// A temporary failure (DNS); a later attempt may succeed.
    TempError,
    /// A permanent error: syntax, missing or unusable key.
    PermError,
    /// No signature (message level only).
    None,
}

impl DkimResult {
    /// The RFC 8601 keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Neutral => "neutral",
            Self::Policy => "policy",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
            Self::None => "none",
        }
    }
}

impl fmt::Display for DkimResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a signature did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The signature field does not parse (RFC 6376 6.1.1); the error says
    /// what is wrong.
    Syntax(Error),
    /// `h=` does not include From (RFC 6376 6.1.1).
    FromNotSigned,
    /// `q=` names no method waxseal can use (only `dns/txt` exists).
    UnsupportedQueryMethod,
    /// `l=` is larger than the canonicalized body (RFC 6376 3.5: "MUST NOT
    /// be larger").
    BodyLengthTooLarge {
        /// The `l=` value.
        signed: u64,
        /// Length of the canonicalized body.
        total: u64,
    },
    /// No key record at `<s>._domainkey.<d>` (NXDOMAIN, or no TXT record
    /// that is a DKIM key).
    KeyNotFound,
    /// The key lookup failed temporarily (RFC 6376 6.1.2: TEMPFAIL).
    KeyUnavailable,
    /// The key record does not parse, or its key does not decode.
    KeySyntax(Error),
    /// `p=` is empty: the key was revoked.
    KeyRevoked,
    /// The record's `k=` does not fit the signature's `a=`.
    KeyAlgorithmMismatch,
    /// The record's `h=` does not allow the signature's hash.
    HashNotAllowed,
    /// The record's `s=` does not include email.
    ServiceNotEmail,
    /// The record has `t=s` and the `i=` domain is a subdomain of `d=`.
    StrictIdentityMismatch,
    /// The body hash does not match `bh=`: the body was changed.
    BodyHashMismatch,
    /// The signature does not verify: headers changed, or wrong key.
    BadSignature,
    /// `a=rsa-sha1`, which RFC 8301 3.1 says MUST NOT be considered valid.
    WeakAlgorithm,
    /// The RSA key is smaller than the policy minimum (RFC 8301 3.2).
    KeyTooSmall {
        /// The key size in bits.
        bits: usize,
    },
    /// `l=` covers only part of the body; the rest is unsigned.
    PartialBody {
        /// Canonicalized body bytes covered by the signature.
        signed: u64,
        /// Length of the canonicalized body.
        total: u64,
    },
    /// The signature expired (`x=` is in the past).
    Expired {
        /// The `x=` value.
        expiration: u64,
    },
    /// The timestamp `t=` is further in the future than the allowed skew.
    FutureTimestamp {
        /// The `t=` value.
        timestamp: u64,
    },
    /// Not evaluated: the message has more signatures than the policy
    /// allows to check.
    TooManySignatures {
        /// The policy limit.
        limit: usize,
        /// How many signatures beyond the limit this entry stands for.
        more: usize,
    },
    /// The signature verifies, but the message has no From field or more
    /// than one (RFC 5322 3.6 allows exactly one; RFC 6376 8.15: an added
    /// From field changes what the reader sees while the signature still
    /// verifies). Relaxed by [`VerifyPolicy::allow_from_count`].
    FromCount {
        /// How many From fields the message has.
        count: usize,
    },
    /// Not evaluated: the header block is larger than the policy allows
    /// ([`VerifyPolicy::max_header_bytes`]). The message's only result; its
    /// signatures were not read.
    HeaderTooLarge {
        /// The policy limit, in bytes.
        limit: usize,
    },
}

impl Reason {
    /// A stable, machine-readable name for the reason (snake case), the
    /// same in every face of waxseal.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Syntax(_) => "signature_syntax",
            Reason::FromNotSigned => "from_not_signed",
            Reason::UnsupportedQueryMethod => "unsupported_query_method",
            Reason::BodyLengthTooLarge { .. } => "body_length_too_large",
            Reason::KeyNotFound => "key_not_found",
            Reason::KeyUnavailable => "key_unavailable",
            Reason::KeySyntax(_) => "key_syntax",
            Reason::KeyRevoked => "key_revoked",
            Reason::KeyAlgorithmMismatch => "key_algorithm_mismatch",
            Reason::HashNotAllowed => "hash_not_allowed",
            Reason::ServiceNotEmail => "service_not_email",
            Reason::StrictIdentityMismatch => "strict_identity_mismatch",
            Reason::BodyHashMismatch => "body_hash_mismatch",
            Reason::BadSignature => "bad_signature",
            Reason::WeakAlgorithm => "weak_algorithm",
            Reason::KeyTooSmall { .. } => "key_too_small",
            Reason::PartialBody { .. } => "partial_body",
            Reason::Expired { .. } => "expired",
            Reason::FutureTimestamp { .. } => "future_timestamp",
            Reason::TooManySignatures { .. } => "too_many_signatures",
            Reason::HeaderTooLarge { .. } => "header_too_large",
            Reason::FromCount { .. } => "from_count",
        }
    }

    /// The RFC 8601 result this reason leads to.
    pub fn result(self) -> DkimResult {
        match self {
            Reason::BodyHashMismatch | Reason::BadSignature | Reason::KeyRevoked => {
                DkimResult::Fail
            }
            Reason::WeakAlgorithm
            | Reason::KeyTooSmall { .. }
            | Reason::PartialBody { .. }
            | Reason::Expired { .. }
            | Reason::FutureTimestamp { .. }
            | Reason::FromCount { .. } => DkimResult::Policy,
            Reason::KeyUnavailable => DkimResult::TempError,
            Reason::TooManySignatures { .. } => DkimResult::Neutral,
            _ => DkimResult::PermError,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Syntax(e) => write!(f, "signature syntax error: {e}"),
            Reason::FromNotSigned => f.write_str("From field not signed"),
            Reason::UnsupportedQueryMethod => f.write_str("no supported query method (q=)"),
            Reason::BodyLengthTooLarge { signed, total } => {
                write!(f, "l={signed} is larger than the body ({total} bytes)")
            }
            Reason::KeyNotFound => f.write_str("no key for signature"),
            Reason::KeyUnavailable => f.write_str("key unavailable (temporary DNS failure)"),
            Reason::KeySyntax(e) => write!(f, "key syntax error: {e}"),
            Reason::KeyRevoked => f.write_str("key revoked"),
            Reason::KeyAlgorithmMismatch => f.write_str("key type does not match the algorithm"),
            Reason::HashNotAllowed => f.write_str("inappropriate hash algorithm for the key"),
            Reason::ServiceNotEmail => f.write_str("key not for email (s=)"),
            Reason::StrictIdentityMismatch => {
                f.write_str("key requires i= domain to equal d= (t=s)")
            }
            Reason::BodyHashMismatch => f.write_str("body hash mismatch"),
            Reason::BadSignature => f.write_str("signature verification failed"),
            Reason::WeakAlgorithm => f.write_str("rsa-sha1 is not accepted (RFC 8301)"),
            Reason::KeyTooSmall { bits } => write!(f, "{bits}-bit RSA key is too small"),
            Reason::PartialBody { signed, total } => write!(
                f,
                "l= signs only {signed} of {total} body bytes; {} unsigned",
                total - signed
            ),
            Reason::Expired { expiration } => write!(f, "signature expired (x={expiration})"),
            Reason::FutureTimestamp { timestamp } => {
                write!(f, "signature timestamp in the future (t={timestamp})")
            }
            Reason::TooManySignatures { limit, more } => write!(
                f,
                "not checked: {more} more signature(s) beyond the limit of {limit}"
            ),
            Reason::FromCount { count: 0 } => f.write_str("the message has no From field"),
            Reason::FromCount { count } => write!(
                f,
                "the message has {count} From fields (RFC 5322 allows one)"
            ),
            Reason::HeaderTooLarge { limit } => write!(
                f,
                "not checked: the header block is larger than {limit} bytes"
            ),
        }
    }
}

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
    /// At most this many signatures are evaluated, from the top; the rest
    /// get `neutral`. Default: 8.
    pub max_signatures: usize,
    /// Largest header block accepted, in bytes. Default: 1 MiB.
    pub max_header_bytes: usize,
    /// Accept a message without exactly one From field, as RFC 6376 alone
    /// would. Default: false: such a message's valid signatures get
    /// `policy` with [`Reason::FromCount`], because a From field added
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

    fn records(&self) -> Vec<Vec<u8>> {
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

/// The canonicalized data a signature was checked against, for finding out
/// why a hash did not match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    /// The header hash input: the selected fields and the signature field
    /// without its `b=` value, canonicalized (RFC 6376 3.7).
    pub canonical_headers: Vec<u8>,
    /// The canonicalized body, up to the limit given to
    /// [`Verifier::diagnostics`]; `l=` is not applied.
    pub canonical_body: Vec<u8>,
    /// True when `canonical_body` was cut at the limit.
    pub body_truncated: bool,
    /// The body hash computed here.
    pub computed_body_hash: Vec<u8>,
}

/// The outcome for one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureResult {
    /// The RFC 8601 result.
    pub result: DkimResult,
    /// Why it is not `pass`.
    pub reason: Option<Reason>,
    /// d=, s=, a=, i= and b= as written, also for signatures that do not
    /// parse.
    pub labels: SignatureLabels,
    /// The parsed signature, when it parsed.
    pub signature: Option<DkimSignature>,
    /// The key record was in test mode (`t=y`). The result is unchanged;
    /// RFC 6376 3.6.1 asks receivers to treat such mail like unsigned mail.
    pub testing: bool,
    /// Size of the key in bits, when a key was decoded.
    pub key_bits: Option<usize>,
    /// Canonicalized body bytes not covered by `l=` (0 without `l=`).
    pub unsigned_body_bytes: u64,
    /// What was hashed, when diagnostics were requested.
    pub diagnostics: Option<Diagnostics>,
}

impl SignatureResult {
    fn new(labels: SignatureLabels) -> Self {
        SignatureResult {
            result: DkimResult::Pass,
            reason: None,
            labels,
            signature: None,
            testing: false,
            key_bits: None,
            unsigned_body_bytes: 0,
            diagnostics: None,
        }
    }

    fn set(&mut self, reason: Reason) {
        self.result = reason.result();
        self.reason = Some(reason);
    }
}

/// Legacy policy and DMARC records of the From domain, as information.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyInfo {
    /// The domain of the (first) From address, if one was found.
    pub from_domain: Option<String>,
    /// The `_policy._domainkey` record, when asked for and found.
    pub legacy: Option<Result<LegacyPolicy, Error>>,
    /// The `_dmarc` record, when asked for and found.
    pub dmarc: Option<Result<DmarcRecord, Error>>,
}

/// The outcome for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationReport {
    /// One result per `DKIM-Signature` field, top to bottom. Empty when the
    /// message is unsigned (RFC 8601 `dkim=none`).
    pub results: Vec<SignatureResult>,
    /// Policy records of the From domain, as information only.
    pub policy: PolicyInfo,
}

impl VerificationReport {
    /// True when at least one signature passed.
    pub fn any_pass(&self) -> bool {
        self.results.iter().any(|r| r.result == DkimResult::Pass)
    }

    /// The `Authentication-Results` field value (RFC 8601) for these
    /// results, e.g. `mx.example.org; dkim=pass header.d=example.com ...`.
    pub fn authentication_results(&self, authserv_id: &str) -> String {
        crate::auth_results::format(authserv_id, &self.results)
    }

    /// The whole `Authentication-Results:` header field, folded, with a
    /// final CRLF.
    pub fn authentication_results_field(&self, authserv_id: &str) -> String {
        crate::auth_results::field(authserv_id, &self.results)
    }
}

/// What the verifier keeps per DKIM-Signature field while the message
/// streams past.
struct SigState {
    /// d=, s=, i=, a= as far as they could be read (for the report).
    labels: SignatureLabels,
    /// The parsed signature and the range of its b= value inside the
    /// field's raw bytes, or why the field is not a usable signature.
    parsed: Result<(DkimSignature, Range<usize>), Reason>,
    /// Index of the body hasher this signature shares (one per distinct
    /// canonicalization, hash and l=).
    body_slot: Option<usize>,
    /// Index of its key query.
    query: Option<usize>,
    /// Index of the field among the header fields.
    field: usize,
}

enum Phase {
    Headers {
        scan: usize,
    },
    Body,
    /// The header block went over the limit: the rest of the message is
    /// skipped and the report says why.
    Refused,
    Done,
}

/// The streaming, sans-I/O verifier. See the [module docs](self).
pub struct Verifier {
    policy: VerifyPolicy,
    now: Option<u64>,
    phase: Phase,
    buf: Vec<u8>,
    header_len: usize,
    sigs: Vec<SigState>,
    queries: Vec<(Query, Option<KeyAnswer>)>,
    hashes: BodyHashSet,
    sha256: Option<Sha256Factory>,
    from_domain: Option<String>,
    diag_limit: Option<usize>,
    diag: Vec<(BodyCanonicalizer, Vec<u8>, bool)>,
}

impl Verifier {
    /// A verifier with this policy. `now` is the current time in seconds
    /// since 1970, for `x=` and `t=`; with `None` they are not checked.
    pub fn new(policy: VerifyPolicy, now: Option<u64>) -> Self {
        Verifier {
            policy,
            now,
            phase: Phase::Headers { scan: 0 },
            buf: Vec::new(),
            header_len: 0,
            sigs: Vec::new(),
            queries: Vec::new(),
            hashes: BodyHashSet::new(),
            sha256: None,
            from_domain: None,
            diag_limit: None,
            diag: Vec::new(),
        }
    }

    /// Computes SHA-256 (body and header hashes) with `sha256` instead of
    /// the built-in implementation: see [`ExternalSha256`]. Must be called
    /// before the first [`update`](Self::update).
    ///
    /// [`ExternalSha256`]: crate::ExternalSha256
    pub fn set_sha256(&mut self, sha256: Sha256Factory) {
        self.sha256 = Some(sha256);
        self.hashes.set_sha256(Some(sha256));
    }

    /// Keeps what was hashed, with up to `body_limit` bytes of each
    /// canonicalized body, in each result's `diagnostics`. Must be called
    /// before the first [`update`](Self::update). Costs a second
    /// canonicalization pass over the body.
    pub fn diagnostics(&mut self, body_limit: usize) {
        self.diag_limit = Some(body_limit);
    }

    /// True once the header block is complete: [`queries`](Self::queries)
    /// is then final.
    pub fn headers_complete(&self) -> bool {
        !matches!(self.phase, Phase::Headers { .. })
    }

    /// Feeds the next chunk of the message. Fails only when the header
    /// block is malformed. A header block over
    /// [`VerifyPolicy::max_header_bytes`] is not an error: the rest of the
    /// message is skipped and the report has one `permerror` result with
    /// [`Reason::HeaderTooLarge`], so a receiver can say why in its
    /// Authentication-Results.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let limit = self.policy.max_header_bytes;
        match self.phase {
            Phase::Headers { scan } => {
                if self.buf.is_empty()
                    && let Some((header_len, body_start)) = message::find_header_end(chunk, 0)
                {
                    // Fast path (one-shot): hash the body straight from
                    // the chunk instead of copying it.
                    if header_len > limit {
                        self.refuse();
                        return Ok(());
                    }
                    self.buf.extend_from_slice(&chunk[..body_start]);
                    self.start_body(header_len)?;
                    self.body(&chunk[body_start..]);
                    return Ok(());
                }
                // never hold more than the limit (and a line end) of a
                // header block that does not end
                let room = (limit + 2).saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                match message::find_header_end(&self.buf, scan) {
                    Some((header_len, _)) if header_len > limit => self.refuse(),
                    None if self.buf.len() > limit && message::cr_only(&self.buf) => {
                        return Err(Error::CrLineEnds);
                    }
                    Some((header_len, body_start)) => {
                        let body = self.buf.split_off(body_start);
                        self.start_body(header_len)?;
                        self.body(&body);
                        // what did not fit in the buffer is body too
                        if chunk.len() > room {
                            self.body(&chunk[room..]);
                        }
                    }
                    None if self.buf.len() > limit => self.refuse(),
                    None => {
                        self.phase = Phase::Headers {
                            scan: message::resume_point(&self.buf, scan),
                        };
                    }
                }
                Ok(())
            }
            Phase::Body => {
                self.body(chunk);
                Ok(())
            }
            Phase::Refused => Ok(()),
            Phase::Done => Err(Error::AlreadyFinished),
        }
    }

    /// Gives up on a header block over the limit (see
    /// [`update`](Self::update)).
    fn refuse(&mut self) {
        self.phase = Phase::Refused;
        self.buf = Vec::new();
        self.header_len = 0;
    }

    fn body(&mut self, chunk: &[u8]) {
        self.hashes.update(chunk);
        for (canon, out, truncated) in &mut self.diag {
            let limit = self.diag_limit.unwrap_or(0);
            canon.update(chunk, &mut |b: &[u8]| keep(out, truncated, limit, b));
        }
    }

    /// The DNS TXT names to look up: key records first, then the legacy
    /// policy and DMARC records of the From domain (information only;
    /// answering them is optional). Empty until the header block is
    /// complete.
    pub fn queries(&self) -> Vec<Query> {
        self.queries.iter().map(|(q, _)| q.clone()).collect()
    }

    /// The queries not answered yet.
    pub fn pending_queries(&self) -> Vec<Query> {
        self.queries
            .iter()
            .filter(|(_, a)| a.is_none())
            .map(|(q, _)| q.clone())
            .collect()
    }

    /// Supplies the answer for `name` (case-insensitive, trailing dot
    /// ignored). Answers for names not asked for are ignored.
    pub fn answer(&mut self, name: &str, answer: KeyAnswer) {
        let name = name.strip_suffix('.').unwrap_or(name);
        for (q, a) in &mut self.queries {
            if q.name.eq_ignore_ascii_case(name) {
                *a = Some(answer.clone());
            }
        }
    }

    fn add_query(&mut self, name: String, kind: QueryKind) -> usize {
        match self
            .queries
            .iter()
            .position(|(q, _)| q.name.eq_ignore_ascii_case(&name))
        {
            Some(i) => i,
            None => {
                self.queries.push((Query { name, kind }, None));
                self.queries.len() - 1
            }
        }
    }

    fn start_body(&mut self, header_len: usize) -> Result<(), Error> {
        self.header_len = header_len;
        self.phase = Phase::Body;
        let block = core::mem::take(&mut self.buf);
        let result = self.read_headers(&block[..header_len]);
        self.buf = block;
        result
    }

    fn read_headers(&mut self, block: &[u8]) -> Result<(), Error> {
        if message::cr_only(block) {
            return Err(Error::CrLineEnds);
        }
        let fields = message::parse_header_block(block)?;
        self.from_domain = from_domain(&fields);
        let mut seen = 0usize;
        for (index, f) in fields.iter().enumerate() {
            if !f.is(HEADER_NAME) {
                continue;
            }
            seen += 1;
            if seen > self.policy.max_signatures {
                // One entry stands for every signature beyond the limit,
                // so a header block of thousands of signatures costs no
                // more than counting them.
                match self.sigs.last_mut().map(|st| &mut st.parsed) {
                    Some(Err(Reason::TooManySignatures { more, .. })) => *more += 1,
                    _ => self.sigs.push(SigState {
                        labels: SignatureLabels::salvage(f.value),
                        parsed: Err(Reason::TooManySignatures {
                            limit: self.policy.max_signatures,
                            more: 1,
                        }),
                        body_slot: None,
                        query: None,
                        field: index,
                    }),
                }
                continue;
            }
            let (labels, parsed) = DkimSignature::parse_with_labels(f.value);
            let parsed = parsed.map_err(Reason::Syntax).and_then(|(sig, region)| {
                let off = f.raw.len() - f.value.len();
                check_signature_field(&self.policy, &sig)?;
                Ok((sig, off + region.start..off + region.end))
            });
            let (body_slot, query) = match &parsed {
                Ok((sig, _)) => {
                    let slot = self.hashes.add(
                        sig.canonicalization.body,
                        sig.algorithm.hash(),
                        sig.body_length,
                    );
                    if self.diag_limit.is_some()
                        && !self
                            .diag
                            .iter()
                            .any(|d| d.0.algorithm() == sig.canonicalization.body)
                    {
                        self.diag.push((
                            BodyCanonicalizer::new(sig.canonicalization.body),
                            Vec::new(),
                            false,
                        ));
                    }
                    let name = sig.selector.record_name(&sig.domain);
                    (Some(slot), Some(self.add_query(name, QueryKind::Key)))
                }
                Err(_) => (None, None),
            };
            self.sigs.push(SigState {
                labels,
                parsed,
                body_slot,
                query,
                field: index,
            });
        }
        if let Some(dom) = self
            .from_domain
            .as_deref()
            .and_then(|d| Domain::new(d).ok())
        {
            self.add_query(LegacyPolicy::record_name(&dom), QueryKind::LegacyPolicy);
            self.add_query(DmarcRecord::record_name(&dom), QueryKind::Dmarc);
        }
        Ok(())
    }

    /// Ends the message and evaluates every signature with the pure-Rust
    /// crypto backend.
    pub fn finish(self) -> Result<VerificationReport, Error> {
        self.finish_with(&crate::keys::RustCrypto)
    }

    /// Ends the message and evaluates every signature, with `crypto` doing
    /// the public-key operation.
    pub fn finish_with(
        mut self,
        crypto: &dyn crate::keys::VerifyDigest,
    ) -> Result<VerificationReport, Error> {
        self.finish_headers()?;
        match self.phase {
            Phase::Body => {}
            Phase::Refused => {
                self.phase = Phase::Done;
                let mut r = SignatureResult::new(SignatureLabels::default());
                r.set(Reason::HeaderTooLarge {
                    limit: self.policy.max_header_bytes,
                });
                return Ok(VerificationReport {
                    results: alloc::vec![r],
                    policy: PolicyInfo::default(),
                });
            }
            Phase::Headers { .. } | Phase::Done => return Err(Error::AlreadyFinished),
        }
        self.phase = Phase::Done;
        let hashes = core::mem::take(&mut self.hashes).finish();
        let limit = self.diag_limit.unwrap_or(0);
        let mut bodies: Vec<(
            crate::canonicalize::CanonicalizationAlgorithm,
            Vec<u8>,
            bool,
        )> = Vec::new();
        for (mut canon, mut out, mut truncated) in core::mem::take(&mut self.diag) {
            canon.finish(&mut |b: &[u8]| keep(&mut out, &mut truncated, limit, b));
            bodies.push((canon.algorithm(), out, truncated));
        }
        let fields = message::parse_header_block(&self.buf[..self.header_len])?;
        let mut results = Vec::with_capacity(self.sigs.len());
        for st in &self.sigs {
            let mut r = SignatureResult::new(st.labels.clone());
            match &st.parsed {
                Err(reason) => r.set(*reason),
                Ok((sig, b_region)) => {
                    r.signature = Some(sig.clone());
                    let answer = st.query.and_then(|q| self.queries[q].1.as_ref());
                    let body = st.body_slot.map(|s| hashes[s]);
                    let ctx = Check {
                        policy: &self.policy,
                        now: self.now,
                        fields: &fields,
                        field: &fields[st.field],
                        b_region: b_region.clone(),
                        sha256: self.sha256,
                    };
                    ctx.evaluate(sig, answer, body, crypto, &mut r);
                    if self.diag_limit.is_some() {
                        let selected = select_headers(&fields, &sig.signed_headers);
                        let unsigned = ctx.unsigned_field();
                        let body_diag = bodies.iter().find(|b| b.0 == sig.canonicalization.body);
                        r.diagnostics = Some(Diagnostics {
                            canonical_headers: header_hash_input(
                                sig.canonicalization.header,
                                &selected,
                                &unsigned,
                            ),
                            canonical_body: body_diag.map(|b| b.1.clone()).unwrap_or_default(),
                            body_truncated: body_diag.is_some_and(|b| b.2),
                            computed_body_hash: body
                                .map(|b| b.digest.as_bytes().to_vec())
                                .unwrap_or_default(),
                        });
                    }
                }
            }
            results.push(r);
        }
        let mut policy = PolicyInfo {
            from_domain: self.from_domain.clone(),
            ..PolicyInfo::default()
        };
        for (q, a) in &self.queries {
            let Some(a) = a else { continue };
            let first = a.records().into_iter().next();
            match q.kind {
                QueryKind::LegacyPolicy => policy.legacy = first.map(|r| LegacyPolicy::parse(&r)),
                QueryKind::Dmarc => {
                    policy.dmarc = a
                        .records()
                        .into_iter()
                        .find(|r| r.starts_with(b"v=DMARC1"))
                        .map(|r| DmarcRecord::parse(&r))
                }
                QueryKind::Key => {}
            }
        }
        Ok(VerificationReport { results, policy })
    }
}

fn keep(out: &mut Vec<u8>, truncated: &mut bool, limit: usize, b: &[u8]) {
    let room = limit.saturating_sub(out.len());
    if b.len() > room {
        *truncated = true;
    }
    out.extend_from_slice(&b[..b.len().min(room)]);
}

/// RFC 6376 6.1.1 checks on a parsed signature that need no key.
fn check_signature_field(policy: &VerifyPolicy, sig: &DkimSignature) -> Result<(), Reason> {
    if !policy.allow_unsigned_from
        && !sig
            .signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("from"))
    {
        return Err(Reason::FromNotSigned);
    }
    if !sig.uses_dns_txt() {
        return Err(Reason::UnsupportedQueryMethod);
    }
    Ok(())
}

struct Check<'a, 'm> {
    policy: &'a VerifyPolicy,
    now: Option<u64>,
    fields: &'a [HeaderField<'m>],
    field: &'a HeaderField<'m>,
    b_region: Range<usize>,
    sha256: Option<Sha256Factory>,
}

impl Check<'_, '_> {
    /// The signature field with its b= value deleted (RFC 6376 3.7).
    fn unsigned_field(&self) -> Vec<u8> {
        let raw = self.field.raw;
        let mut v = Vec::with_capacity(raw.len());
        v.extend_from_slice(&raw[..self.b_region.start]);
        v.extend_from_slice(&raw[self.b_region.end..]);
        v
    }

    fn evaluate(
        &self,
        sig: &DkimSignature,
        answer: Option<&KeyAnswer>,
        body: Option<BodyHash>,
        crypto: &dyn crate::keys::VerifyDigest,
        r: &mut SignatureResult,
    ) {
        // l= against the body (RFC 6376 3.5)
        if let (Some(l), Some(b)) = (sig.body_length, body) {
            if l > b.canonical_len {
                return r.set(Reason::BodyLengthTooLarge {
                    signed: l,
                    total: b.canonical_len,
                });
            }
            r.unsigned_body_bytes = b.canonical_len - l;
        }
        // the key (RFC 6376 6.1.2)
        let records = match answer {
            None | Some(KeyAnswer::TempFail) => return r.set(Reason::KeyUnavailable),
            Some(KeyAnswer::NxDomain) => return r.set(Reason::KeyNotFound),
            Some(a) => a.records(),
        };
        if records.is_empty() {
            return r.set(Reason::KeyNotFound);
        }
        // Several records at one name are undefined (3.6.2.2); the first
        // few are tried and the best outcome kept. The header hash does not
        // depend on the record: it is computed once, when first needed.
        let mut digest = None;
        let mut best: Option<(u8, SignatureResult)> = None;
        for rec in records.iter().take(MAX_KEY_RECORDS) {
            let mut attempt = r.clone();
            self.with_record(sig, rec, body, crypto, &mut digest, &mut attempt);
            let rank = match attempt.result {
                DkimResult::Pass => 0,
                DkimResult::Policy => 1,
                DkimResult::Fail => 2,
                _ => 3,
            };
            if best.as_ref().is_none_or(|(b, _)| rank < *b) {
                best = Some((rank, attempt));
            }
        }
        if let Some((_, b)) = best {
            *r = b;
        }
    }

    fn with_record(
        &self,
        sig: &DkimSignature,
        txt: &[u8],
        body: Option<BodyHash>,
        crypto: &dyn crate::keys::VerifyDigest,
        digest: &mut Option<crate::hash::Digest>,
        r: &mut SignatureResult,
    ) {
        let record = match crypto.parse_record(txt) {
            Ok(rec) => rec,
            // RFC 6376 3.6.1: "Records beginning with a v= tag with any
            // other value MUST be discarded": as if there were no record.
            Err(Error::InvalidRecordVersion) => return r.set(Reason::KeyNotFound),
            Err(e) => return r.set(Reason::KeySyntax(e)),
        };
        r.testing = record.testing;
        if !record.allows_hash(sig.algorithm.hash()) {
            return r.set(Reason::HashNotAllowed);
        }
        if !record.allows_email() {
            return r.set(Reason::ServiceNotEmail);
        }
        if record.is_revoked() {
            return r.set(Reason::KeyRevoked);
        }
        if record.key_type != sig.algorithm.key_type() {
            return r.set(Reason::KeyAlgorithmMismatch);
        }
        if record.strict_identity
            && sig
                .identity
                .as_ref()
                .is_some_and(|i| *i.domain() != sig.domain)
        {
            return r.set(Reason::StrictIdentityMismatch);
        }
        let key = match crypto.decode_key(record.key_type, &record.public_key) {
            Ok(k) => k,
            Err(Error::UnsupportedKeySize { bits }) if bits < self.policy.min_rsa_bits => {
                r.key_bits = Some(bits);
                return r.set(Reason::KeyTooSmall { bits });
            }
            Err(e) => return r.set(Reason::KeySyntax(e)),
        };
        r.key_bits = Some(key.bits());
        // the hashes (RFC 6376 6.1.3)
        let Some(body) = body else {
            return r.set(Reason::BodyHashMismatch);
        };
        if body.digest.as_bytes() != sig.body_hash.as_slice() {
            return r.set(Reason::BodyHashMismatch);
        }
        let digest = *digest.get_or_insert_with(|| {
            let selected = select_headers(self.fields, &sig.signed_headers);
            let input = header_hash_input(
                sig.canonicalization.header,
                &selected,
                &self.unsigned_field(),
            );
            sig.algorithm.hash().digest_with(&input, self.sha256)
        });
        if crypto
            .verify_digest(sig.algorithm, &key, digest.as_bytes(), &sig.signature)
            .is_err()
        {
            return r.set(Reason::BadSignature);
        }
        // policy on a valid signature
        if sig.algorithm == SigningAlgorithm::RsaSha1 && !self.policy.allow_rsa_sha1 {
            return r.set(Reason::WeakAlgorithm);
        }
        if record.key_type == KeyType::Rsa && key.bits() < self.policy.min_rsa_bits {
            return r.set(Reason::KeyTooSmall { bits: key.bits() });
        }
        let from_count = self.fields.iter().filter(|f| f.is("from")).count();
        if from_count != 1 && !self.policy.allow_from_count {
            return r.set(Reason::FromCount { count: from_count });
        }
        if r.unsigned_body_bytes > 0 && !self.policy.allow_unsigned_body_tail {
            let total = body.canonical_len;
            return r.set(Reason::PartialBody {
                signed: total - r.unsigned_body_bytes,
                total,
            });
        }
        if let Some(now) = self.now {
            if let Some(x) = sig.expiration
                && !self.policy.ignore_expiration
                && x < now
            {
                return r.set(Reason::Expired { expiration: x });
            }
            if let Some(t) = sig.timestamp
                && t > now.saturating_add(self.policy.clock_skew)
            {
                return r.set(Reason::FutureTimestamp { timestamp: t });
            }
        }
        r.result = DkimResult::Pass;
        r.reason = None;
    }
}

/// The domain of the first address in the first From field, if any,
/// lower-cased (see [`crate::address::mailbox`]).
pub fn from_domain(fields: &[HeaderField<'_>]) -> Option<String> {
    let f = fields.iter().find(|f| f.is("from"))?;
    crate::address::mailbox(f.value).map(|m| m.domain)
}

/// Verifies a whole message in one call, asking `lookup` for each DNS
/// name (key records, and the optional policy records) as needed.
pub fn verify(
    message: &[u8],
    policy: &VerifyPolicy,
    now: Option<u64>,
    lookup: &mut dyn FnMut(&str) -> KeyAnswer,
) -> Result<VerificationReport, Error> {
    let mut v = Verifier::new(policy.clone(), now);
    v.update(message)?;
    if !v.headers_complete() {
        // a message without body: the header block is all there is
        v.finish_headers()?;
    }
    for q in v.queries() {
        let a = lookup(&q.name);
        v.answer(&q.name, a);
    }
    v.finish()
}

impl Verifier {
    /// Declares the message to have no body (no empty line after the
    /// header block), so that the queries become known before
    /// [`finish`](Self::finish).
    pub fn finish_headers(&mut self) -> Result<(), Error> {
        match self.phase {
            Phase::Headers { .. } if self.buf.is_empty() => Err(Error::EmptyMessage),
            Phase::Headers { .. } if self.buf.len() > self.policy.max_header_bytes => {
                self.refuse();
                Ok(())
            }
            Phase::Headers { .. } => self.start_body(self.buf.len()),
            Phase::Done => Err(Error::AlreadyFinished),
            Phase::Body | Phase::Refused => Ok(()),
        }
    }
}

impl fmt::Display for SignatureResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.labels;
        write!(
            f,
            "{} d={} s={} a={}",
            self.result,
            l.domain.as_deref().unwrap_or("-"),
            l.selector.as_deref().unwrap_or("-"),
            l.algorithm.as_deref().unwrap_or("-"),
        )?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        if self.testing {
            f.write_str(" [key in test mode]")?;
        }
        Ok(())
    }
}

impl SignatureResult {
    /// A one-line description, as `Display` gives.
    pub fn summary(&self) -> String {
        self.to_string()
    }
}
