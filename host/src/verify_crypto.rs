//! Verification on native crypto: AWS-LC checks the RSA and Ed25519
//! signatures, with the decoded keys kept between messages.
//!
//! The core decides everything about a signature but the public-key
//! operation ([`waxseal_core::VerifyDigest`]): record parsing, key
//! sizes, the RFC 8301 rules. Here that operation runs on AWS-LC, and the
//! keys a receiver sees again and again (a few selectors of the big
//! senders) are parsed and decoded once: an RSA key's Montgomery set-up
//! costs about as much as a pure-Rust signature check.
//!
//! Design note: the verdicts must be the core's, bit for bit, whatever the
//! input. Where AWS-LC and the core's strict Ed25519 check could differ is
//! decided here or in the core, and the tests below compare both on
//! crafted input:
//! - RSA keys under 1024 bits, which AWS-LC refuses: the core checks them
//!   (the policy then refuses them as too small, with that reason).
//! - Ed25519 keys of small order: strict verification refuses every
//!   signature under them; AWS-LC would accept `R = identity, S = 0`.
//!   Found once per key, when it is decoded; the core refuses them.
//! - Ed25519 signatures whose `R` is a small-order point: refused by
//!   comparing `R` with the eight canonical encodings (a non-canonical `R`
//!   never equals the recomputed one, in either implementation).
//! - Ed25519 keys whose y is p or more: the core refuses them when it
//!   decodes the key (RFC 8032 5.1.3), so AWS-LC never sees one.
//!
//! AWS-LC decodes the Ed25519 key point on every call, and still checks a
//! signature faster than curve25519-dalek on the kept point on this
//! project's x86-64 machines (s2n-bignum's code with BMI2 and ADX:
//! `waxseal-bench --loop-verify native ed` went from 30,300 to 33,600
//! messages/s on 2 KB messages).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::digest::{Digest, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use aws_lc_rs::signature::{
    ED25519, ParsedPublicKey, RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
    RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
};
use waxseal_core::keys::ED25519_SMALL_ORDER;
use waxseal_core::{Error, KeyRecord, KeyType, PublicKey, SigningAlgorithm};
use waxseal_core::{RustCrypto, VerifyDigest};

/// Decoded keys kept at most; past that the cache starts over (a hostile
/// sender can make it decode again, never hold more).
const CACHED_KEYS: usize = 1024;

/// The largest `p=` data kept: an 8192-bit RSA SubjectPublicKeyInfo (the
/// largest key decoded) is about 1,060 bytes.
const MAX_KEY_DATA: usize = 1200;

/// A key as the core decoded it, and AWS-LC's form of it.
struct Entry {
    key: Result<PublicKey, Error>,
    /// `None` where the core checks the signature itself (RSA under 1024
    /// bits, and small-order Ed25519 keys, under which it refuses all).
    native: Option<Arc<ParsedPublicKey>>,
}

/// Decoded keys by `p=` data, one map per key type (looked up by a
/// borrowed slice: no copy of the key per lookup).
type KeyMap = [HashMap<Box<[u8]>, Arc<Entry>>; 2];

/// Parsed key records by their text.
type RecordMap = HashMap<Box<[u8]>, Result<Arc<KeyRecord>, Error>>;

/// The native verification backend: AWS-LC, decoded keys and parsed
/// records cached. One per process ([`native_verify`]); it is `Sync`.
pub struct NativeVerify {
    keys: Mutex<KeyMap>,
    records: Mutex<RecordMap>,
}

thread_local! {
    /// The entry this thread used last.
    static LAST: std::cell::RefCell<Option<Arc<Entry>>> = const { std::cell::RefCell::new(None) };
}

/// The process's native verifier.
pub fn native_verify() -> &'static NativeVerify {
    static V: OnceLock<NativeVerify> = OnceLock::new();
    V.get_or_init(NativeVerify::new)
}

impl NativeVerify {
    fn new() -> Self {
        NativeVerify {
            keys: Mutex::new([HashMap::new(), HashMap::new()]),
            records: Mutex::new(HashMap::new()),
        }
    }

