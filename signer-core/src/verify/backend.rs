//! The public-key operation of verification as a capability: the core's
//! own ([`RustCrypto`]) or a host's native crypto, with the keys and
//! records it keeps.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;

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

    /// Checks `signature` over `data`, the header data a signer signs
    /// (RFC 6376 3.7), whose hash under `alg` is `digest`: for a backend
    /// whose crypto hashes the data itself (WebCrypto's RSA takes the data,
    /// never a digest). The verifier calls this one; the default checks
    /// the digest with [`verify_digest`](Self::verify_digest).
    fn verify_data(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        data: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        let _ = data;
        self.verify_digest(alg, key, digest, signature)
    }
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

/// How many parsed records and decoded keys a [`Keeping`] backend holds.
const KEPT: usize = 16;

/// A parsed record, by its text.
type KeptRecord = (Vec<u8>, Result<Arc<KeyRecord>, Error>);
/// A decoded key, by its type and `p=` data.
type KeptKey = (KeyType, Vec<u8>, Result<PublicKey, Error>);

/// A backend that keeps the last key records it parsed and the last keys
/// it decoded (16 of each), around another backend that does the work.
/// A receiver sees the same few records again and again, and decoding an
/// RSA key (its Montgomery form) costs about as much as the signature
/// check itself, in WebAssembly most of all. For one thread (it is not
/// `Sync`): the npm package keeps one for its lifetime.
#[derive(Debug, Default)]
pub struct Keeping<B> {
    inner: B,
    records: RefCell<Vec<KeptRecord>>,
    keys: RefCell<Vec<KeptKey>>,
}

impl<B> Keeping<B> {
    /// Keeps what `inner` parses and decodes.
    pub const fn new(inner: B) -> Self {
        Keeping {
            inner,
            records: RefCell::new(Vec::new()),
            keys: RefCell::new(Vec::new()),
        }
    }
}

/// Whether `a` and `b` are the same bytes, compared eight at a time: the
/// caches of key records and keys compare some hundreds of bytes per
/// signature, and in WebAssembly the libc's `memcmp` (which `==` on byte
/// slices calls) goes a byte at a time. Not constant-time: for public
/// data only.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // chunks_exact(8) gives 8-byte chunks only: the fallback never runs
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    a_words.remainder() == b_words.remainder()
        && a_words.zip(b_words).all(|(x, y)| word(x) == word(y))
}

/// Puts `entry` last, dropping the oldest when `kept` is full.
fn keep<T>(kept: &mut Vec<T>, entry: T) {
    if kept.len() >= KEPT {
        drop(kept.remove(0));
    }
    kept.push(entry);
}

impl<B: VerifyDigest> VerifyDigest for Keeping<B> {
    fn parse_record(&self, txt: &[u8]) -> Result<Arc<KeyRecord>, Error> {
        if let Some((_, r)) = self
            .records
            .borrow()
            .iter()
            .find(|(t, _)| same_bytes(t, txt))
        {
            return r.clone();
        }
        let r = self.inner.parse_record(txt);
        keep(&mut self.records.borrow_mut(), (txt.to_vec(), r.clone()));
        r
    }

    fn decode_key(&self, key_type: KeyType, data: &[u8]) -> Result<PublicKey, Error> {
        if let Some((_, _, k)) = self
            .keys
            .borrow()
            .iter()
            .find(|(t, d, _)| *t == key_type && same_bytes(d, data))
        {
            return k.clone();
        }
        let k = self.inner.decode_key(key_type, data);
        keep(
            &mut self.keys.borrow_mut(),
            (key_type, data.to_vec(), k.clone()),
        );
        k
    }

    fn verify_digest(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        self.inner.verify_digest(alg, key, digest, signature)
    }

