//! The checks of one signature against its key record (RFC 6376 6.1.1 to
//! 6.1.3), and the RFC 8301 policy on a valid one.

use alloc::vec::Vec;
use core::ops::Range;

use crate::error::Error;
use crate::hash::{BodyHash, Digest, Sha256Factory};
use crate::keys::{KeyType, SigningAlgorithm};
use crate::message::HeaderField;
use crate::sign::{header_hash_input, select_headers};
use crate::signature::DkimSignature;

use super::*;

pub(super) fn keep(out: &mut Vec<u8>, truncated: &mut bool, limit: usize, b: &[u8]) {
    let room = limit.saturating_sub(out.len());
    if b.len() > room {
        *truncated = true;
    }
    out.extend_from_slice(&b[..b.len().min(room)]);
}

/// RFC 6376 6.1.1 checks on a parsed signature that need no key.
pub(super) fn check_signature_field(
    policy: &VerifyPolicy,
    sig: &DkimSignature,
) -> Result<(), Reason> {
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
    // s._domainkey.d longer than a DNS name: no key can exist there, and a
    // lookup would fail as if DNS were down (temperror, RFC 6376 6.1.2
    // wants permerror for a key that cannot be had)
    if !sig.selector.record_name_fits(&sig.domain) {
        return Err(Reason::Syntax(Error::InvalidSelector));
    }
    Ok(())
}

pub(super) struct Check<'a, 'm> {
    pub(super) policy: &'a VerifyPolicy,
    pub(super) now: Option<u64>,
    pub(super) fields: &'a [HeaderField<'m>],
    pub(super) field: &'a HeaderField<'m>,
    pub(super) b_region: Range<usize>,
    pub(super) sha256: Option<Sha256Factory>,
}

impl Check<'_, '_> {
    /// The signature field with its b= value deleted (RFC 6376 3.7).
    pub(super) fn unsigned_field(&self) -> Vec<u8> {
        let raw = self.field.raw;
        let mut v = Vec::with_capacity(raw.len());
        v.extend_from_slice(&raw[..self.b_region.start]);
        v.extend_from_slice(&raw[self.b_region.end..]);
        v
    }

    pub(super) fn evaluate(
        &self,
        sig: &DkimSignature,
        answer: Option<&KeyAnswer>,
        body: Option<BodyHash>,
        crypto: &dyn VerifyDigest,
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
        // few are tried and the best outcome kept. The header data and its
        // hash do not depend on the record: they are computed once, when
        // first needed.
        let mut signed = None;
        let mut best: Option<(u8, SignatureResult)> = None;
        for rec in records.iter().take(MAX_KEY_RECORDS) {
            let mut attempt = r.clone();
            self.with_record(sig, rec, body, crypto, &mut signed, &mut attempt);
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
        crypto: &dyn VerifyDigest,
        signed: &mut Option<(Vec<u8>, Digest)>,
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
        let (data, digest) = signed.get_or_insert_with(|| {
            let selected = select_headers(self.fields, &sig.signed_headers);
            let input = header_hash_input(
                sig.canonicalization.header,
                &selected,
                &self.unsigned_field(),
            );
            let digest = sig.algorithm.hash().digest_with(&input, self.sha256);
            (input, digest)
        });
        if crypto
            .verify_data(sig.algorithm, &key, data, digest.as_bytes(), &sig.signature)
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
