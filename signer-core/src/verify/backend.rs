//! The public-key operation of verification as a capability: the core's
//! own ([`RustCrypto`]) or a host's native crypto, with the keys and
//! records it keeps.

use alloc::sync::Arc;

use crate::error::Error;
use crate::keys::{KeyType, PublicKey, SigningAlgorithm};
use crate::record::KeyRecord;

/// The public-key operation of verification, as a capability, so that a
/// host can verify with native crypto. [`RustCrypto`] is the pure-Rust
/// implementation.
pub trait VerifyDigest {
    /// Decodes the `p=` data of a key record (RFC 6376 3.6.1), as
    /// [`PublicKey::from_record_data`] does, which is the default. A
    /// backend may keep decoded keys: a receiver sees the same few records
    /// again and again, and decoding an RSA key costs as much as checking
    /// a signature with it. It must give what `from_record_data` gives.
    fn decode_key(&self, key_type: KeyType, data: &[u8]) -> Result<PublicKey, Error> {
        PublicKey::from_record_data(key_type, data)
    }

    /// Parses a key record (RFC 6376 3.6.1), as [`KeyRecord::parse`]
    /// does, which is the default; a backend may keep parsed records, as
    /// keys. It must give what `KeyRecord::parse` gives.
    fn parse_record(&self, txt: &[u8]) -> Result<Arc<KeyRecord>, Error> {
        KeyRecord::parse(txt).map(Arc::new)
    }

    /// Checks `signature` over `digest` (the hash of the header data) with
    /// `key` for `alg`. [`PublicKey::record_data`] gives the key as
    /// published, for backends that decode keys themselves.
    fn verify_digest(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error>;
}

/// The pure-Rust crypto backend (`rsa` 0.10, `ed25519-dalek`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

impl VerifyDigest for RustCrypto {
    fn verify_digest(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        key.verify_digest(alg, digest, signature)
    }
}
