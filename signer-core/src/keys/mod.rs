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
use alloc::vec::Vec;
use core::fmt;

use rsa::traits::PublicKeyParts as _;

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

mod private;
mod public;

pub use private::PrivateKey;
pub use public::{ED25519_SMALL_ORDER, PublicKey};

pub(crate) fn rsa_modulus_bits(key: &rsa::PublicKey) -> usize {
    key.n().bit_width() as usize
}

/// Number of significant bits of a big-endian unsigned integer.
pub(crate) fn uint_bits(bytes: &[u8]) -> usize {
    let mut b = bytes;
    while let [0, rest @ ..] = b {
        b = rest;
    }
    match b.first() {
        Some(first) => (b.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    // RFC 8463 A.1
    const RFC8463_RSA: &str = include_str!("../../tests/vectors/rfc8463/test.rsa.private.pem");
    const RFC8463_ED_SEED_B64: &str = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    // RFC 8463 A.2
    const RFC8463_ED_PUB_B64: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    /// The Ed25519 check (small-order key and R refused by encoding, then
    /// the equation) gives `verify_strict`'s verdict on valid, altered and
    /// crafted signatures.
    #[test]
    fn ed25519_check_is_verify_strict() {
        let k = PrivateKey::from_ed25519_seed_base64(RFC8463_ED_SEED_B64).unwrap();
        let digest = crate::HashAlgorithm::Sha256.digest(b"header data");
        let digest = digest.as_bytes();
        let good = k.sign_digest(digest).unwrap();
        let own = k.public_key().to_record_data();
        // S + L: the same S, not canonical
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut s_plus_l = good.clone();
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(s_plus_l[32 + i]) + u16::from(L[i]) + carry;
            s_plus_l[32 + i] = v as u8;
            carry = v >> 8;
        }
        let mut flipped = good.clone();
        flipped[5] ^= 1;
        let mut sigs = vec![
            good.clone(),
            s_plus_l,
            flipped,
            [[0xffu8; 32], [0u8; 32]].concat(),
        ];
        for r in ED25519_SMALL_ORDER {
            sigs.push([&r[..], &good[32..]].concat());
            sigs.push([&r[..], &[0u8; 32][..]].concat());
        }
        let mut keys = vec![own];
        keys.extend(ED25519_SMALL_ORDER.iter().map(|k| k.to_vec()));
        let mut passes = 0;
        for key in &keys {
            let Ok(strict_key) =
                ed25519_dalek::VerifyingKey::from_bytes(key[..].try_into().unwrap())
            else {
                continue;
            };
            let ours = PublicKey::from_record_data(KeyType::Ed25519, key).unwrap();
            for (i, sig) in sigs.iter().enumerate() {
                let strict = strict_key
                    .verify_strict(digest, &ed25519_dalek::Signature::from_slice(sig).unwrap())
                    .is_ok();
                let got = ours
                    .verify_digest(SigningAlgorithm::Ed25519Sha256, digest, sig)
                    .is_ok();
                assert_eq!(got, strict, "signature {i}");
                passes += usize::from(got);
            }
        }
        assert_eq!(passes, 1, "only the real signature passes");
    }

    /// An Ed25519 key whose y is p or more (either sign bit) is no key
    /// (RFC 8032 5.1.3, step 1); y = p - 1 and every smaller y are read.
    #[test]
    fn ed25519_keys_with_y_of_p_or_more_are_refused() {
        // p = 2^255 - 19, little-endian
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        for j in 0..19u8 {
            for sign in [0, 0x80] {
                let mut y = p;
                y[0] += j;
                y[31] |= sign;
                assert_eq!(
                    PublicKey::from_record_data(KeyType::Ed25519, &y),
                    Err(Error::InvalidPublicKey),
                    "y = p + {j}, sign {sign}"
                );
            }
        }
        // y = p - 1 (the point of order 2) decodes
        let mut below = p;
        below[0] = 0xec;
        assert!(PublicKey::from_record_data(KeyType::Ed25519, &below).is_ok());
        // below p with a low byte over p's: decoded as curve25519-dalek
        // decodes it (a point or not), never refused as non-canonical
        let mut y = p;
        y[30] = 0xfe;
        y[0] = 0xff;
        let ours = PublicKey::from_record_data(KeyType::Ed25519, &y);
        let dalek = ed25519_dalek::VerifyingKey::from_bytes(&y);
        assert_eq!(ours.is_ok(), dalek.is_ok());
    }

    /// The SubjectPublicKeyInfo handed to WebCrypto: the published one, or
    /// one encoded from a bare PKCS#1 key (RFC 8017 A.1.1) or an Ed25519
    /// key; each decodes to the same key.
    #[test]
    fn spki_der_of_every_published_form() {
        let rsa = PrivateKey::parse(RFC8463_RSA.as_bytes())
            .unwrap()
            .public_key();
        let spki = rsa.to_record_data();
        let published = PublicKey::from_record_data(KeyType::Rsa, &spki).unwrap();
        assert_eq!(published.to_spki_der(), spki);
        // the bare PKCS#1 key: the SubjectPublicKeyInfo's BIT STRING
        use rsa::pkcs8::der::Decode as _;
        let info = rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(&spki).unwrap();
        let pkcs1 = info.subject_public_key.as_bytes().unwrap();
        let bare = PublicKey::from_record_data(KeyType::Rsa, pkcs1).unwrap();
        assert_eq!(bare.record_data(), pkcs1);
        assert_eq!(bare.to_spki_der(), spki);
        let ed = PublicKey::from_record_data(
            KeyType::Ed25519,
            &base64::decode(RFC8463_ED_PUB_B64.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(PublicKey::from_spki_der(&ed.to_spki_der()).unwrap(), ed);
        assert_eq!(ed.to_spki_der().len(), 44);
    }

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
        // the size a public key keeps is its modulus's, however it came
        for (f, bits) in [
            ("rsa1024.pem", 1024),
            ("rsa2048.pem", 2048),
            ("rsa4096.pem", 4096),
            ("ed25519.pem", 256),
        ] {
            let private = load(f).unwrap();
            let public = private.public_key();
            let published =
                PublicKey::from_record_data(public.key_type(), &public.to_record_data()).unwrap();
            let sizes = (private.bits(), public.bits(), published.bits());
            assert_eq!(sizes, (bits, bits, bits), "{f}");
        }
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
