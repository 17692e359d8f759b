//! Keys: RSA (PKCS#1 v1.5 with SHA-256, RFC 6376 3.3) and Ed25519
//! (RFC 8463), loading, generation, export, and the signing algorithms.
//!
//! Private keys load from PKCS#1 (`BEGIN RSA PRIVATE KEY`) and PKCS#8
//! (`BEGIN PRIVATE KEY`) PEM or DER, and Ed25519 keys also from the raw
//! 32-byte seed (binary, or base64 text as printed in RFC 8463 A.1) when
//! asked for explicitly. They export as PKCS#8 PEM. Encrypted PKCS#8 is
//! not supported.
//!
//! # Security
//!
//! RSA uses the `rsa` crate 0.10, whose arithmetic is constant-time
//! (`crypto-bigint`); the 0.9 series was subject to the Marvin timing attack
//! (RUSTSEC-2023-0071). The core has no random number generator of its own,
//! so RSA signing here is not blinded; with constant-time arithmetic that
//! is not a timing channel. Hosts that want blinding or more speed plug in
//! their own [`SignDigest`] (see DESIGN.md, "Crypto where it is fastest").

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::{Signer as _, SigningKey as Ed25519SigningKey, VerifyingKey};
use rand_core::TryCryptoRng;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pkcs8::der::Decode as _;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use zeroize::Zeroizing;

use crate::base64;
use crate::error::Error;
use crate::hash::HashAlgorithm;

/// Smallest RSA key waxseal signs with (RFC 8301 3.2: signers MUST use at
/// least 1024 bits).
pub const RSA_MIN_SIGNING_BITS: usize = 1024;
/// Largest RSA key waxseal signs with or generates. Verifiers are only
/// required to handle up to 4096 bits (RFC 8301 3.2).
pub const RSA_MAX_SIGNING_BITS: usize = 4096;
/// Default size of generated RSA keys (RFC 8301 3.2: SHOULD use 2048).
pub const RSA_DEFAULT_BITS: usize = 2048;
/// Smallest RSA public key that can be decoded at all, so that a verifier
/// can report "key too small" instead of "bad key".
pub const RSA_MIN_DECODE_BITS: usize = 512;
/// Largest RSA public key that can be decoded (bounds verification cost).
pub const RSA_MAX_DECODE_BITS: usize = 8192;

/// The key type of a key record (`k=`, RFC 6376 3.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `k=rsa`, the default.
    Rsa,
    /// `k=ed25519` (RFC 8463).
    Ed25519,
}

impl KeyType {
    /// The `k=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// Parses a `k=` value (case-sensitive, as tag values are).
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        match value {
            b"rsa" => Ok(KeyType::Rsa),
            b"ed25519" => Ok(KeyType::Ed25519),
            _ => Err(Error::UnsupportedKeyType),
        }
    }
}

/// A signing algorithm (`a=`, RFC 6376 3.3 and RFC 8463 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// `rsa-sha256`.
    RsaSha256,
    /// `ed25519-sha256`: Ed25519 over the SHA-256 hash of the header data.
    Ed25519Sha256,
    /// `rsa-sha1`: verification only; RFC 8301 forbids signing with it.
    RsaSha1,
}

impl SigningAlgorithm {
    /// The `a=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa-sha256",
            Self::Ed25519Sha256 => "ed25519-sha256",
            Self::RsaSha1 => "rsa-sha1",
        }
    }

    /// Parses an `a=` value. Names are matched case-sensitively, as tag
    /// values are in RFC 6376.
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        match value {
            b"rsa-sha256" => Ok(Self::RsaSha256),
            b"ed25519-sha256" => Ok(Self::Ed25519Sha256),
            b"rsa-sha1" => Ok(Self::RsaSha1),
            _ => Err(Error::UnsupportedAlgorithm),
        }
    }

    /// The key type the algorithm needs.
    pub fn key_type(self) -> KeyType {
        match self {
            Self::RsaSha256 | Self::RsaSha1 => KeyType::Rsa,
            Self::Ed25519Sha256 => KeyType::Ed25519,
        }
    }

    /// The hash algorithm used for the body and the header data.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::RsaSha256 | Self::Ed25519Sha256 => HashAlgorithm::Sha256,
            Self::RsaSha1 => HashAlgorithm::Sha1,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The private-key operation, as a capability. The signer computes the
