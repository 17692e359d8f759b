//! The WebAssembly component face (`wit/waxseal.wit`), for wasmtime and any
//! other component host. Built for `wasm32-wasip2`: world `dkim` by default,
//! world `dkim-host-crypto` with the `host-crypto` feature.
// The generated bindings (ABI glue) use `unsafe`; nothing here is written
// by hand with it.
#![allow(unsafe_code, missing_docs, unreachable_pub)]

use waxseal_core::Error as CoreError;

use crate::common;

#[cfg(not(feature = "host-crypto"))]
wit_bindgen::generate!({ path: "wit", world: "dkim" });

#[cfg(feature = "host-crypto")]
wit_bindgen::generate!({ path: "wit", world: "dkim-host-crypto" });

use exports::waxseal::dkim::{keys, signing, verification};
use waxseal::dkim::types::{
    self as wit, DkimResult, Error, ErrorCode, KeyPair, KeyType, Query, SignOptions,
    SignatureResult, SigningKey, TxtAnswer, VerifyReport,
};

#[cfg(feature = "host-crypto")]
mod host_sha256;
#[cfg(feature = "host-crypto")]
mod host_verify;
mod sign;
mod verify;

/// The component.
pub struct Component;

export!(Component);

/// The WIT error for a core error: every core code has its WIT name (an
/// exhaustive match: a new code does not compile until it has one).
fn error(e: CoreError) -> Error {
    use waxseal_core::ErrorCode as C;
    let code = match e.kind() {
        C::MalformedMessage => ErrorCode::MalformedMessage,
        C::HeaderTooLarge => ErrorCode::HeaderTooLarge,
        C::MissingFrom => ErrorCode::MissingFrom,
        C::SeveralFrom => ErrorCode::SeveralFrom,
        C::Syntax => ErrorCode::Syntax,
        C::InvalidDomain => ErrorCode::InvalidDomain,
        C::InvalidSelector => ErrorCode::InvalidSelector,
        C::InvalidIdentity => ErrorCode::InvalidIdentity,
        C::InvalidHeaderName => ErrorCode::InvalidHeaderName,
        C::Unsupported => ErrorCode::Unsupported,
        C::InvalidOption => ErrorCode::InvalidOption,
        C::KeyTypeMismatch => ErrorCode::KeyTypeMismatch,
        C::InvalidKey => ErrorCode::InvalidKey,
        C::KeySize => ErrorCode::KeySize,
        C::KeyGeneration => ErrorCode::KeyGeneration,
        C::Crypto => ErrorCode::Crypto,
        C::State => ErrorCode::State,
    };
    Error {
        code,
        message: e.to_string(),
    }
}

fn state_error(message: &str) -> Error {
    Error {
        code: ErrorCode::State,
        message: message.into(),
    }
}

fn key_type_name(k: KeyType) -> &'static str {
    match k {
        KeyType::Rsa => "rsa",
        KeyType::Ed25519 => "ed25519",
    }
}

impl keys::Guest for Component {
    fn generate_key(key_type: KeyType, bits: Option<u32>) -> Result<KeyPair, Error> {
        let key = common::generate_key(key_type_name(key_type), bits).map_err(error)?;
        Ok(KeyPair {
            private_key: key.to_pkcs8_pem().map_err(error)?.to_string(),
            public_key: waxseal_core::base64::encode(&key.public_key().to_record_data()),
            key_type,
            bits: key.bits() as u32,
        })
    }

    fn dns_record(
        key: String,
        key_type: Option<KeyType>,
        selector: String,
        domain: String,
        testing: bool,
    ) -> Result<wit::KeyRecord, Error> {
        let pk = common::public_key(key.as_bytes(), key_type.map(key_type_name)).map_err(error)?;
        let r = common::dns_record(&pk, &selector, &domain, testing, false, None).map_err(error)?;
        Ok(wit::KeyRecord {
            name: r.name,
            value: r.value,
            strings: r.strings,
            zone_line: r.zone_line,
            readme: r.readme,
        })
    }
}
