//! Public keys as DNS key records publish them (RFC 6376 3.6.1, RFC 8463
//! 4), decoded, and the pure-Rust check of a signature.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use ed25519_dalek::VerifyingKey;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::pkcs8::der::Decode as _;

use super::*;
use crate::base64;
use crate::error::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PublicInner {
    Rsa(Box<rsa::PublicKey>),
    Ed25519(VerifyingKey),
}

/// A public key, as published in a DNS key record. Cloning is cheap (the
/// decoded key is shared), so that a verifier can keep decoded keys.
#[derive(Clone, Debug)]
pub struct PublicKey {
    inner: Arc<PublicInner>,
    /// The `p=` data this key came from (or its canonical encoding).
    data: Arc<[u8]>,
    /// The size, found once: a big integer's bit width is a constant-time
    /// scan of every limb, which every check asks for (`bits`).
    bits: usize,
}

/// An Ed25519 key's size, as `bits` reports it.
const ED25519_BITS: usize = 256;

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl Eq for PublicKey {}

/// The canonical encodings of the eight Ed25519 points of small order
/// (the eight-torsion subgroup); the host's tests check them against
/// curve25519-dalek's `EIGHT_TORSION`.
pub const ED25519_SMALL_ORDER: [[u8; 32]; 8] = {
    let mut t = [[0u8; 32]; 8];
    // the identity, (0, 1)
    t[0][0] = 0x01;
    // order 2, (0, -1): y = p - 1
    t[1] = [0xff; 32];
    t[1][0] = 0xec;
    t[1][31] = 0x7f;
    // order 4, (+-sqrt(-1), 0): y = 0, either sign
    t[3][31] = 0x80;
    // order 8: two y values, either sign
    t[4] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    t[5] = t[4];
    t[5][31] = 0x85;
    t[6] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    t[7] = t[6];
    t[7][31] = 0xfa;
    t
};

/// Whether an encoded Ed25519 point's y coordinate (the low 255 bits,
/// little-endian) is below p = 2^255 - 19 (RFC 8032 5.1.3, step 1).
fn ed25519_y_is_canonical(b: &[u8; 32]) -> bool {
    // y >= p only when the bits above the lowest byte are all ones and the
    // lowest byte is 0xed (p's) or more
    !(b[31] & 0x7f == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed)
}

/// An Ed25519 SubjectPublicKeyInfo before its 32 key bytes (RFC 8410 4):
/// SEQUENCE, AlgorithmIdentifier id-Ed25519 (1.3.101.112), BIT STRING.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The contents of the DER SEQUENCE `der` starts with (empty when it does
/// not start with one, or its length is not in short or 1-2 byte long
/// form).
fn der_sequence_body(der: &[u8]) -> &[u8] {
    let header = match der {
        [0x30, n, ..] if *n < 0x80 => 2,
        [0x30, 0x81, ..] => 3,
        [0x30, 0x82, ..] => 4,
        _ => return &[],
    };
    der.get(header..).unwrap_or_default()
}

impl PublicKey {
    pub(super) fn from_inner(inner: PublicInner) -> Self {
        let (data, bits) = match &inner {
            PublicInner::Rsa(k) => (
                k.to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default(),
                rsa_modulus_bits(k),
            ),
            PublicInner::Ed25519(k) => (k.to_bytes().to_vec(), ED25519_BITS),
        };
        PublicKey {
            inner: Arc::new(inner),
            data: data.into(),
            bits,
        }
    }

