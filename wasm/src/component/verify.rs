//! Verification (`verification` in `wit/waxseal.wit`): the one-shot
//! `verify` and the `verifier` resource, with the public-key operations and
//! hashing in the host when the world has them.

use std::cell::{Cell, RefCell};

use waxseal_core::verify::{KeyAnswer, QueryKind, VerifyPolicy};

#[cfg(feature = "host-crypto")]
use super::host_sha256::host_sha256;
#[cfg(feature = "host-crypto")]
use super::host_verify::HostVerify;
use super::{
    Component, DkimResult, Error, Query, SignatureResult, TxtAnswer, VerifyReport, error,
    state_error, verification, wit,
};

/// Ends a verification, with the public-key operations in the host when
/// the world has them.
fn finish_verifier(v: waxseal_core::Verifier) -> Result<waxseal_core::VerificationReport, Error> {
    #[cfg(feature = "host-crypto")]
    let r = v.finish_with(&HostVerify);
    #[cfg(not(feature = "host-crypto"))]
    let r = KEPT.with(|kept| v.finish_with(kept));
    r.map_err(error)
}

#[cfg(not(feature = "host-crypto"))]
thread_local! {
    /// The key records parsed and keys decoded by this instance (the last
    /// 16 of each): an instance serves message after message, and decoding
    /// an RSA key in WebAssembly costs about as much as checking with it.
    static KEPT: waxseal_core::Keeping<waxseal_core::RustCrypto> =
        const { waxseal_core::Keeping::new(waxseal_core::RustCrypto) };
}

/// A verifier that hashes where it is fastest: in the host when the world
/// has the host's SHA-256.
fn new_verifier(policy: VerifyPolicy, now: Option<u64>) -> waxseal_core::Verifier {
    #[allow(unused_mut)]
    let mut v = waxseal_core::Verifier::new(policy, now);
    #[cfg(feature = "host-crypto")]
    v.set_sha256(host_sha256);
    v
}

fn policy(p: &wit::VerifyPolicy) -> VerifyPolicy {
    let mut out = VerifyPolicy::default();
    if let Some(b) = p.min_rsa_bits {
        out.min_rsa_bits = b as usize;
    }
    out.allow_rsa_sha1 = p.allow_rsa_sha1;
    out.allow_unsigned_body_tail = p.allow_unsigned_body_tail;
    out.allow_unsigned_from = p.allow_unsigned_from;
    out.allow_from_count = p.allow_from_count;
    out.ignore_expiration = p.ignore_expiration;
    if let Some(s) = p.clock_skew {
        out.clock_skew = s;
    }
    if let Some(m) = p.max_signatures {
        out.max_signatures = m as usize;
    }
    if let Some(m) = p.max_header_bytes {
        out.max_header_bytes = m as usize;
    }
    out
}

fn answer(a: TxtAnswer) -> KeyAnswer {
    match a {
        TxtAnswer::Records(r) => KeyAnswer::Records(r),
        TxtAnswer::NxDomain => KeyAnswer::NxDomain,
        TxtAnswer::TempFail => KeyAnswer::TempFail,
    }
}

fn report(r: waxseal_core::VerificationReport, authserv_id: &str) -> VerifyReport {
    use waxseal_core::DkimResult as R;
    // the texts first, then the labels move out (no copies)
    let authentication_results = r.authentication_results(authserv_id);
    VerifyReport {
        results: r
            .results
            .into_iter()
            .map(|s| SignatureResult {
                result: match s.result {
                    R::Pass => DkimResult::Pass,
                    R::Fail => DkimResult::Fail,
                    R::Neutral | R::None => DkimResult::Neutral,
                    R::Policy => DkimResult::Policy,
                    R::TempError => DkimResult::Temperror,
                    R::PermError => DkimResult::Permerror,
                },
                reason: s.reason.map(|r| r.to_string()),
                reason_code: s.reason.map(|r| r.code().to_string()),
                summary: s.to_string(),
                domain: s.labels.domain,
                selector: s.labels.selector,
                algorithm: s.labels.algorithm,
                identity: s.labels.identity,
                testing: s.testing,
                key_bits: s.key_bits.map(|b| b as u32),
                unsigned_body_bytes: s.unsigned_body_bytes,
            })
            .collect(),
        authentication_results,
    }
}

