//! Public-key operations of verification by the host's native code
//! (world `dkim-host-crypto`), and the keys this instance has decoded.

use std::cell::RefCell;
use std::sync::Arc;

use waxseal_core::verify::same_bytes;
use waxseal_core::{
    Error as CoreError, Keeping, KeyRecord, KeyType, PublicKey, RustCrypto, SigningAlgorithm,
};

use super::waxseal;
use super::wit;

/// Decoded keys an instance keeps: an instance serves message after
/// message (the host pools them), and a receiver sees the same few
/// records again and again; decoding an RSA key here (pure Rust, in
/// WebAssembly) costs more than the host's whole signature check.
const KEPT_KEYS: usize = 16;

/// A decoded key and the encoding the host is given.
struct Kept {
    key_type: KeyType,
    data: Vec<u8>,
    key: Result<PublicKey, CoreError>,
    /// The key as decoded here, encoded again: the host never parses the
    /// DNS answer itself.
    encoded: Vec<u8>,
}

thread_local! {
    static KEYS: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
    /// Parsed key records, by their text (the core's keeping backend; the
    /// keys are kept here, with the encoding the host is given).
    static RECORDS: Keeping<RustCrypto> = const { Keeping::new(RustCrypto) };
}

/// The verification backend of the `dkim-host-crypto` world; rsa-sha1,
/// which the host interface does not name, stays here.
pub(super) struct HostVerify;

impl waxseal_core::VerifyDigest for HostVerify {
    fn parse_record(&self, txt: &[u8]) -> Result<Arc<KeyRecord>, CoreError> {
        RECORDS.with(|records| records.parse_record(txt))
    }

    fn decode_key(&self, key_type: KeyType, data: &[u8]) -> Result<PublicKey, CoreError> {
        KEYS.with_borrow_mut(|keys| {
            if let Some(k) = keys
                .iter()
                .find(|k| k.key_type == key_type && same_bytes(&k.data, data))
            {
                return k.key.clone();
            }
            let key = PublicKey::from_record_data(key_type, data);
            let encoded = key
                .as_ref()
                .map(PublicKey::to_record_data)
                .unwrap_or_default();
            if keys.len() >= KEPT_KEYS {
                keys.remove(0);
            }
            keys.push(Kept {
                key_type,
                data: data.to_vec(),
                key: key.clone(),
                encoded,
            });
            key
        })
    }

    fn verify_digest(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), CoreError> {
        let wit_alg = match alg {
            SigningAlgorithm::RsaSha256 => wit::SigningAlgorithm::RsaSha256,
            SigningAlgorithm::Ed25519Sha256 => wit::SigningAlgorithm::Ed25519Sha256,
            _ => {
                return waxseal_core::VerifyDigest::verify_digest(
                    &waxseal_core::RustCrypto,
                    alg,
                    key,
                    digest,
                    signature,
                );
            }
        };
        key.check_digest_input(alg, digest)?;
        let valid = KEYS.with_borrow(|keys| {
            // `key` is most often the one `decode_key` kept (a clone: the
            // same data, at the same address)
            let data = key.record_data();
            let kept = keys.iter().find(|k| match &k.key {
                Ok(kept) if core::ptr::eq(kept.record_data(), data) => true,
                _ => k.key_type == key.key_type() && same_bytes(&k.data, data),
            });
            match kept {
                Some(k) => waxseal::dkim::crypto::verify(wit_alg, &k.encoded, digest, signature),
                None => {
                    let data = key.to_record_data();
                    waxseal::dkim::crypto::verify(wit_alg, &data, digest, signature)
                }
            }
        });
        if valid {
            Ok(())
        } else {
            Err(CoreError::BadSignature)
        }
    }
}
