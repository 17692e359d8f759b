//! The WebAssembly component face (`wit/waxseal.wit`), for wasmtime and any
//! other component host. Built for `wasm32-wasip2`: world `dkim` by default,
//! world `dkim-host-crypto` with the `host-crypto` feature.
// The generated bindings (ABI glue) use `unsafe`; nothing here is written
// by hand with it.
#![allow(unsafe_code, missing_docs, unreachable_pub)]

use std::cell::{Cell, RefCell};

use waxseal_core::verify::{KeyAnswer, QueryKind, VerifyPolicy};
use waxseal_core::{Error as CoreError, PrivateKey, SignDigest, SigningAlgorithm};

use crate::common::{self, SignSpec};

#[cfg(not(feature = "host-crypto"))]
wit_bindgen::generate!({ path: "wit", world: "dkim" });

#[cfg(feature = "host-crypto")]
wit_bindgen::generate!({ path: "wit", world: "dkim-host-crypto" });

use exports::waxseal::dkim::{keys, signing, verification};
use waxseal::dkim::types::{
    self as wit, DkimResult, Error, ErrorCode, KeyPair, KeyType, Query, SignOptions,
    SignatureResult, SigningKey, TxtAnswer, VerifyReport,
};

/// The component.
pub struct Component;

/// SHA-256 by the host (world `dkim-host-crypto`): the host's native code
/// hashes the canonical bytes several times faster than WebAssembly can.
///
/// Design note: a host resource costs four calls (create, update, finish,
/// drop), and most hashes of a small message see one update: the header
/// data, the body of a short message. So the first bytes are kept here, up
/// to [`HOLD`] bytes, and hashed with one `sha256-digest` call at the end;
/// only data beyond that starts a host resource.
#[cfg(feature = "host-crypto")]
enum HostSha256 {
    Held(Vec<u8>),
    Live(waxseal::dkim::crypto::Sha256),
}

/// Bytes a [`HostSha256`] holds before it starts a host resource.
#[cfg(feature = "host-crypto")]
const HOLD: usize = 16 * 1024;

#[cfg(feature = "host-crypto")]
impl waxseal_core::ExternalSha256 for HostSha256 {
    fn update(&mut self, data: &[u8]) {
        match self {
            HostSha256::Held(held) if held.len() + data.len() <= HOLD => {
                held.extend_from_slice(data)
            }
            HostSha256::Held(held) => {
                let live = waxseal::dkim::crypto::Sha256::new();
                live.update(held);
                live.update(data);
                *self = HostSha256::Live(live);
            }
            HostSha256::Live(live) => live.update(data),
        }
    }

    fn fork(&self) -> Box<dyn waxseal_core::ExternalSha256> {
        Box::new(match self {
            HostSha256::Held(held) => HostSha256::Held(held.clone()),
            HostSha256::Live(live) => HostSha256::Live(live.fork()),
        })
    }

    fn finish(self: Box<Self>) -> [u8; 32] {
        let d = match *self {
            HostSha256::Held(held) => waxseal::dkim::crypto::sha256_digest(&held),
            HostSha256::Live(live) => live.finish(),
        };
        digest32(d)
    }

    fn finish_reset(&mut self) -> Option<[u8; 32]> {
        let d = match self {
            HostSha256::Held(held) => {
                let d = waxseal::dkim::crypto::sha256_digest(held);
                held.clear(); // its buffer serves the next message
                d
            }
            HostSha256::Live(live) => {
                let d = live.finish();
                *self = HostSha256::Held(Vec::new());
                d
            }
        };
        Some(digest32(d))
    }

    fn digest(mut self: Box<Self>, data: &[u8]) -> [u8; 32] {
        match &*self {
            // nothing held yet: the data goes over as it is, no copy
            HostSha256::Held(held) if held.is_empty() => {
                digest32(waxseal::dkim::crypto::sha256_digest(data))
            }
            _ => {
                self.update(data);
                self.finish()
            }
        }
    }
}

/// A digest from the host (four big-endian words) as 32 bytes.
#[cfg(feature = "host-crypto")]
fn digest32(d: waxseal::dkim::crypto::Digest256) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(8).zip([d.0, d.1, d.2, d.3]) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

#[cfg(feature = "host-crypto")]
fn host_sha256() -> Box<dyn waxseal_core::ExternalSha256> {
    Box::new(HostSha256::Held(Vec::new()))
}

#[cfg(feature = "host-crypto")]
mod host_verify;
#[cfg(feature = "host-crypto")]
use host_verify::HostVerify;

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

