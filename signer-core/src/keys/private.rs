//! Private keys: loading (PKCS#1, PKCS#8, PEM or DER, Ed25519 seeds),
//! generation, PKCS#8 export, and signing a digest.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::{Signer as _, SigningKey as Ed25519SigningKey};
use rand_core::TryCryptoRng;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::LineEnding;
use rsa::pkcs8::der::Decode as _;
use zeroize::Zeroizing;

use super::public::PublicInner;
use super::*;
use crate::base64;
use crate::error::Error;

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
