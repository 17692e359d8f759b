//! The end of a message: every signature evaluated (RFC 6376 6.1), with
//! the public-key checks done by a backend at once
//! ([`Verifier::finish_with`]) or by the caller afterwards
//! ([`Verifier::finish_deferred`], for asynchronous crypto: WebCrypto).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::ops::Range;

use super::*;
use crate::canonicalize::CanonicalizationAlgorithm;
use crate::hash::BodyHash;
use crate::keys::{KeyType, PublicKey, SigningAlgorithm};
use crate::record::KeyRecord;
use alloc::sync::Arc;

/// A message read to its end, its signatures not evaluated yet.
enum Ending {
    /// Nothing to evaluate: the report is known (a refused header block).
    Known(VerificationReport),
    /// (boxed: the verifier it holds is large)
    Evaluate(Box<Concluded>),
}

struct Concluded {
    v: Verifier,
    /// The body hashes, by body slot.
    hashes: Vec<BodyHash>,
    /// The canonicalized bodies kept for diagnostics.
    bodies: Vec<(CanonicalizationAlgorithm, Vec<u8>, bool)>,
}

impl Verifier {
    /// Ends the message and evaluates every signature with the pure-Rust
    /// crypto backend.
    pub fn finish(self) -> Result<VerificationReport, Error> {
        self.finish_with(&RustCrypto)
    }

    /// Ends the message and evaluates every signature, with `crypto` doing
    /// the public-key operation.
    pub fn finish_with(self, crypto: &dyn VerifyDigest) -> Result<VerificationReport, Error> {
        Ok(match self.conclude()? {
            Ending::Known(report) => report,
            Ending::Evaluate(c) => c.report(crypto),
        })
    }

    /// Ends the message and runs every check up to the public-key
    /// operations, which the caller does afterwards, with an asynchronous
    /// crypto API (WebCrypto): [`Deferred::checks`] lists them and
    /// [`Deferred::settle`] takes their outcomes and gives the report.
    /// `crypto` parses the records and decodes the keys, here and again in
    /// `settle` (a [`Keeping`] backend does it once), and does the checks
    /// the caller leaves to it.
    ///
    /// ```
    /// use waxseal_core::verify::{KeyAnswer, RustCrypto, Verifier, VerifyPolicy};
    /// let msg: &[u8] = include_bytes!("../../tests/vectors/rfc8463/a3-signed.eml");
    /// let mut v = Verifier::new(VerifyPolicy::default(), Some(1528637909));
    /// v.update(msg)?;
    /// v.answer("brisbane._domainkey.football.example.com", KeyAnswer::record(
    ///     "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="));
    /// let deferred = v.finish_deferred(&RustCrypto)?;
    /// // the one signature with a key: its check, done here by the key itself
    /// let outcomes: Vec<Option<bool>> = deferred
    ///     .checks()
    ///     .iter()
    ///     .map(|c| Some(c.key.verify_digest(c.algorithm, &c.digest, &c.signature).is_ok()))
    ///     .collect();
    /// assert_eq!(outcomes, [Some(true)]);
    /// let report = deferred.settle(&outcomes, &RustCrypto);
    /// assert_eq!(report.results[0].result.as_str(), "pass");
    /// # Ok::<(), waxseal_core::Error>(())
    /// ```
    pub fn finish_deferred(self, crypto: &dyn VerifyDigest) -> Result<Deferred, Error> {
        let ending = self.conclude()?;
        let recorder = Recorder {
            crypto,
            checks: RefCell::new(Vec::new()),
        };
        if let Ending::Evaluate(c) = &ending {
            c.rehearse(&recorder);
        }
        Ok(Deferred {
            ending,
            checks: recorder.checks.into_inner(),
        })
    }