    fn entry(&self, key_type: KeyType, data: &[u8]) -> Arc<Entry> {
        // the core asks twice per signature (decoding, then checking): the
        // thread's last entry answers the second time without the lock
        let last = LAST.with(|l| {
            l.borrow()
                .as_ref()
                .filter(|e| {
                    e.key
                        .as_ref()
                        .is_ok_and(|k| k.key_type() == key_type && k.record_data() == data)
                })
                .cloned()
        });
        if let Some(e) = last {
            return e;
        }
        let e = self.lookup(key_type, data);
        LAST.with(|l| *l.borrow_mut() = Some(e.clone()));
        e
    }

    fn lookup(&self, key_type: KeyType, data: &[u8]) -> Arc<Entry> {
        let t = usize::from(key_type == KeyType::Ed25519);
        if let Some(e) = self.lock()[t].get(data) {
            return e.clone();
        }
        // decoded outside the lock: another thread may decode the same key
        // at the same time, and both results are equal
        let key = PublicKey::from_record_data(key_type, data);
        let native = match &key {
            Ok(k) => native_key(k),
            Err(_) => None,
        };
        let e = Arc::new(Entry { key, native });
        // only keys that decode are kept, and only key-sized ones (what
        // the sandbox hands over is not trusted): a cache of failures, or
        // of megabytes of p= data, would be host memory a hostile message
        // could fill
        if e.key.is_err() || data.len() > MAX_KEY_DATA {
            return e;
        }
        let mut keys = self.lock();
        if keys[t].len() >= CACHED_KEYS {
            keys[t].clear();
        }
        keys[t].insert(data.into(), e.clone());
        e
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyMap> {
        // a panic elsewhere while holding it leaves a valid map
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn native_key(k: &PublicKey) -> Option<Arc<ParsedPublicKey>> {
    let alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match k.key_type() {
        KeyType::Rsa if k.bits() >= 1024 => &RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        KeyType::Ed25519 if !k.is_small_order() => &ED25519,
        _ => return None,
    };
    ParsedPublicKey::new(alg, k.record_data())
        .ok()
        .map(Arc::new)
}

impl VerifyDigest for NativeVerify {
    fn decode_key(&self, key_type: KeyType, data: &[u8]) -> Result<PublicKey, Error> {
        self.entry(key_type, data).key.clone()
    }

    fn parse_record(&self, txt: &[u8]) -> Result<Arc<KeyRecord>, Error> {
        let lock = || self.records.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = lock().get(txt) {
            return r.clone();
        }
        let r = KeyRecord::parse(txt).map(Arc::new);
        let mut records = lock();
        if records.len() >= CACHED_KEYS {
            records.clear();
        }
        records.insert(txt.into(), r.clone());
        r
    }

    fn verify_digest(
        &self,
        alg: SigningAlgorithm,
        key: &PublicKey,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        key.check_digest_input(alg, digest)?;
        let entry = self.entry(key.key_type(), key.record_data());
        let Some(native) = &entry.native else {
            // RSA under 1024 bits, small-order Ed25519 keys: the core's
            // own check
            return RustCrypto.verify_digest(alg, key, digest, signature);
        };
        let ok = match alg {
            SigningAlgorithm::RsaSha256 => Digest::import_less_safe(digest, &SHA256)
                .is_ok_and(|d| native.verify_digest_sig(&d, signature).is_ok()),
            // rare (and refused by default after the check): AWS-LC keys
            // are parsed for one hash, so this one is parsed per call
            SigningAlgorithm::RsaSha1 => {
                Digest::import_less_safe(digest, &SHA1_FOR_LEGACY_USE_ONLY).is_ok_and(|d| {
                    aws_lc_rs::signature::UnparsedPublicKey::new(
                        &RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                        key.record_data(),
                    )
                    .verify_digest(&d, signature)
                    .is_ok()
                })
            }
            // RFC 8463 3: Ed25519 over the SHA-256 digest of the header
            // data; a small-order R refused as strict verification does
            SigningAlgorithm::Ed25519Sha256 => {
                signature.len() == 64
                    && !ED25519_SMALL_ORDER.iter().any(|e| signature[..32] == e[..])
                    && native.verify_sig(digest, signature).is_ok()
            }
        };
        if ok { Ok(()) } else { Err(Error::BadSignature) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::ED25519;
    use waxseal_core::keys::ED25519_SMALL_ORDER;
    use waxseal_core::{HashAlgorithm, PrivateKey, SignDigest as _};

    fn vector_key(name: &str) -> PrivateKey {
        let pem = std::fs::read(format!(
            "{}/../signer-core/tests/vectors/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        PrivateKey::parse(&pem).unwrap()
    }

    /// The core's answer and the native one, for the same input, each
    /// decoding the key itself.
    fn both(
        alg: SigningAlgorithm,
        key_type: KeyType,
        data: &[u8],
        digest: &[u8],
        sig: &[u8],
    ) -> (Result<(), Error>, Result<(), Error>) {
        let core = RustCrypto
            .decode_key(key_type, data)
            .and_then(|k| RustCrypto.verify_digest(alg, &k, digest, sig));
        let v = native_verify();
        let native = v
            .decode_key(key_type, data)
            .and_then(|k| v.verify_digest(alg, &k, digest, sig));
        (core, native)
    }

    fn same(label: &str, alg: SigningAlgorithm, kt: KeyType, data: &[u8], d: &[u8], sig: &[u8]) {
        let (core, native) = both(alg, kt, data, d, sig);
        assert_eq!(core, native, "{label}");
    }

    /// A deterministic byte stream for mutations (no RNG in tests).
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// What cannot be a key is decoded every time, never kept: the data
    /// comes from the sandbox, or from any DNS record.
    #[test]
    fn only_keys_are_kept() {
        let v = NativeVerify::new();
        let ed = vector_key("ed25519.pem").public_key().to_record_data();
        assert!(v.decode_key(KeyType::Ed25519, &ed).is_ok());
        assert!(v.decode_key(KeyType::Rsa, b"not a key").is_err());
        assert!(v.decode_key(KeyType::Rsa, &vec![0x30; 1 << 20]).is_err());
        assert!(v.decode_key(KeyType::Ed25519, &[0u8; 31]).is_err());
        let kept = v.lock();
        assert_eq!((kept[0].len(), kept[1].len()), (0, 1));
    }

    #[test]
    fn native_verification_gives_the_cores_verdicts() {
        let digest = HashAlgorithm::Sha256
            .digest(b"header data")
            .as_bytes()
            .to_vec();
        for name in ["rsa1024.pem", "rsa2048.pem", "rsa4096.pem", "ed25519.pem"] {
            let k = vector_key(name);
            let alg = k.algorithm();
            let kt = k.key_type();
            let data = k.public_key().to_record_data();
            let sig = k.sign_digest(&digest).unwrap();
            let (core, native) = both(alg, kt, &data, &digest, &sig);
            assert_eq!((core, native), (Ok(()), Ok(())), "{name} valid");
            // the key as published in another form (PKCS#1 for RSA) too
            same(
                &format!("{name} sha1"),
                SigningAlgorithm::RsaSha1,
                kt,
                &data,
                &digest[..20],
                &sig,
            );
            same(
                &format!("{name} wrong length"),
                alg,
                kt,
                &data,
                &digest[..20],
                &sig,
            );
            let mut d2 = digest.clone();
            d2[7] ^= 1;
            same(&format!("{name} other digest"), alg, kt, &data, &d2, &sig);
            for i in (0..sig.len()).step_by(7) {
                let mut s = sig.clone();
                s[i] ^= 0x40;
                same(&format!("{name} sig byte {i}"), alg, kt, &data, &digest, &s);
            }
            let mut longer = vec![0u8];
            longer.extend_from_slice(&sig);
            same(
                &format!("{name} leading zero"),
                alg,
                kt,
                &data,
                &digest,
                &longer,
            );
            same(&format!("{name} short"), alg, kt, &data, &digest, &sig[1..]);
            same(&format!("{name} empty"), alg, kt, &data, &digest, &[]);
            same(
                &format!("{name} zeros"),
                alg,
                kt,
                &data,
                &digest,
                &vec![0; sig.len()],
            );
            same(
                &format!("{name} ones"),
                alg,
                kt,
                &data,
                &digest,
                &vec![0xff; sig.len()],
            );
            for seed in 0..50 {
                let s = bytes(seed, sig.len());
                same(
                    &format!("{name} random {seed}"),
                    alg,
                    kt,
                    &data,
                    &digest,
                    &s,
                );
            }
        }
        // an RSA key AWS-LC refuses (512 bits): the core decides
        let rsa512 = waxseal_core::base64::decode(
            b"MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMYxOF3fyHyP4I7gJQKdiK2/IWllQRWWR7DigWdSu1f+Rd/agXyeDgh3oG0sW7lUlL63s+cd8ObNQZmfRYGDhKMCAwEAAQ==",
        )
        .unwrap();
        for seed in 0..5 {
            same(
                "rsa512",
                SigningAlgorithm::RsaSha256,
                KeyType::Rsa,
                &rsa512,
                &digest,
                &bytes(seed, 64),
            );
        }
        // a key of the other type
        let ed = vector_key("ed25519.pem").public_key().to_record_data();
        same(
            "type mismatch",
            SigningAlgorithm::RsaSha256,
            KeyType::Ed25519,
            &ed,
            &digest,
            &[0; 64],
        );
    }

    #[test]
    fn the_core_knows_the_eight_small_order_encodings() {
        let mut ours = ED25519_SMALL_ORDER.to_vec();
        let mut dalek: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|p| p.compress().to_bytes())
            .collect();
        ours.sort();
        dalek.sort();
        assert_eq!(ours, dalek);
    }

    #[test]
    fn small_order_ed25519_points_are_refused_as_the_core_refuses_them() {
        let digest = HashAlgorithm::Sha256
            .digest(b"header data")
            .as_bytes()
            .to_vec();
        let alg = SigningAlgorithm::Ed25519Sha256;
        let k = vector_key("ed25519.pem");
        let key = k.public_key().to_record_data();
        let good = k.sign_digest(&digest).unwrap();
        let small = &ED25519_SMALL_ORDER;
        assert_eq!(small.len(), 8);
        for (i, r) in small.iter().enumerate() {
            // as R, with the real key and the real or a zero S
            for s in [&good[32..], &[0u8; 32][..]] {
                let sig = [&r[..], s].concat();
                same(
                    &format!("R small {i}"),
                    alg,
                    KeyType::Ed25519,
                    &key,
                    &digest,
                    &sig,
                );
            }
            // as the key: R = identity, S = 0 satisfies the equation for
            // the identity key; strict verification refuses every one
            let identity = [&small[0][..], &[0u8; 32][..]].concat();
            let (core, native) = both(alg, KeyType::Ed25519, r, &digest, &identity);
            assert_eq!(core, native, "key small {i}");
            for r2 in small {
                let sig = [&r2[..], &[0u8; 32][..]].concat();
                same(
                    &format!("key small {i}, R small"),
                    alg,
                    KeyType::Ed25519,
                    r,
                    &digest,
                    &sig,
                );
            }
        }
        // non-canonical S (S + L): malleability refused by both
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut s = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(good[32 + i]) + u16::from(L[i]) + carry;
            s[i] = v as u8;
            carry = v >> 8;
        }
        let sig = [&good[..32], &s[..]].concat();
        same("S + L", alg, KeyType::Ed25519, &key, &digest, &sig);
        // keys that are no curve point, or non-canonical encodings
        for seed in 0..40 {
            let mut p = bytes(seed, 32);
            if seed % 2 == 0 {
                p[31] |= 0x7f;
                p[..31].iter_mut().for_each(|b| *b = 0xff);
                p[0] = 0xed + (seed as u8 % 19);
            }
            same(
                &format!("key {seed}"),
                alg,
                KeyType::Ed25519,
                &p,
                &digest,
                &good,
            );
        }
    }

    /// Signatures AWS-LC alone accepts and strict verification refuses,
    /// built as an attacker would: each must be refused here, so each of
    /// the two checks above is needed (and is what this test exercises).
    #[test]
    fn signatures_aws_lc_alone_would_accept_are_refused() {
        use aws_lc_rs::digest::{SHA512, digest as sha};
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
        use curve25519_dalek::edwards::EdwardsPoint;
        use curve25519_dalek::scalar::Scalar;

        let digest = HashAlgorithm::Sha256
            .digest(b"header data")
            .as_bytes()
            .to_vec();
        let alg = SigningAlgorithm::Ed25519Sha256;
        let k = |r: &[u8], a: &[u8]| {
            let h = sha(&SHA512, &[r, a, &digest[..]].concat());
            Scalar::from_bytes_mod_order_wide(h.as_ref().try_into().unwrap())
        };
        let aws_lc_alone = |key: &[u8], sig: &[u8]| {
            aws_lc_rs::signature::UnparsedPublicKey::new(&ED25519, key)
                .verify(&digest, sig)
                .is_ok()
        };
        // 1. a small-order key A (order 8): R = [s]B + T with [k]A = -T
        let a = EIGHT_TORSION[1];
        let a_bytes = a.compress().to_bytes();
        let mut found = None;
        'search: for s in 1u64..200 {
            for t in EIGHT_TORSION {
                let r = B * Scalar::from(s) + t;
                let r_bytes = r.compress().to_bytes();
                if t + a * k(&r_bytes, &a_bytes) == EdwardsPoint::default() {
                    found = Some([&r_bytes[..], Scalar::from(s).as_bytes()].concat());
                    break 'search;
                }
            }
        }
        let sig = found.expect("a forgery for the small-order key");
        assert!(aws_lc_alone(&a_bytes, &sig), "AWS-LC accepts it by itself");
        let (core, native) = both(alg, KeyType::Ed25519, &a_bytes, &digest, &sig);
        assert_eq!(
            (core, native),
            (Err(Error::BadSignature), Err(Error::BadSignature))
        );
        // 2. a real key, R = identity: S = k * a, made with the private key
        let der = vector_key("ed25519.pem").to_pkcs8_der().unwrap();
        let seed = &der[der.len() - 32..];
        let h = sha(&SHA512, seed);
        let mut scalar: [u8; 32] = h.as_ref()[..32].try_into().unwrap();
        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
        let secret = Scalar::from_bytes_mod_order(scalar);
        let public = (B * secret).compress().to_bytes();
        assert_eq!(
            public.to_vec(),
            vector_key("ed25519.pem").public_key().to_record_data()
        );
        let identity = EdwardsPoint::default().compress().to_bytes();
        let s = k(&identity, &public) * secret;
        let sig = [&identity[..], s.as_bytes()].concat();
        assert!(aws_lc_alone(&public, &sig), "AWS-LC accepts it by itself");
        let (core, native) = both(alg, KeyType::Ed25519, &public, &digest, &sig);
        assert_eq!(
            (core, native),
            (Err(Error::BadSignature), Err(Error::BadSignature))
        );
    }

    #[test]
    fn decoded_keys_are_kept_and_bounded() {
        let v = NativeVerify::new();
        let data = vector_key("rsa2048.pem").public_key().to_record_data();
        let a = v.entry(KeyType::Rsa, &data);
        let b = v.entry(KeyType::Rsa, &data);
        assert!(Arc::ptr_eq(&a, &b), "decoded once");
        for i in 0..CACHED_KEYS + 10 {
            let _ = v.decode_key(KeyType::Ed25519, &bytes(i as u64, 32));
        }
        assert!(v.lock()[1].len() <= CACHED_KEYS);
        // records: what KeyRecord::parse gives, the first time and after
        let good = KeyRecord::new(&vector_key("ed25519.pem").public_key()).to_txt();
        for txt in [
            good.as_str(),
            "v=DKIM1; p=",
            "v=DKIM2; p=abc",
            "k=rsa; p=!!",
            "",
        ] {
            for _ in 0..2 {
                let got = v.parse_record(txt.as_bytes()).map(|r| (*r).clone());
                assert_eq!(got, KeyRecord::parse(txt.as_bytes()), "{txt}");
            }
        }
    }
}