export!(Component);

/// The WIT error for a core error: every core code has its WIT name (an
/// exhaustive match: a new code does not compile until it has one).
fn error(e: CoreError) -> Error {
    use waxseal_core::ErrorCode as C;
    let code = match e.kind() {
        C::MalformedMessage => ErrorCode::MalformedMessage,
        C::HeaderTooLarge => ErrorCode::HeaderTooLarge,
        C::MissingFrom => ErrorCode::MissingFrom,
        C::SeveralFrom => ErrorCode::SeveralFrom,
        C::Syntax => ErrorCode::Syntax,
        C::InvalidDomain => ErrorCode::InvalidDomain,
        C::InvalidSelector => ErrorCode::InvalidSelector,
        C::InvalidIdentity => ErrorCode::InvalidIdentity,
        C::InvalidHeaderName => ErrorCode::InvalidHeaderName,
        C::Unsupported => ErrorCode::Unsupported,
        C::InvalidOption => ErrorCode::InvalidOption,
        C::KeyTypeMismatch => ErrorCode::KeyTypeMismatch,
        C::InvalidKey => ErrorCode::InvalidKey,
        C::KeySize => ErrorCode::KeySize,
        C::KeyGeneration => ErrorCode::KeyGeneration,
        C::Crypto => ErrorCode::Crypto,
        C::State => ErrorCode::State,
    };
    Error {
        code,
        message: e.to_string(),
    }
}

fn state_error(message: &str) -> Error {
    Error {
        code: ErrorCode::State,
        message: message.into(),
    }
}

fn key_type_name(k: KeyType) -> &'static str {
    match k {
        KeyType::Rsa => "rsa",
        KeyType::Ed25519 => "ed25519",
    }
}

impl keys::Guest for Component {
    fn generate_key(key_type: KeyType, bits: Option<u32>) -> Result<KeyPair, Error> {
        let key = common::generate_key(key_type_name(key_type), bits).map_err(error)?;
        Ok(KeyPair {
            private_key: key.to_pkcs8_pem().map_err(error)?.to_string(),
            public_key: waxseal_core::base64::encode(&key.public_key().to_record_data()),
            key_type,
            bits: key.bits() as u32,
        })
    }

    fn dns_record(
        key: String,
        key_type: Option<KeyType>,
        selector: String,
        domain: String,
        testing: bool,
    ) -> Result<wit::KeyRecord, Error> {
        let pk = common::public_key(key.as_bytes(), key_type.map(key_type_name)).map_err(error)?;
        let r = common::dns_record(&pk, &selector, &domain, testing, false, None).map_err(error)?;
        Ok(wit::KeyRecord {
            name: r.name,
            value: r.value,
            strings: r.strings,
            zone_line: r.zone_line,
            readme: r.readme,
        })
    }
}

/// Where a signature's private-key operation happens.
enum KeyRef {
    /// In the component (pure-Rust crypto).
    Local(PrivateKey),
    /// In the host, by handle (world `dkim-host-crypto`).
    #[cfg(feature = "host-crypto")]
    Host(u32),
}

fn key_ref(key: &SigningKey) -> Result<(KeyRef, SigningAlgorithm), Error> {
    match key {
        SigningKey::Pem(pem) => {
            let k = PrivateKey::parse(pem.as_bytes()).map_err(error)?;
            let alg = k.algorithm();
            Ok((KeyRef::Local(k), alg))
        }
        #[cfg(feature = "host-crypto")]
        SigningKey::Host(handle) => {
            let algorithm = match waxseal::dkim::crypto::key_algorithm(*handle) {
                Some(wit::SigningAlgorithm::RsaSha256) => SigningAlgorithm::RsaSha256,
                Some(wit::SigningAlgorithm::Ed25519Sha256) => SigningAlgorithm::Ed25519Sha256,
                None => {
                    return Err(Error {
                        code: ErrorCode::InvalidKey,
                        message: format!("the host has no key with handle {handle}"),
                    });
                }
            };
            Ok((KeyRef::Host(*handle), algorithm))
        }
        #[cfg(not(feature = "host-crypto"))]
        SigningKey::Host(_) => Err(Error {
            code: ErrorCode::InvalidKey,
            message: "host keys need the world dkim-host-crypto".into(),
        }),
    }
}

/// A core signer whose private-key operations are done per key: in the
/// component for PEM keys, by the host for host keys.
struct SignJob {
    signer: waxseal_core::Signer<'static>,
    keys: Vec<KeyRef>,
}