    /// Ends the message: the body hashes and kept bodies finished.
    fn conclude(mut self) -> Result<Ending, Error> {
        self.finish_headers()?;
        match self.phase {
            Phase::Body => {}
            Phase::Refused => {
                self.phase = Phase::Done;
                let mut r = SignatureResult::new(SignatureLabels::default());
                r.set(Reason::HeaderTooLarge {
                    limit: self.policy.max_header_bytes,
                });
                return Ok(Ending::Known(VerificationReport {
                    results: alloc::vec![r],
                    policy: PolicyInfo::default(),
                }));
            }
            Phase::Headers { .. } | Phase::Done => return Err(Error::AlreadyFinished),
        }
        self.phase = Phase::Done;
        let hashes = core::mem::take(&mut self.hashes).finish();
        let limit = self.diag_limit.unwrap_or(0);
        let mut bodies = Vec::new();
        for (mut canon, mut out, mut truncated) in core::mem::take(&mut self.diag) {
            canon.finish(&mut |b: &[u8]| keep(&mut out, &mut truncated, limit, b));
            bodies.push((canon.algorithm(), out, truncated));
        }
        Ok(Ending::Evaluate(Box::new(Concluded {
            v: self,
            hashes,
            bodies,
        })))
    }
}

impl Concluded {
    fn fields(&self) -> Vec<HeaderField<'_>> {
        let block = &self.v.buf[..self.v.header_len];
        self.v.spans.iter().map(|s| s.field(block)).collect()
    }

    /// The checks of one signature, with what they need.
    fn check<'a>(
        &'a self,
        fields: &'a [HeaderField<'a>],
        field: usize,
        b_region: Range<usize>,
    ) -> Check<'a, 'a> {
        Check {
            policy: &self.v.policy,
            now: self.v.now,
            fields,
            field: &fields[field],
            b_region,
            sha256: self.v.sha256,
        }
    }

    fn answer(&self, st: &SigState) -> Option<&KeyAnswer> {
        st.query.and_then(|q| self.v.queries[q].1.as_ref())
    }

    fn body(&self, st: &SigState) -> Option<BodyHash> {
        st.body_slot.map(|s| self.hashes[s])
    }

    /// Evaluates every signature for the public-key checks it asks of
    /// `crypto` (the verdicts are thrown away).
    fn rehearse(&self, crypto: &dyn VerifyDigest) {
        let fields = self.fields();
        for st in &self.v.sigs {
            if let Ok((sig, b_region)) = &st.parsed {
                let mut r = SignatureResult::new(SignatureLabels::default());
                let ctx = self.check(&fields, st.field, b_region.clone());
                ctx.evaluate(sig, self.answer(st), self.body(st), crypto, &mut r);
            }
        }
    }

    /// Evaluates every signature, in order, and the policy records.
    fn report(mut self, crypto: &dyn VerifyDigest) -> VerificationReport {
        let sigs = core::mem::take(&mut self.v.sigs);
        let fields = self.fields();
        let mut results = Vec::with_capacity(sigs.len());
        for st in sigs {
            let answer = self.answer(&st);
            let body = self.body(&st);
            let mut r = SignatureResult::new(st.labels);
            match st.parsed {
                Err(reason) => r.set(reason),
                Ok((sig, b_region)) => {
                    let ctx = self.check(&fields, st.field, b_region);
                    ctx.evaluate(&sig, answer, body, crypto, &mut r);
                    if self.v.diag_limit.is_some() {
                        let selected = select_headers(&fields, &sig.signed_headers);
                        let unsigned = ctx.unsigned_field();
                        let body_diag = self
                            .bodies
                            .iter()
                            .find(|b| b.0 == sig.canonicalization.body);
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
                    r.signature = Some(sig);
                }
            }
            results.push(r);
        }
        let mut policy = PolicyInfo {
            from_domain: self.v.from_domain.clone(),
            ..PolicyInfo::default()
        };
        for (q, a) in &self.v.queries {
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
        VerificationReport { results, policy }
    }
}

/// A verification waiting for its public-key checks, which the caller
/// does: see [`Verifier::finish_deferred`].
pub struct Deferred {
    ending: Ending,
    checks: Vec<PendingCheck>,
}

impl core::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deferred")
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

/// One public-key check a [`Deferred`] verification waits for: is
/// `signature` a valid `algorithm` signature by `key` over `data`?
#[derive(Debug, Clone)]
pub struct PendingCheck {
    /// The signature's algorithm (`a=`).
    pub algorithm: SigningAlgorithm,
    /// The key, as the record published it; for Ed25519, a small-order
    /// key is refused by strict verification (RFC 8032 5.1.7 as
    /// `verify_strict` reads it), whatever the signature.
    pub key: PublicKey,
    /// The header data the signer signed (RFC 6376 3.7): what an API that
    /// hashes for itself (WebCrypto's RSASSA-PKCS1-v1_5) is given.
    pub data: Vec<u8>,
    /// The hash of `data` under the algorithm: what an RSA signature
    /// encodes, and what an Ed25519 signature of DKIM signs (RFC 8463 3).
    pub digest: Vec<u8>,
    /// The signature (`b=`), decoded.
    pub signature: Vec<u8>,
}

impl Deferred {
    /// The public-key checks the verdicts wait for, in order.
    pub fn checks(&self) -> &[PendingCheck] {
        &self.checks
    }

    /// The report, given the outcome of each check of
    /// [`checks`](Self::checks), in order: `Some(valid)`, or `None` to
    /// leave that check to `crypto` (a key the caller's API refuses;
    /// missing entries count as `None`).
    pub fn settle(
        self,
        outcomes: &[Option<bool>],
        crypto: &dyn VerifyDigest,
    ) -> VerificationReport {
        match self.ending {
            Ending::Known(report) => report,
            Ending::Evaluate(c) => c.report(&Replay {
                crypto,
                checks: &self.checks,
                outcomes,
                next: Cell::new(0),
            }),
        }
    }
}

/// The backend of a rehearsal: records each public-key check.
struct Recorder<'a> {
    crypto: &'a dyn VerifyDigest,
    checks: RefCell<Vec<PendingCheck>>,
}

