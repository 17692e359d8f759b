//! # waxseal-core
//!
//! DKIM (RFC 6376) signing with RSA-SHA256 and Ed25519-SHA256 (RFC 8463),
//! as a `no_std` + `alloc`, sans-I/O library: bytes of a message go in, a
//! `DKIM-Signature` header field comes out. The caller supplies time,
//! randomness and keys; the core never reads a clock, a file or the network,
//! so the same code runs natively, in WebAssembly and in a sandbox, and every
//! result can be reproduced in a test.
//!
//! ## Entry points
//!
//! - Signing: [`Signer`] (streaming, several signatures in one pass) or
//!   [`sign()`] (one call), configured with [`SignOptions`]; the signed
//!   message is [`prepend_signatures`].
//! - Keys: [`PrivateKey`] (PKCS#1/PKCS#8 PEM or DER, raw Ed25519 seed;
//!   generation; PKCS#8 export), and the [`SignDigest`] trait to keep the
//!   private key elsewhere (native crypto, a host outside a sandbox).
//! - Crypto elsewhere for speed: [`VerifyDigest`] for the public-key check
//!   of verification ([`Verifier::finish_with`]) and [`ExternalSha256`] for
//!   the body and header hashes ([`Signer::set_sha256`],
//!   [`Verifier::set_sha256`]); the core keeps all parsing and
//!   canonicalization.
//! - DNS: [`KeyRecord`] (RFC 6376 3.6.1: parse, build, zone-file line with
//!   255-byte strings, a `dns_readme.txt`), [`policy`] for the legacy
//!   `_policy._domainkey` record and DMARC.
//! - Building blocks: [`message`] (header/body split), [`canonicalize`]
//!   (simple and relaxed, streaming), [`BodyHasher`], [`tag_list`],
//!   [`signature`] (the `DKIM-Signature` model, parser and folding
//!   writer), [`sign::header_hash`] and [`sign::select_headers`].
//!
//! ## Line endings
//!
//! CRLF and bare LF are both accepted; a bare LF is read as CRLF and a bare
//! CR is kept as data (see [`message`]).
//!
//! ## Features
//!
//! - `fast` (on): precomputed Ed25519 tables (`ed25519-dalek/fast`), about
//!   twice the Ed25519 signing speed for about 35 KB more code; the npm
//!   package turns it off to stay small.
//! - `std` (off): links `std` (for callers' conveniences such as
//!   `std::error::Error`, which `core::error::Error` now covers); the
//!   crate is `no_std` either way and builds for `wasm32-unknown-unknown`,
//!   `wasm32-wasip2` and bare-metal targets.
//!
//! ## Security
//!
//! - RSA uses `rsa` 0.10, whose big-integer arithmetic is constant-time;
//!   0.9 is affected by the Marvin attack (RUSTSEC-2023-0071). The core has
//!   no RNG, so RSA signing is unblinded, which constant-time arithmetic
//!   makes safe; hosts may plug in their own [`SignDigest`].
//! - Signing refuses rsa-sha1 and RSA keys under 1024 or over 4096 bits
//!   (RFC 8301).
//! - Parsers never panic and canonicalization takes linear time on any
//!   input (fuzzed; see the benchmarks for hostile bodies).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod address;
pub use verify::auth_results;
pub mod base64;
pub mod canonicalize;
pub mod domain;
pub mod error;
pub mod hash;
pub mod keys;
pub mod message;
pub mod policy;
pub mod record;
pub mod sign;
pub mod signature;
pub mod tag_list;
pub mod verify;

pub use canonicalize::{BodyCanonicalizer, Canonicalization, CanonicalizationAlgorithm};
pub use error::{Error, ErrorCode};
pub use hash::{BodyHash, BodyHashSet, BodyHasher, ExternalSha256, HashAlgorithm, Sha256Factory};

pub use domain::{Domain, Identity, Selector};
pub use keys::{KeyType, PrivateKey, PublicKey, SignDigest, SigningAlgorithm};
pub use message::{HeaderField, Message};
pub use record::KeyRecord;
pub use sign::{
    HeaderSelection, PendingSignature, SignOptions, SignSpec, SignatureHeader, Signer,
    prepend_signatures, sign,
};
pub use signature::DkimSignature;
pub use verify::{
    DkimResult, Keeping, KeyAnswer, Reason, RustCrypto, SignatureResult, VerificationReport,
    Verifier, VerifyDigest, VerifyPolicy, verify,
};

#[cfg(test)]
#[allow(unused_imports)]
mod test_prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
    pub(crate) use alloc::{format, vec};
}