    fn verify_data(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        data: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        self.inner.verify_data(alg, key, data, digest, signature)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::verify::{DkimResult, KeyAnswer, VerificationReport, Verifier, VerifyPolicy};
    use core::cell::Cell;

    #[test]
    fn same_bytes_is_slice_equality() {
        let base: Vec<u8> = (0..40u8).collect();
        for len in 0..base.len() {
            let a = &base[..len];
            // equal bytes at another address (not only the same slice)
            let copy = a.to_vec();
            assert!(same_bytes(a, a) && same_bytes(a, copy.as_slice()), "{len}");
            assert!(!same_bytes(a, &base[..len + 1]), "{len}");
            for i in 0..len {
                let mut b = a.to_vec();
                b[i] ^= 0x80;
                assert!(!same_bytes(a, &b), "{len} {i}");
            }
        }
    }

    const A3: &[u8] = include_bytes!("../../tests/vectors/rfc8463/a3-signed.eml");
    const A3_ED: &str = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const A3_RSA: &str = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

    /// The pure-Rust backend, counting the work asked of it.
    #[derive(Default)]
    struct Counting {
        records: Cell<u32>,
        keys: Cell<u32>,
    }

    impl VerifyDigest for Counting {
        fn parse_record(&self, txt: &[u8]) -> Result<Arc<KeyRecord>, Error> {
            self.records.set(self.records.get() + 1);
            RustCrypto.parse_record(txt)
        }
        fn decode_key(&self, key_type: KeyType, data: &[u8]) -> Result<PublicKey, Error> {
            self.keys.set(self.keys.get() + 1);
            RustCrypto.decode_key(key_type, data)
        }
        fn verify_digest(
            &self,
            alg: SigningAlgorithm,
            key: &PublicKey,
            digest: &[u8],
            signature: &[u8],
        ) -> Result<(), Error> {
            RustCrypto.verify_digest(alg, key, digest, signature)
        }
    }

    fn verify(msg: &[u8], crypto: &dyn VerifyDigest) -> VerificationReport {
        let mut v = Verifier::new(VerifyPolicy::default(), Some(1528637909));
        v.update(msg).unwrap();
        v.finish_headers().unwrap();
        for q in v.queries() {
            let answer = if q.name.starts_with("brisbane.") {
                KeyAnswer::record(A3_ED)
            } else if q.name.starts_with("test.") {
                KeyAnswer::record(A3_RSA)
            } else {
                KeyAnswer::NxDomain
            };
            v.answer(&q.name, answer);
        }
        v.finish_with(crypto).unwrap()
    }

    #[test]
    fn keeping_gives_the_same_verdicts_and_decodes_each_key_once() {
        let plain = verify(A3, &RustCrypto);
        assert_eq!(plain.results.len(), 2);
        let kept = Keeping::new(Counting::default());
        for _ in 0..3 {
            assert_eq!(verify(A3, &kept), plain);
        }
        // an altered body: the same failing verdicts as without keeping
        let mut altered = A3.to_vec();
        let last = altered.len() - 3;
        altered[last] ^= 0x20;
        let failed = verify(&altered, &kept);
        assert!(failed.results.iter().all(|r| r.result != DkimResult::Pass));
        assert_eq!(failed, verify(&altered, &RustCrypto));
        assert_eq!(kept.inner.records.get(), 2);
        assert_eq!(kept.inner.keys.get(), 2);
    }

    #[test]
    fn keeping_holds_the_last_sixteen() {
        let kept = Keeping::new(Counting::default());
        let data = |i: u8| [i; 32];
        for i in 0..=16 {
            let _ = kept.decode_key(KeyType::Ed25519, &data(i));
        }
        assert_eq!(kept.inner.keys.get(), 17);
        // the newest is kept, the oldest was dropped
        let _ = kept.decode_key(KeyType::Ed25519, &data(16));
        assert_eq!(kept.inner.keys.get(), 17);
        let _ = kept.decode_key(KeyType::Ed25519, &data(0));
        assert_eq!(kept.inner.keys.get(), 18);
        // the same data as another key type is another key
        let _ = kept.decode_key(KeyType::Rsa, &data(16));
        assert_eq!(kept.inner.keys.get(), 19);
    }
}