impl VerifyDigest for Recorder<'_> {
    fn parse_record(&self, txt: &[u8]) -> Result<Arc<KeyRecord>, Error> {
        self.crypto.parse_record(txt)
    }

    fn decode_key(&self, key_type: KeyType, data: &[u8]) -> Result<PublicKey, Error> {
        self.crypto.decode_key(key_type, data)
    }

    fn verify_digest(
        &self,
        _: SigningAlgorithm,
        _: &PublicKey,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), Error> {
        // the verifier asks `verify_data`
        Err(Error::BadSignature)
    }

    fn verify_data(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        data: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        self.checks.borrow_mut().push(PendingCheck {
            algorithm: alg,
            key: key.clone(),
            data: data.to_vec(),
            digest: digest.to_vec(),
            signature: signature.to_vec(),
        });
        // an outcome the rehearsal throws away
        Err(Error::BadSignature)
    }
}

/// The backend of the settling evaluation: it asks for the same checks in
/// the same order as the rehearsal, and each is answered by its outcome.
struct Replay<'a> {
    crypto: &'a dyn VerifyDigest,
    checks: &'a [PendingCheck],
    outcomes: &'a [Option<bool>],
    next: Cell<usize>,
}

impl VerifyDigest for Replay<'_> {
    fn parse_record(&self, txt: &[u8]) -> Result<Arc<KeyRecord>, Error> {
        self.crypto.parse_record(txt)
    }

    fn decode_key(&self, key_type: KeyType, data: &[u8]) -> Result<PublicKey, Error> {
        self.crypto.decode_key(key_type, data)
    }

    fn verify_digest(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        self.crypto.verify_digest(alg, key, digest, signature)
    }

    fn verify_data(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        data: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        let i = self.next.get();
        self.next.set(i + 1);
        // the same check as rehearsed (it always is: the evaluation is the
        // same): its outcome; else, or without one, `crypto` decides
        match (self.checks.get(i), self.outcomes.get(i).copied().flatten()) {
            (Some(c), Some(valid))
                if c.algorithm == alg
                    && c.key == *key
                    && c.digest == digest
                    && c.signature == signature =>
            {
                if valid {
                    Ok(())
                } else {
                    Err(Error::BadSignature)
                }
            }
            _ => self.crypto.verify_data(alg, key, data, digest, signature),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hash::HashAlgorithm;

    const A3: &[u8] = include_bytes!("../../tests/vectors/rfc8463/a3-signed.eml");
    const A3_ED: &str = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const A3_RSA: &str = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

    /// A3 read to its end, both keys answered (the RSA one twice: two
    /// records at one name are both tried).
    fn verifier(msg: &[u8], rsa_records: usize) -> Verifier {
        let mut v = Verifier::new(VerifyPolicy::default(), Some(1528637909));
        v.update(msg).unwrap();
        v.answer(
            "brisbane._domainkey.football.example.com",
            KeyAnswer::record(A3_ED),
        );
        let rsa = alloc::vec![alloc::vec![A3_RSA.as_bytes().to_vec()]; rsa_records];
        v.answer(
            "test._domainkey.football.example.com",
            KeyAnswer::Records(rsa),
        );
        v
    }

    /// What an API that hashes the data itself answers.
    fn outcome(c: &PendingCheck) -> Option<bool> {
        let hash = match c.algorithm {
            SigningAlgorithm::RsaSha1 => HashAlgorithm::Sha1,
            _ => HashAlgorithm::Sha256,
        };
        let digest = hash.digest_with(&c.data, None);
        Some(
            c.key
                .verify_digest(c.algorithm, digest.as_bytes(), &c.signature)
                .is_ok(),
        )
    }

    #[test]
    fn outcomes_from_the_data_give_the_verdicts_of_finish() {
        for msg in [A3.to_vec(), altered(A3, b"Subject")] {
            let whole = verifier(&msg, 1).finish().unwrap();
            let d = verifier(&msg, 1).finish_deferred(&RustCrypto).unwrap();
            assert_eq!(d.checks().len(), 2);
            let outcomes: Vec<_> = d.checks().iter().map(outcome).collect();
            assert_eq!(d.settle(&outcomes, &RustCrypto), whole);
            // left to the backend: the same
            let d = verifier(&msg, 1).finish_deferred(&RustCrypto).unwrap();
            assert_eq!(d.settle(&[], &RustCrypto), whole);
        }
    }

    #[test]
    fn the_outcomes_decide() {
        let d = verifier(A3, 2).finish_deferred(&RustCrypto).unwrap();
        // one check per record tried
        assert_eq!(d.checks().len(), 3);
        let kinds: Vec<_> = d.checks().iter().map(|c| c.algorithm).collect();
        assert_eq!(
            kinds,
            [
                SigningAlgorithm::Ed25519Sha256,
                SigningAlgorithm::RsaSha256,
                SigningAlgorithm::RsaSha256
            ]
        );
        let r = d.settle(&[Some(false), Some(false), Some(false)], &RustCrypto);
        assert!(
            r.results
                .iter()
                .all(|r| r.reason == Some(Reason::BadSignature))
        );
        // the best of the two records counts
        let d = verifier(A3, 2).finish_deferred(&RustCrypto).unwrap();
        let r = d.settle(&[Some(true), Some(false), Some(true)], &RustCrypto);
        assert!(r.results.iter().all(|r| r.result == DkimResult::Pass));
        // a changed body fails before any public-key check
        let d = verifier(&altered(A3, b"We lost"), 1)
            .finish_deferred(&RustCrypto)
            .unwrap();
        assert!(d.checks().is_empty());
    }

    #[test]
    fn a_refused_header_block_has_no_checks() {
        let policy = VerifyPolicy {
            max_header_bytes: 100,
            ..VerifyPolicy::default()
        };
        let mut v = Verifier::new(policy, None);
        v.update(A3).unwrap();
        let d = v.finish_deferred(&RustCrypto).unwrap();
        assert!(d.checks().is_empty());
        let r = d.settle(&[], &RustCrypto);
        assert_eq!(
            r.results[0].reason,
            Some(Reason::HeaderTooLarge { limit: 100 })
        );
    }

    /// `msg` with one byte changed in the first line that starts with
    /// `line`.
    fn altered(msg: &[u8], line: &[u8]) -> Vec<u8> {
        let mut m = msg.to_vec();
        let at = m
            .windows(line.len() + 2)
            .position(|w| w[..2] == *b"\r\n" && w[2..] == *line)
            .unwrap()
            + 2
            + line.len()
            + 2;
        m[at] ^= 0x01;
        m
    }
}