impl SignJob {
    fn new(options: Vec<SignOptions>) -> Result<Self, Error> {
        if options.is_empty() {
            return Err(error(CoreError::NothingToSign));
        }
        let mut signer = waxseal_core::Signer::new();
        #[cfg(feature = "host-crypto")]
        signer.set_sha256(host_sha256);
        let mut keys = Vec::with_capacity(options.len());
        for o in options {
            let (key, algorithm) = key_ref(&o.key)?;
            let spec = SignSpec {
                domain: o.domain,
                selector: o.selector,
                identity: o.identity,
                headers: o.headers,
                oversign: o.oversign,
                canonicalization: o.canonicalization,
                timestamp: o.timestamp,
                expiration: o.expiration,
                body_length: o.body_length,
                copy_headers: o.copy_headers,
            };
            signer
                .add_external(spec.options().map_err(error)?, algorithm)
                .map_err(error)?;
            keys.push(key);
        }
        Ok(SignJob { signer, keys })
    }

    /// Ends the message and makes the signatures; the job can then be
    /// reset for another message.
    fn finish(&mut self) -> Result<String, Error> {
        let pending = self.signer.finish_pending().map_err(error)?;
        let mut out = String::new();
        for (p, key) in pending.into_iter().zip(&self.keys) {
            let b = match key {
                KeyRef::Local(k) => k.sign_digest(p.digest().as_bytes()).map_err(error)?,
                #[cfg(feature = "host-crypto")]
                // the host hashes and signs in one call (so the header
                // data's digest is never computed here)
                KeyRef::Host(handle) => waxseal::dkim::crypto::sign(*handle, p.header_input())
                    .map_err(|m| Error {
                        code: ErrorCode::Crypto,
                        message: format!("the host could not sign: {m}"),
                    })?,
            };
            let field = p.complete(b).field;
            if out.is_empty() {
                out = field; // one signature: its field as it is
            } else {
                out.push_str(&field);
            }
        }
        Ok(out)
    }

    /// Signs a whole message.
    fn sign(&mut self, message: &[u8]) -> Result<String, Error> {
        self.signer.reset();
        self.signer.update(message).map_err(error)?;
        self.finish()
    }
}

/// The `signer` resource.
pub struct SignerResource {
    inner: RefCell<Option<SignJob>>,
}

impl signing::GuestSigner for SignerResource {
    fn create(options: Vec<SignOptions>) -> Result<signing::Signer, Error> {
        Ok(signing::Signer::new(SignerResource {
            inner: RefCell::new(Some(SignJob::new(options)?)),
        }))
    }

    fn update(&self, chunk: Vec<u8>) -> Result<(), Error> {
        match self.inner.borrow_mut().as_mut() {
            Some(job) => job.signer.update(&chunk).map_err(error),
            None => Err(state_error("the signer is finished")),
        }
    }

    fn finish(&self) -> Result<String, Error> {
        let mut job = self
            .inner
            .borrow_mut()
            .take()
            .ok_or_else(|| state_error("the signer is finished"))?;
        job.finish()
    }
}

/// The `prepared` resource: a sign job whose options were checked once.
pub struct PreparedResource {
    job: RefCell<SignJob>,
    /// A streamed message is in progress (`begin` was called).
    streaming: Cell<bool>,
}

impl signing::GuestPrepared for PreparedResource {
    fn create(options: Vec<SignOptions>) -> Result<signing::Prepared, Error> {
        Ok(signing::Prepared::new(PreparedResource {
            job: RefCell::new(SignJob::new(options)?),
            streaming: Cell::new(false),
        }))
    }

    fn sign(&self, message: Vec<u8>) -> Result<String, Error> {
        self.streaming.set(false);
        self.job.borrow_mut().sign(&message)
    }

    fn begin(&self) {
        self.job.borrow_mut().signer.reset();
        self.streaming.set(true);
    }

    fn update(&self, chunk: Vec<u8>) -> Result<(), Error> {
        if !self.streaming.get() {
            return Err(state_error("no message in progress: call begin first"));
        }
        self.job.borrow_mut().signer.update(&chunk).map_err(error)
    }

    fn finish(&self) -> Result<String, Error> {
        if !self.streaming.replace(false) {
            return Err(state_error("no message in progress: call begin first"));
        }
        self.job.borrow_mut().finish()
    }
}

impl signing::Guest for Component {
    type Signer = SignerResource;
    type Prepared = PreparedResource;

    fn sign(message: Vec<u8>, options: Vec<SignOptions>) -> Result<String, Error> {
        SignJob::new(options)?.sign(&message)
    }
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