/// hash of the canonicalized header data and asks this trait to sign it,
/// so the key itself can live anywhere: in this process ([`PrivateKey`]),
/// in native crypto of a host, outside a WebAssembly sandbox. `Send` and
/// `Sync`, so a signer can move to another thread between chunks (a
/// server's task) and share its keys.
pub trait SignDigest: Send + Sync {
    /// The algorithm the key signs with: `rsa-sha256` or `ed25519-sha256`.
    fn algorithm(&self) -> SigningAlgorithm;

    /// Signs the SHA-256 digest of the header data: RSASSA-PKCS1-v1_5 of
    /// the digest (RFC 6376 3.3.1), or Ed25519 (PureEdDSA) with the 32
    /// digest bytes as the message (RFC 8463 3).
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, Error>;
}

impl<T: SignDigest + ?Sized> SignDigest for &T {
    fn algorithm(&self) -> SigningAlgorithm {
        (**self).algorithm()
    }
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).sign_digest(digest)
    }
}

impl<T: SignDigest + ?Sized> SignDigest for Box<T> {
    fn algorithm(&self) -> SigningAlgorithm {
        (**self).algorithm()
    }
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).sign_digest(digest)
    }
}

#[derive(Clone)]
enum PrivateInner {
    Rsa(Box<rsa::PrivateKey>),
    Ed25519(Box<Ed25519SigningKey>),
}

/// A private key held in memory, signing with the pure-Rust backend.
#[derive(Clone)]
pub struct PrivateKey {
    inner: PrivateInner,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({} {} bits)",
            self.key_type().as_str(),
            self.bits()
        )
    }
}

fn rsa_modulus_bits(key: &rsa::PublicKey) -> usize {
    key.n().bit_width() as usize
}

/// An Ed25519 private key as PKCS#8 version 0 DER (RFC 8410 section 7):
/// SEQUENCE { INTEGER 0, AlgorithmIdentifier { id-Ed25519 },
/// OCTET STRING { OCTET STRING seed } }.
fn ed25519_pkcs8_v1(k: &Ed25519SigningKey) -> Zeroizing<Vec<u8>> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let seed = Zeroizing::new(k.to_bytes());
    let mut der = Zeroizing::new(Vec::with_capacity(48));
    der.extend_from_slice(&PREFIX);
    der.extend_from_slice(&*seed);
    der
}

/// Whether a key that did not decode is an encrypted PKCS#8 key or an EC
/// or DSA key (by its PEM label, or the algorithm identifier in its DER).
fn unusable_key_kind(data: &[u8]) -> Option<Error> {
    const ENCRYPTED_LABELS: [&[u8]; 2] = [b"ENCRYPTED PRIVATE KEY", b"Proc-Type: 4,ENCRYPTED"];
    const OTHER_LABELS: [&[u8]; 2] = [b"EC PRIVATE KEY", b"DSA PRIVATE KEY"];
    const PUBLIC_LABELS: [&[u8]; 2] = [b"BEGIN PUBLIC KEY", b"BEGIN RSA PUBLIC KEY"];
    // PBES2 (1.2.840.113549.1.5.13) and id-ecPublicKey (1.2.840.10045.2.1)
    const PBES2: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d,
    ];
    const EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let has = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    // the DER: the data itself, or the base64 between a PEM's lines
    let der = match core::str::from_utf8(data) {
        Ok(text) if text.contains("-----BEGIN") => {
            let b64: String = text
                .lines()
                .filter(|l| !l.starts_with("-----") && !l.contains(':'))
                .flat_map(|l| l.trim().chars())
                .collect();
            base64::decode(b64.as_bytes()).unwrap_or_default()
        }
        _ => data.to_vec(),
    };
    if PUBLIC_LABELS.iter().any(|l| has(data, l)) || PublicKey::from_spki_der(&der).is_ok() {
        return Some(Error::PublicKeyGiven);
    }
    if ENCRYPTED_LABELS.iter().any(|l| has(data, l)) || has(&der, PBES2) {
        return Some(Error::EncryptedPrivateKey);
    }
    if OTHER_LABELS.iter().any(|l| has(data, l)) || has(&der, EC) {
        return Some(Error::UnsupportedPrivateKeyType);
    }
    None
}

impl PrivateKey {
    fn from_rsa(key: rsa::PrivateKey) -> Result<Self, Error> {
        let bits = rsa_modulus_bits(key.as_public_key());
        if !(RSA_MIN_SIGNING_BITS..=RSA_MAX_SIGNING_BITS).contains(&bits) {
            return Err(Error::UnsupportedKeySize { bits });
        }
        Ok(PrivateKey {
            inner: PrivateInner::Rsa(Box::new(key)),
        })
    }

