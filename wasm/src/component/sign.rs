//! Signing (`signing` in `wit/waxseal.wit`): the one-shot `sign`, and the
//! `signer` and `prepared` resources; each signature's private-key
//! operation in the component or, for host keys, in the host.

use std::cell::{Cell, RefCell};

use waxseal_core::{Error as CoreError, PrivateKey, SignDigest, SigningAlgorithm};

#[cfg(feature = "host-crypto")]
use super::host_sha256::host_sha256;
use super::{Component, Error, ErrorCode, SignOptions, SigningKey, error, signing, state_error};
#[cfg(feature = "host-crypto")]
use super::{waxseal, wit};
use crate::common::SignSpec;

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
