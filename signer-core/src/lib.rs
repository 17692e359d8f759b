#![no_std]
#![forbid(unsafe_code)]
#![doc = "waxseal core (WIP)"]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

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

pub use canonicalize::{BodyCanonicalizer, Canonicalization, CanonicalizationAlgorithm};
pub use error::Error;
pub use hash::{BodyHash, BodyHashSet, BodyHasher, HashAlgorithm};

pub use domain::{Domain, Identity, Selector};
pub use keys::{KeyType, PrivateKey, PublicKey, SignDigest, SigningAlgorithm};
pub use message::{HeaderField, Message};
pub use record::KeyRecord;
pub use sign::{HeaderSelection, SignOptions, SignatureHeader, Signer, prepend_signatures, sign};
pub use signature::DkimSignature;

#[cfg(test)]
#[allow(unused_imports)]
mod test_prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
    pub(crate) use alloc::{format, vec};
}