/// The `verifier` resource.
pub struct VerifierResource {
    inner: RefCell<Option<waxseal_core::Verifier>>,
    /// `feed` has given the queries.
    fed_queries: Cell<bool>,
}

impl VerifierResource {
    fn with<T>(&self, f: impl FnOnce(&mut waxseal_core::Verifier) -> T) -> Result<T, Error> {
        match self.inner.borrow_mut().as_mut() {
            Some(v) => Ok(f(v)),
            None => Err(state_error("the verifier is finished")),
        }
    }
}

impl verification::GuestVerifier for VerifierResource {
    fn create(policy_options: wit::VerifyPolicy, now: Option<u64>) -> verification::Verifier {
        verification::Verifier::new(VerifierResource {
            inner: RefCell::new(Some(new_verifier(policy(&policy_options), now))),
            fed_queries: Cell::new(false),
        })
    }

    fn update(&self, chunk: Vec<u8>) -> Result<(), Error> {
        self.with(|v| v.update(&chunk))?.map_err(error)
    }

    fn finish_headers(&self) -> Result<(), Error> {
        self.with(|v| v.finish_headers())?.map_err(error)
    }

    fn headers_complete(&self) -> bool {
        self.with(|v| v.headers_complete()).unwrap_or(true)
    }

    fn queries(&self) -> Vec<Query> {
        self.with(wit_queries).unwrap_or_default()
    }

    fn answer(&self, name: String, a: TxtAnswer) {
        let _ = self.with(|v| v.answer(&name, answer(a)));
    }

    fn finish(&self, authserv_id: String) -> Result<VerifyReport, Error> {
        let v = self
            .inner
            .borrow_mut()
            .take()
            .ok_or_else(|| state_error("the verifier is finished"))?;
        let r = finish_verifier(v)?;
        Ok(report(r, &authserv_id))
    }

    fn feed(&self, chunk: Vec<u8>) -> Result<Option<Vec<Query>>, Error> {
        self.with(|v| {
            if !chunk.is_empty() {
                v.update(&chunk).map_err(error)?;
            }
            if self.fed_queries.get() || !v.headers_complete() {
                return Ok(None);
            }
            self.fed_queries.set(true);
            Ok(Some(wit_queries(v)))
        })?
    }

    fn conclude(
        this: verification::Verifier,
        answers: Vec<(String, TxtAnswer)>,
        authserv_id: String,
    ) -> Result<VerifyReport, Error> {
        let this: VerifierResource = this.into_inner();
        let mut v = this
            .inner
            .into_inner()
            .ok_or_else(|| state_error("the verifier is finished"))?;
        for (name, a) in answers {
            v.answer(&name, answer(a));
        }
        let r = finish_verifier(v)?;
        Ok(report(r, &authserv_id))
    }
}

/// The verifier's queries in the component's types.
fn wit_queries(v: &mut waxseal_core::Verifier) -> Vec<Query> {
    v.queries()
        .into_iter()
        .map(|q| Query {
            name: q.name,
            kind: match q.kind {
                QueryKind::Key => wit::QueryKind::Key,
                QueryKind::LegacyPolicy => wit::QueryKind::LegacyPolicy,
                QueryKind::Dmarc => wit::QueryKind::Dmarc,
            },
        })
        .collect()
}

impl verification::Guest for Component {
    type Verifier = VerifierResource;

    fn verify(
        message: Vec<u8>,
        answers: Vec<(String, TxtAnswer)>,
        policy_options: wit::VerifyPolicy,
        now: Option<u64>,
        authserv_id: String,
    ) -> Result<VerifyReport, Error> {
        let mut v = new_verifier(policy(&policy_options), now);
        v.update(&message).map_err(error)?;
        v.finish_headers().map_err(error)?;
        for (name, a) in answers {
            v.answer(&name, answer(a));
        }
        let r = finish_verifier(v)?;
        Ok(report(r, &authserv_id))
    }
}
