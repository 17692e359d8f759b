//! What verification reports: per signature an RFC 8601 result and the
//! reason, with what was checked; the whole report.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write as _;

use crate::error::Error;
use crate::policy::{DmarcRecord, LegacyPolicy};
use crate::signature::{DkimSignature, SignatureLabels};

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
    /// verifies). Relaxed by [`VerifyPolicy::allow_from_count`](super::VerifyPolicy::allow_from_count).
    FromCount {
        /// How many From fields the message has.
        count: usize,
    },
    /// Not evaluated: the header block is larger than the policy allows
    /// ([`VerifyPolicy::max_header_bytes`](super::VerifyPolicy::max_header_bytes)). The message's only result; its
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

/// The canonicalized data a signature was checked against, for finding out
/// why a hash did not match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    /// The header hash input: the selected fields and the signature field
    /// without its `b=` value, canonicalized (RFC 6376 3.7).
    pub canonical_headers: Vec<u8>,
    /// The canonicalized body, up to the limit given to
    /// [`Verifier::diagnostics`](super::Verifier::diagnostics); `l=` is not applied.
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
    pub(super) fn new(labels: SignatureLabels) -> Self {
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

    pub(super) fn set(&mut self, reason: Reason) {
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
        super::auth_results::format(authserv_id, &self.results)
    }

    /// The whole `Authentication-Results:` header field, folded, with a
    /// final CRLF.
    pub fn authentication_results_field(&self, authserv_id: &str) -> String {
        super::auth_results::field(authserv_id, &self.results)
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
        let mut s = String::with_capacity(96);
        let _ = write!(s, "{self}");
        s
    }
}