    /// An Ed25519 key from its 32-byte seed (the RFC 8032 private key).
    pub fn from_ed25519_seed(seed: &[u8; 32]) -> Self {
        PrivateKey {
            inner: PrivateInner::Ed25519(Box::new(Ed25519SigningKey::from_bytes(seed))),
        }
    }

    /// Decodes a PEM private key: `BEGIN RSA PRIVATE KEY` (PKCS#1) or
    /// `BEGIN PRIVATE KEY` (PKCS#8, RSA or Ed25519).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let pem = pem.trim();
        if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            let key = rsa::PrivateKey::from_pkcs1_pem(pem).map_err(|_| Error::InvalidPrivateKey)?;
            return Self::from_rsa(key);
        }
        if pem.contains("-----BEGIN PRIVATE KEY-----") {
            if let Ok(key) = rsa::PrivateKey::from_pkcs8_pem(pem) {
                return Self::from_rsa(key);
            }
            if let Ok(key) = Ed25519SigningKey::from_pkcs8_pem(pem) {
                return Ok(PrivateKey {
                    inner: PrivateInner::Ed25519(Box::new(key)),
                });
            }
            return Err(rsa_size_error_pkcs8_pem(pem).unwrap_or(Error::InvalidPrivateKey));
        }
        Err(Error::InvalidPrivateKey)
    }

    /// Decodes a DER private key: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        if let Ok(key) = rsa::PrivateKey::from_pkcs8_der(der) {
            return Self::from_rsa(key);
        }
        if let Ok(key) = Ed25519SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey {
                inner: PrivateInner::Ed25519(Box::new(key)),
            });
        }
        if let Ok(key) = rsa::PrivateKey::from_pkcs1_der(der) {
            return Self::from_rsa(key);
        }
        Err(rsa_size_error_der(der).unwrap_or(Error::InvalidPrivateKey))
    }

    /// Decodes a private key: PEM (PKCS#1 or PKCS#8) or DER. Raw Ed25519
    /// seeds are not guessed at (see [`from_ed25519_seed`](Self::from_ed25519_seed)
    /// and [`from_ed25519_seed_base64`](Self::from_ed25519_seed_base64)).
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        let r = match core::str::from_utf8(data) {
            Ok(text) if text.contains("-----BEGIN") => Self::from_pem(text),
            _ => Self::from_der(data),
        };
        // say why a key that did not decode cannot be used, when it is a
        // kind waxseal recognizes but does not take
        r.map_err(|e| match e {
            Error::InvalidPrivateKey => unusable_key_kind(data).unwrap_or(e),
            e => e,
        })
    }

    /// An Ed25519 key from its seed in base64, the form RFC 8463 A.1
    /// prints. Only on request: 32 bytes in base64 are just as likely a
    /// public key (`p=`), which must never be taken for a private one.
    pub fn from_ed25519_seed_base64(text: &str) -> Result<Self, Error> {
        let seed = base64::decode(text.trim().as_bytes())?;
        let seed = <[u8; 32]>::try_from(seed.as_slice()).map_err(|_| Error::InvalidPrivateKey)?;
        Ok(Self::from_ed25519_seed(&seed))
    }

    /// Generates an RSA key of `bits` bits (1024 to 4096, a multiple of 8;
    /// use [`RSA_DEFAULT_BITS`] unless there is a reason not to). This takes
    /// from a fraction of a second to many seconds for 4096 bits.
    /// Any `rand_core` 0.10 cryptographic RNG works (`CryptoRng` ones too);
    /// an RNG failure is [`Error::KeyGeneration`].
    pub fn generate_rsa<R: TryCryptoRng + ?Sized>(rng: &mut R, bits: usize) -> Result<Self, Error> {
        if !(RSA_MIN_SIGNING_BITS..=RSA_MAX_SIGNING_BITS).contains(&bits) || !bits.is_multiple_of(8)
        {
            return Err(Error::UnsupportedKeySize { bits });
        }
        let key = rsa::PrivateKey::new(rng, bits).map_err(|_| Error::KeyGeneration)?;
        Self::from_rsa(key)
    }

    /// Generates an Ed25519 key; an RNG failure is
    /// [`Error::KeyGeneration`].
    pub fn generate_ed25519<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(&mut *seed)
            .map_err(|_| Error::KeyGeneration)?;
        Ok(Self::from_ed25519_seed(&seed))
    }

    /// The key in PKCS#8 PEM (`BEGIN PRIVATE KEY`), LF line endings.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        match &self.inner {
            PrivateInner::Rsa(k) => k
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|_| Error::InvalidPrivateKey),
            PrivateInner::Ed25519(k) => {
                let b64 = Zeroizing::new(base64::encode(&ed25519_pkcs8_v1(k)));
                let mut pem = Zeroizing::new(String::with_capacity(128));
                pem.push_str("-----BEGIN PRIVATE KEY-----\n");
                for line in b64.as_bytes().chunks(64) {
                    pem.push_str(core::str::from_utf8(line).map_err(|_| Error::InvalidPrivateKey)?);
                    pem.push('\n');
                }
                pem.push_str("-----END PRIVATE KEY-----\n");
                Ok(pem)
            }
        }
    }

    /// The key in PKCS#8 DER. Ed25519 keys are written as RFC 8410 section
    /// 7 shows them (version 0, no public key): OpenSSL 3.0, Python's
    /// `cryptography` and so OpenDKIM and dkimpy refuse the version 1 form
    /// with the public key that `ed25519-dalek` writes.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        match &self.inner {
            PrivateInner::Rsa(k) => k
                .to_pkcs8_der()
                .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
                .map_err(|_| Error::InvalidPrivateKey),
            PrivateInner::Ed25519(k) => Ok(ed25519_pkcs8_v1(k)),
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.inner {
            PrivateInner::Rsa(k) => {
                PublicKey::from_inner(PublicInner::Rsa(Box::new(k.to_public_key())))
            }
            PrivateInner::Ed25519(k) => {
                PublicKey::from_inner(PublicInner::Ed25519(k.verifying_key()))
            }
        }
    }

    /// RSA or Ed25519.
    pub fn key_type(&self) -> KeyType {
        match &self.inner {
            PrivateInner::Rsa(_) => KeyType::Rsa,
            PrivateInner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// Key size in bits: the RSA modulus size, or 256 for Ed25519.
    pub fn bits(&self) -> usize {
        match &self.inner {
            PrivateInner::Rsa(k) => rsa_modulus_bits(k.as_public_key()),
            PrivateInner::Ed25519(_) => 256,
        }
    }
}

/// After a failed decode: was it a well-formed RSA key of a size we refuse?
fn rsa_size_error_der(der: &[u8]) -> Option<Error> {
    let info = rsa::pkcs8::PrivateKeyInfoRef::from_der(der).ok();
    let pkcs1 = match &info {
        Some(i) => i.private_key.as_bytes(),
        None => der,
    };
    let key = rsa::pkcs1::RsaPrivateKeyRef::from_der(pkcs1).ok()?;
    let bits = uint_bits(key.modulus.as_bytes());
    (!(RSA_MIN_SIGNING_BITS..=RSA_MAX_SIGNING_BITS).contains(&bits))
        .then_some(Error::UnsupportedKeySize { bits })
}

fn rsa_size_error_pkcs8_pem(pem: &str) -> Option<Error> {
    let (_, doc) = rsa::pkcs8::SecretDocument::from_pem(pem).ok()?;
    rsa_size_error_der(doc.as_bytes())
}

/// Number of significant bits of a big-endian unsigned integer.
fn uint_bits(bytes: &[u8]) -> usize {
    let mut b = bytes;
    while let [0, rest @ ..] = b {
        b = rest;
    }
    match b.first() {
        Some(first) => (b.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

impl SignDigest for PrivateKey {
    fn algorithm(&self) -> SigningAlgorithm {
        match self.inner {
            PrivateInner::Rsa(_) => SigningAlgorithm::RsaSha256,
            PrivateInner::Ed25519(_) => SigningAlgorithm::Ed25519Sha256,
        }
    }

    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, Error> {
        if digest.len() != 32 {
            return Err(Error::InvalidDigestLength);
        }
        match &self.inner {
            PrivateInner::Rsa(k) => k
                .pkcs1v15_sign_prehash::<sha2::Sha256>(digest)
                .map_err(|_| Error::SigningFailed),
            PrivateInner::Ed25519(k) => Ok(k.sign(digest).to_bytes().to_vec()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PublicInner {
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
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl Eq for PublicKey {}

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
    ///
    /// [`KeyRecord::parse`]: crate::record::KeyRecord::parse
    fn parse_record(&self, txt: &[u8]) -> Result<Arc<crate::record::KeyRecord>, Error> {
        crate::record::KeyRecord::parse(txt).map(Arc::new)
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

impl PublicKey {
    fn from_inner(inner: PublicInner) -> Self {
        let data = match &inner {
            PublicInner::Rsa(k) => k
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .unwrap_or_default(),
            PublicInner::Ed25519(k) => k.to_bytes().to_vec(),
        };
        PublicKey {
            inner: Arc::new(inner),
            data: data.into(),
        }
    }

    /// A public key from a DER SubjectPublicKeyInfo (RFC 5280 4.1.2.7):
    /// RSA, or Ed25519 as RFC 8410 4 encodes it (a fixed 12-byte prefix,
    /// then the 32-byte key).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        // SEQUENCE, AlgorithmIdentifier id-Ed25519 (1.3.101.112), BIT STRING
        const ED25519_SPKI: [u8; 12] = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        match der.strip_prefix(&ED25519_SPKI[..]) {
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
                })
            }
            KeyType::Ed25519 => {
                let bytes = <&[u8; 32]>::try_from(data).map_err(|_| Error::InvalidPublicKey)?;
                let key = VerifyingKey::from_bytes(bytes).map_err(|_| Error::InvalidPublicKey)?;
                Ok(PublicKey {
                    inner: Arc::new(PublicInner::Ed25519(key)),
                    data: data.into(),
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
        match &*self.inner {
            PublicInner::Rsa(k) => rsa_modulus_bits(k),
            PublicInner::Ed25519(_) => 256,
        }
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
        if digest.len() != alg.hash().output_len() {
            return Err(Error::InvalidDigestLength);
        }
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
                k.verify_strict(digest, &sig)
                    .map_err(|_| Error::BadSignature)
            }
            _ => Err(Error::KeyTypeMismatch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    // RFC 8463 A.1
    const RFC8463_RSA: &str = include_str!("../tests/vectors/rfc8463/test.rsa.private.pem");
    const RFC8463_ED_SEED_B64: &str = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    // RFC 8463 A.2
    const RFC8463_ED_PUB_B64: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    #[test]
    fn rfc8463_a1_keys_load_and_match_a2_records() {
        let ed = PrivateKey::from_ed25519_seed_base64(RFC8463_ED_SEED_B64).unwrap();
        assert_eq!(ed.key_type(), KeyType::Ed25519);
        assert_eq!(
            base64::encode(&ed.public_key().to_record_data()),
            RFC8463_ED_PUB_B64
        );
        let rsa = PrivateKey::parse(RFC8463_RSA.as_bytes()).unwrap();
        assert_eq!(rsa.bits(), 1024);
        assert!(
            base64::encode(&rsa.public_key().to_record_data())
                .starts_with("MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR")
        );
    }

    #[test]
    fn pkcs8_round_trip_both_types() {
        for key in [
            PrivateKey::parse(RFC8463_RSA.as_bytes()).unwrap(),
            PrivateKey::from_ed25519_seed_base64(RFC8463_ED_SEED_B64).unwrap(),
        ] {
            let pem = key.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let again = PrivateKey::parse(pem.as_bytes()).unwrap();
            assert_eq!(again.public_key(), key.public_key());
            let der = key.to_pkcs8_der().unwrap();
            assert_eq!(
                PrivateKey::parse(&der).unwrap().public_key(),
                key.public_key()
            );
        }
    }

    #[test]
    fn ed25519_exports_the_rfc8410_form() {
        // RFC 8410 section 10.3's example key, as RFC 8410 section 7 writes it
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                   -----END PRIVATE KEY-----\n";
        let key = PrivateKey::parse(pem.as_bytes()).unwrap();
        assert_eq!(key.to_pkcs8_pem().unwrap().as_str(), pem);
        let der = key.to_pkcs8_der().unwrap();
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00]); // version 0
        // and a version 1 key (with the public key) still loads
        let v1 = "-----BEGIN PRIVATE KEY-----\n\
                  MHICAQEwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                  oB8wHQYKKoZIhvcNAQkJFDEPDA1DdXJkbGUgQ2hhaXJzgSEAGb9ECWmEzf6FQbrB\n\
                  Z9w7lshQhqowtrbLDFw4rXAxZuE=\n\
                  -----END PRIVATE KEY-----\n";
        assert_eq!(
            PrivateKey::parse(v1.as_bytes()).unwrap().public_key(),
            key.public_key()
        );
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bad in [
            &b""[..],
            b"hello",
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            &[0x30, 0x82, 0xff, 0xff, 0x02],
        ] {
            assert_eq!(
                PrivateKey::parse(bad).unwrap_err(),
                Error::InvalidPrivateKey,
                "{bad:?}"
            );
        }
        // 32 bytes in base64 (a p= value) is never taken for a seed
        assert_eq!(
            PrivateKey::parse(b"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap_err(),
            Error::InvalidPrivateKey
        );
        assert!(PrivateKey::parse(&[7u8; 32]).is_err());
        // a truncated PEM
        let cut = &RFC8463_RSA[..RFC8463_RSA.len() / 2];
        assert!(PrivateKey::parse(cut.as_bytes()).is_err());
    }

    #[test]
    fn sign_and_verify_digest() {
        let digest = HashAlgorithm::Sha256.digest(b"x");
        for key in [
            PrivateKey::parse(RFC8463_RSA.as_bytes()).unwrap(),
            PrivateKey::from_ed25519_seed_base64(RFC8463_ED_SEED_B64).unwrap(),
        ] {
            let sig = key.sign_digest(digest.as_bytes()).unwrap();
            let public = key.public_key();
            let data = public.to_record_data();
            let public = PublicKey::from_record_data(key.key_type(), &data).unwrap();
            public
                .verify_digest(key.algorithm(), digest.as_bytes(), &sig)
                .unwrap();
            let other = HashAlgorithm::Sha256.digest(b"y");
            assert_eq!(
                public.verify_digest(key.algorithm(), other.as_bytes(), &sig),
                Err(Error::BadSignature)
            );
            assert_eq!(key.sign_digest(b"short"), Err(Error::InvalidDigestLength));
        }
    }

    #[test]
    fn algorithm_names() {
        for a in [
            SigningAlgorithm::RsaSha256,
            SigningAlgorithm::Ed25519Sha256,
            SigningAlgorithm::RsaSha1,
        ] {
            assert_eq!(SigningAlgorithm::parse(a.as_str().as_bytes()), Ok(a));
        }
        assert!(SigningAlgorithm::parse(b"RSA-SHA256").is_err());
        assert_eq!(KeyType::parse(b"ed25519"), Ok(KeyType::Ed25519));
        assert!(KeyType::parse(b"dsa").is_err());
    }

    #[test]
    fn generated_keys_sign_and_export() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let ed = PrivateKey::generate_ed25519(&mut rng).unwrap();
        let rsa = PrivateKey::generate_rsa(&mut rng, 1024).unwrap();
        assert_eq!(rsa.bits(), 1024);
        for k in [ed, rsa] {
            let again = PrivateKey::parse(k.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
            assert_eq!(again.public_key(), k.public_key());
        }
        assert_eq!(
            PrivateKey::generate_rsa(&mut rng, 512).unwrap_err(),
            Error::UnsupportedKeySize { bits: 512 }
        );
        assert_eq!(
            PrivateKey::generate_rsa(&mut rng, 8192).unwrap_err(),
            Error::UnsupportedKeySize { bits: 8192 }
        );
    }

    #[test]
    fn test_key_files_load_and_small_keys_are_refused() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/keys/");
        let load = |f: &str| PrivateKey::parse(&std::fs::read(alloc::format!("{dir}{f}")).unwrap());
        assert_eq!(load("rsa1024.pem").unwrap().bits(), 1024);
        assert_eq!(load("rsa4096.pem").unwrap().bits(), 4096);
        assert_eq!(
            load("rsa2048.pem").unwrap().public_key(),
            load("rsa2048-pkcs1.pem").unwrap().public_key()
        );
        assert_eq!(load("ed25519.pem").unwrap().key_type(), KeyType::Ed25519);
        assert_eq!(
            load("rsa512-too-small.pem").unwrap_err(),
            Error::UnsupportedKeySize { bits: 512 }
        );
    }

    #[test]
    fn uint_bits_counts_significant_bits() {
        assert_eq!(uint_bits(&[0, 0x80, 0]), 16);
        assert_eq!(uint_bits(&[0x01]), 1);
        assert_eq!(uint_bits(&[]), 0);
    }
}
