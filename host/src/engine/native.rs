//! The core linked in (`--engine native`): the same streaming sessions as
//! the sandbox, keys in native crypto.

use std::sync::{Arc, Mutex};

use waxseal_core::verify::{Lookups, Query, VerifyPolicy};
use waxseal_core::{ErrorCode, KeyAnswer, Signer, SigningAlgorithm};

use super::{InputError, Report, SignSpec};
use crate::crypto::NativeKey;

/// A signer whose options were checked once, for the next message with
/// the same specs and key algorithms (what the sandbox's `prepared`
/// resource is to the component).
struct NativePrepared {
    specs: Vec<SignSpec>,
    algorithms: Vec<SigningAlgorithm>,
    signer: Signer<'static>,
}

/// Prepared signers not in use: an MTA signs all mail of a domain alike,
/// so most messages find theirs here.
static PREPARED: Mutex<Vec<NativePrepared>> = Mutex::new(Vec::new());

/// At most this many idle prepared signers are kept.
const KEEP_PREPARED: usize = 32;

/// A message being signed natively.
pub struct NativeSigner {
    prepared: Option<NativePrepared>,
    keys: Arc<Vec<NativeKey>>,
}

fn crypto_error(e: impl std::fmt::Display) -> InputError {
    InputError {
        code: ErrorCode::Crypto,
        message: e.to_string(),
    }
}

impl NativeSigner {
    /// Starts a message with `specs`, reusing an idle signer prepared for
    /// the same specs and key algorithms.
    pub fn new(specs: &[SignSpec], keys: Arc<Vec<NativeKey>>) -> Result<Self, InputError> {
        let algorithms = specs
            .iter()
            .map(|s| {
                keys.get(s.key)
                    .map(NativeKey::algorithm)
                    .ok_or_else(|| InputError {
                        code: ErrorCode::InvalidKey,
                        message: format!("no key number {}", s.key),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let idle = PREPARED.lock().ok().and_then(|mut pool| {
            let i = pool
                .iter()
                .position(|p| p.specs == specs && p.algorithms == algorithms)?;
            Some(pool.swap_remove(i))
        });
        let mut prepared = match idle {
            Some(p) => p,
            None => {
                let mut signer = Signer::new();
                for (s, alg) in specs.iter().zip(&algorithms) {
                    signer.add_external(s.spec.options()?, *alg)?;
                }
                NativePrepared {
                    specs: specs.to_vec(),
                    algorithms,
                    signer,
                }
            }
        };
        prepared.signer.reset();
        Ok(NativeSigner {
            prepared: Some(prepared),
            keys,
        })
    }

    fn signer(&mut self) -> Result<&mut NativePrepared, InputError> {
        self.prepared.as_mut().ok_or_else(|| InputError {
            code: ErrorCode::State,
            message: "the signer is finished".into(),
        })
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), InputError> {
        Ok(self.signer()?.signer.update(chunk)?)
    }

    /// Ends the message; returns the DKIM-Signature field(s), CRLF.
    pub fn finish(mut self) -> Result<String, InputError> {
        let keys = self.keys.clone();
        let p = self.signer()?;
        let pending = p.signer.finish_pending()?;
        let mut out = String::new();
        for (pending, s) in pending.into_iter().zip(&p.specs) {
            let h = keys[s.key].complete(pending).map_err(crypto_error)?;
            out.push_str(&h.field);
        }
        Ok(out)
    }
}

impl Drop for NativeSigner {
    fn drop(&mut self) {
        if let Some(p) = self.prepared.take()
            && let Ok(mut pool) = PREPARED.lock()
            && pool.len() < KEEP_PREPARED
        {
            pool.push(p);
        }
    }
}

/// Signing a whole message with the core linked in, keys in native
/// crypto.
pub fn sign_native(
    message: &[u8],
    specs: &[SignSpec],
    keys: &Arc<Vec<NativeKey>>,
) -> Result<String, InputError> {
    let mut s = NativeSigner::new(specs, keys.clone())?;
    s.update(message)?;
    s.finish()
}

/// A message being verified natively.
pub struct NativeVerifier {
    v: waxseal_core::Verifier,
}

impl NativeVerifier {
    /// Starts a message.
    pub fn new(policy: VerifyPolicy, now: Option<u64>) -> Self {
        NativeVerifier {
            v: waxseal_core::Verifier::new(policy, now),
        }
    }

    /// Feeds the next chunk.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), InputError> {
        Ok(self.v.update(chunk)?)
    }

    /// Declares the message to have no body.
    pub fn finish_headers(&mut self) -> Result<(), InputError> {
        Ok(self.v.finish_headers()?)
    }

    /// The DNS names to look up, once the header block is complete (or
    /// refused); `None` before.
    pub fn queries(&self, lookups: Lookups) -> Option<Vec<Query>> {
        self.v.known_queries(lookups)
    }

    /// The answer to a key query.
    pub fn answer(&mut self, name: &str, answer: KeyAnswer) {
        self.v.answer(name, answer);
    }

    /// Ends the message; signatures are checked on native crypto
    /// ([`native_verify`](crate::verify_crypto::native_verify)).
    pub fn finish(self, authserv_id: &str) -> Result<Report, InputError> {
        let r = self.v.finish_with(crate::verify_crypto::native_verify())?;
        Ok(Report::from_core(&r, authserv_id))
    }
}
