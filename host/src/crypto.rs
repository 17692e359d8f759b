//! Private keys in native crypto (aws-lc-rs: AWS-LC, BoringSSL's lineage
//! with hand-written assembly), outside the WebAssembly sandbox.
//!
//! Keys are read and checked by `waxseal-core` (PKCS#1 or PKCS#8, PEM or
//! DER; RSA 1024 to 4096 bits) and then handed to
//! aws-lc-rs as PKCS#8. It signs RSA keys of 2048 bits and more; 1024-bit
//! keys, which it refuses, are signed by the core's constant-time
//! pure-Rust RSA instead (still in the host, never in the sandbox).

use anyhow::{Result, anyhow, bail};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use waxseal_core::{PendingSignature, PrivateKey, SignDigest, SigningAlgorithm};

enum Inner {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
    /// Keys aws-lc-rs does not take (RSA under 2048 bits).
    Core(PrivateKey),
}

/// A private key ready to sign.
pub struct NativeKey {
    inner: Inner,
    algorithm: SigningAlgorithm,
    public: waxseal_core::PublicKey,
    bits: usize,
}

impl std::fmt::Debug for NativeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NativeKey({} {} bits)", self.algorithm, self.bits)
    }
}

impl NativeKey {
    /// A key from the bytes of a key file.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let key = PrivateKey::parse(data)?;
        Self::from_core(key)
    }

    /// A key the core has parsed.
    pub fn from_core(key: PrivateKey) -> Result<Self> {
        let algorithm = key.algorithm();
        let public = key.public_key();
        let bits = key.bits();
        let der = key.to_pkcs8_der()?;
        let inner = match algorithm {
            SigningAlgorithm::RsaSha256 if bits >= 2048 => Inner::Rsa(
                RsaKeyPair::from_pkcs8(&der)
                    .map_err(|e| anyhow!("aws-lc rejected the RSA key: {e}"))?,
            ),
            SigningAlgorithm::RsaSha256 => Inner::Core(key),
            SigningAlgorithm::Ed25519Sha256 => Inner::Ed25519(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                    .map_err(|e| anyhow!("aws-lc rejected the Ed25519 key: {e}"))?,
            ),
            SigningAlgorithm::RsaSha1 => bail!("rsa-sha1 is not used for signing"),
        };
        Ok(NativeKey {
            inner,
            algorithm,
            public,
            bits,
        })
    }

    /// rsa-sha256 or ed25519-sha256.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The public key.
    pub fn public_key(&self) -> &waxseal_core::PublicKey {
        &self.public
    }

    /// Key size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Signs what [`PendingSignature::data_to_sign`] gives: the header data
    /// for RSA (aws-lc-rs hashes it with SHA-256), the digest for Ed25519 (RFC
    /// 8463: Ed25519 over the SHA-256 digest).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        match &self.inner {
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), data, &mut sig)
                    .map_err(|_| anyhow!("RSA signing failed"))?;
                Ok(sig)
            }
            Inner::Ed25519(k) => Ok(k.sign(data).as_ref().to_vec()),
            Inner::Core(k) => {
                let digest = waxseal_core::HashAlgorithm::Sha256.digest(data);
                Ok(k.sign_digest(digest.as_bytes())?)
            }
        }
    }

    /// Signs the canonicalized header data (RFC 6376 3.7,
    /// [`PendingSignature::header_input`]) with the DKIM algorithm: RSA
    /// with SHA-256, or Ed25519 over its SHA-256 digest (RFC 8463 3). What
    /// the component's `crypto.sign` asks for.
    pub fn sign_header_data(&self, data: &[u8]) -> Result<Vec<u8>> {
        match self.algorithm {
            SigningAlgorithm::Ed25519Sha256 => {
                self.sign(waxseal_core::HashAlgorithm::Sha256.digest(data).as_bytes())
            }
            _ => self.sign(data),
        }
    }

    /// Completes a pending signature.
    pub fn complete(&self, pending: PendingSignature) -> Result<waxseal_core::SignatureHeader> {
        let b = self.sign(pending.data_to_sign())?;
        Ok(pending.complete(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../signer-core/tests/vectors/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn native_signatures_equal_the_core_ones() {
        // RSA PKCS#1 v1.5 and Ed25519 are deterministic: aws-lc-rs and the core
        // must give the same bytes.
        let msg = b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n";
        for key in [
            "keys/rsa2048.pem",
            "keys/rsa1024.pem",
            "keys/rsa4096.pem",
            "keys/ed25519.pem",
            "rfc8463/brisbane.ed25519.pem",
        ] {
            let core = PrivateKey::parse(&vectors(key)).unwrap();
            let native = NativeKey::from_core(core.clone()).unwrap();
            let opts = waxseal_core::SignOptions::new(
                "example.com".parse().unwrap(),
                "s".parse().unwrap(),
            );
            let want = waxseal_core::sign(msg, &[(&opts, &core)]).unwrap();
            let mut s = waxseal_core::Signer::new();
            s.add_external(opts, native.algorithm()).unwrap();
            s.update(msg).unwrap();
            let got: Vec<_> = s
                .finish_pending()
                .unwrap()
                .into_iter()
                .map(|p| native.complete(p).unwrap())
                .collect();
            assert_eq!(got, want, "{key}");
        }
    }
}