    /// A public key from a DER SubjectPublicKeyInfo (RFC 5280 4.1.2.7):
    /// RSA, or Ed25519 as RFC 8410 4 encodes it (a fixed 12-byte prefix,
    /// then the 32-byte key).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        match der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
            Some(key) if key.len() == 32 => Self::from_record_data(KeyType::Ed25519, key),
            _ => Self::from_record_data(KeyType::Rsa, der),
        }
    }

    /// A public key from what a user may hold: a `BEGIN PUBLIC KEY` PEM
    /// (SubjectPublicKeyInfo, what `openssl pkey -pubout` prints) or
    /// `BEGIN RSA PUBLIC KEY` (PKCS#1), a private key in any form
    /// [`PrivateKey::parse`] takes, or the base64 `p=` data of a record
    /// with its key type (RSA when `None`, as `k=` defaults, RFC 6376
    /// 3.6.1).
    pub fn parse(text: &str, key_type: Option<KeyType>) -> Result<Self, Error> {
        let t = text.trim();
        if t.contains("PUBLIC KEY-----") {
            let b64: String = t
                .lines()
                .filter(|l| !l.starts_with("-----") && !l.contains(':'))
                .flat_map(|l| l.trim().chars())
                .collect();
            return Self::from_spki_der(&base64::decode(b64.as_bytes())?);
        }
        if t.contains("-----BEGIN") {
            return Ok(PrivateKey::parse(t.as_bytes())?.public_key());
        }
        Self::from_record_data(
            key_type.unwrap_or(KeyType::Rsa),
            &base64::decode(t.as_bytes())?,
        )
    }

    /// The public key in the bytes of a key file, whatever it holds: PEM
    /// or `p=` text as [`parse`](Self::parse) takes it, or DER (a private
    /// key, PKCS#8 or PKCS#1, or a SubjectPublicKeyInfo). What every face
    /// accepts where only the public half is needed (a DNS record).
    pub fn from_key_file(data: &[u8], key_type: Option<KeyType>) -> Result<Self, Error> {
        let text = core::str::from_utf8(data).ok();
        if let Some(t) = text.filter(|t| t.contains("-----BEGIN")) {
            return Self::parse(t, key_type);
        }
        PrivateKey::parse(data)
            .map(|k| k.public_key())
            .or_else(|e| Self::from_spki_der(data).map_err(|_| e))
            .or_else(|e| match text {
                Some(t) => Self::parse(t, key_type).map_err(|_| e),
                None => Err(e),
            })
    }

    /// Decodes the `p=` data of a key record (already base64-decoded).
    ///
    /// For `k=rsa` this is a DER SubjectPublicKeyInfo (what `openssl rsa
    /// -pubout` writes and every signer publishes); a bare PKCS#1
    /// RSAPublicKey is accepted too. RSA keys from 512 to 8192 bits
    /// decode, so that policy can judge the size. For `k=ed25519` it is
    /// the raw 32-byte public key (RFC 8463 4).
    pub fn from_record_data(key_type: KeyType, data: &[u8]) -> Result<Self, Error> {
        match key_type {
            KeyType::Rsa => {
                let spki = rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(data).ok();
                let pkcs1 = match &spki {
                    Some(s) => {
                        if s.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
                            return Err(Error::InvalidPublicKey);
                        }
                        s.subject_public_key
                            .as_bytes()
                            .ok_or(Error::InvalidPublicKey)?
                    }
                    None => data,
                };
                let k = rsa::pkcs1::RsaPublicKeyRef::from_der(pkcs1)
                    .map_err(|_| Error::InvalidPublicKey)?;
                let n = k.modulus.as_bytes();
                let bits = uint_bits(n);
                if !(RSA_MIN_DECODE_BITS..=RSA_MAX_DECODE_BITS).contains(&bits) {
                    return Err(Error::UnsupportedKeySize { bits });
                }
                let n = rsa::BoxedUint::from_be_slice(n, (n.len() * 8) as u32)
                    .map_err(|_| Error::InvalidPublicKey)?;
                let e = k.public_exponent.as_bytes();
                let e = rsa::BoxedUint::from_be_slice(e, (e.len() * 8) as u32)
                    .map_err(|_| Error::InvalidPublicKey)?;
                let key = rsa::PublicKey::new_with_size_limits(
                    n,
                    e,
                    RSA_MIN_DECODE_BITS..=RSA_MAX_DECODE_BITS,
                )
                .map_err(|_| Error::InvalidPublicKey)?;
                Ok(PublicKey {
                    inner: Arc::new(PublicInner::Rsa(Box::new(key))),
                    data: data.into(),
                    bits,
                })
            }
            KeyType::Ed25519 => {
                let bytes = <&[u8; 32]>::try_from(data).map_err(|_| Error::InvalidPublicKey)?;
                // RFC 8032 5.1.3, step 1: a y coordinate of p or more is no
                // encoding (curve25519-dalek would reduce it; AWS-LC, which
                // the host verifies with, may not): refused here, so every
                // backend sees the same keys
                if !ed25519_y_is_canonical(bytes) {
                    return Err(Error::InvalidPublicKey);
                }
                let key = VerifyingKey::from_bytes(bytes).map_err(|_| Error::InvalidPublicKey)?;
                Ok(PublicKey {
                    inner: Arc::new(PublicInner::Ed25519(key)),
                    data: data.into(),
                    bits: ED25519_BITS,
                })
            }
        }
    }

    /// The `p=` data to publish: DER SubjectPublicKeyInfo for RSA, the raw
    /// 32 bytes for Ed25519.
    pub fn to_record_data(&self) -> Vec<u8> {
        Self::from_inner((*self.inner).clone()).data.to_vec()
    }

    /// The `p=` data this key was decoded from (as published, which for
    /// RSA may also be a bare PKCS#1 key), or the encoding of
    /// [`to_record_data`](Self::to_record_data) for keys made here.
    pub fn record_data(&self) -> &[u8] {
        &self.data
    }

    /// The key as a DER SubjectPublicKeyInfo (RFC 5280 4.1.2.7; RFC 8410
    /// for Ed25519), what WebCrypto's `importKey("spki", ...)` takes: the
    /// published data when it is one, else encoded here.
    pub fn to_spki_der(&self) -> Vec<u8> {
        match &*self.inner {
            // a SubjectPublicKeyInfo is a SEQUENCE that starts with a
            // SEQUENCE (the algorithm); a bare PKCS#1 key starts with an
            // INTEGER (the modulus)
            PublicInner::Rsa(_) if der_sequence_body(&self.data).first() == Some(&0x30) => {
                self.data.to_vec()
            }
            PublicInner::Rsa(k) => k
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .unwrap_or_default(),
            PublicInner::Ed25519(k) => {
                let mut der = ED25519_SPKI_PREFIX.to_vec();
                der.extend_from_slice(k.as_bytes());
                der
            }
        }
    }

    /// RSA or Ed25519.
    pub fn key_type(&self) -> KeyType {
        match &*self.inner {
            PublicInner::Rsa(_) => KeyType::Rsa,
            PublicInner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// Whether this is an Ed25519 key of small order (a point in the
    /// eight-torsion subgroup), which strict verification refuses whatever
    /// the signature: any signature "verifies" under such a key.
    pub fn is_small_order(&self) -> bool {
        match &*self.inner {
            PublicInner::Rsa(_) => false,
            PublicInner::Ed25519(k) => k.is_weak(),
        }
    }

    /// Key size in bits: the RSA modulus size, or 256 for Ed25519.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// What every verification backend checks before the public-key
    /// operation: a digest of the algorithm's hash length, and a key of
    /// the algorithm's type.
    pub fn check_digest_input(&self, alg: SigningAlgorithm, digest: &[u8]) -> Result<(), Error> {
        if digest.len() != alg.hash().output_len() {
            return Err(Error::InvalidDigestLength);
        }
        if alg.key_type() != self.key_type() {
            return Err(Error::KeyTypeMismatch);
        }
        Ok(())
    }

    /// Verifies `signature` over `digest` (the hash of the header data)
    /// for `alg`. Ed25519 uses strict verification (no small-order keys,
    /// canonical signatures only).
    pub fn verify_digest(
        &self,
        alg: SigningAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        self.check_digest_input(alg, digest)?;
        match (&*self.inner, alg) {
            (PublicInner::Rsa(k), SigningAlgorithm::RsaSha256) => k
                .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), digest, signature)
                .map_err(|_| Error::BadSignature),
            (PublicInner::Rsa(k), SigningAlgorithm::RsaSha1) => k
                .verify(Pkcs1v15Sign::new::<sha1::Sha1>(), digest, signature)
                .map_err(|_| Error::BadSignature),
            (PublicInner::Ed25519(k), SigningAlgorithm::Ed25519Sha256) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| Error::BadSignature)?;
                // Strict verification, as `verify_strict` has it, without
                // decompressing R: a small-order key or R is refused, then
                // RFC 8032 5.1.7's check compares the canonical encoding
                // of the computed R with the bytes given, so an R that is
                // not canonical (small order or not) never matches.
                if k.is_weak() || ED25519_SMALL_ORDER.iter().any(|e| signature[..32] == e[..]) {
                    return Err(Error::BadSignature);
                }
                ed25519_dalek::Verifier::verify(k, digest, &sig).map_err(|_| Error::BadSignature)
            }
            _ => Err(Error::KeyTypeMismatch),
        }
    }
}
