//! The JavaScript face: low-level wasm-bindgen exports. The package's
//! public API (`wasm/js/api.js`) wraps these with option checks, string
//! and `Uint8Array` handling, WebCrypto and `WaxsealError`.
//!
//! Errors cross the boundary as plain objects `{ code, message }` (codes
//! from [`waxseal_core::Error::code`]); `api.js` turns them into
//! `WaxsealError`s.
//!
//! Keys, records and signing are here; verification is in `verify.rs`.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use waxseal_core::message::LineEnds;
use waxseal_core::{Error, PendingSignature, PrivateKey, SignDigest, SigningAlgorithm};

use crate::common::{self, SignSpec};

fn err(e: Error) -> JsValue {
    err_code(e.code(), &e.to_string())
}

fn err_code(code: &str, message: &str) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"code".into(), &code.into());
    let _ = Reflect::set(&o, &"message".into(), &message.into());
    o.into()
}

fn option_error(message: &str) -> JsValue {
    err_code("ERR_INVALID_OPTION", message)
}

fn set(o: &Object, k: &str, v: impl Into<JsValue>) {
    let _ = Reflect::set(o, &k.into(), &v.into());
}

fn get(o: &JsValue, k: &str) -> Option<JsValue> {
    Reflect::get(o, &k.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn get_string(o: &JsValue, k: &str) -> Result<Option<String>, JsValue> {
    match get(o, k) {
        None => Ok(None),
        Some(v) => v
            .as_string()
            .map(Some)
            .ok_or_else(|| option_error(&format!("option `{k}` must be a string"))),
    }
}

fn get_bool(o: &JsValue, k: &str) -> Result<bool, JsValue> {
    match get(o, k) {
        None => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| option_error(&format!("option `{k}` must be a boolean"))),
    }
}

fn get_u64(o: &JsValue, k: &str) -> Result<Option<u64>, JsValue> {
    match get(o, k) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n < 9.007_199_254_740_992e15 => {
                Ok(Some(n as u64))
            }
            _ => Err(option_error(&format!(
                "option `{k}` must be a non-negative integer"
            ))),
        },
    }
}

fn get_strings(o: &JsValue, k: &str) -> Result<Option<Vec<String>>, JsValue> {
    match get(o, k) {
        None => Ok(None),
        Some(v) if Array::is_array(&v) => Array::from(&v)
            .iter()
            .map(|s| {
                s.as_string().ok_or_else(|| {
                    option_error(&format!("option `{k}` must be an array of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(option_error(&format!(
            "option `{k}` must be an array of strings"
        ))),
    }
}

fn spec(o: &JsValue) -> Result<SignSpec, JsValue> {
    if !o.is_object() {
        return Err(option_error("signing options must be an object"));
    }
    Ok(SignSpec {
        domain: get_string(o, "domain")?
            .ok_or_else(|| option_error("option `domain` is required"))?,
        selector: get_string(o, "selector")?
            .ok_or_else(|| option_error("option `selector` is required"))?,
        identity: get_string(o, "identity")?,
        headers: get_strings(o, "headers")?,
        oversign: get_strings(o, "oversign")?,
        canonicalization: get_string(o, "canonicalization")?,
        timestamp: get_u64(o, "timestamp")?,
        expiration: get_u64(o, "expiration")?,
        body_length: get_bool(o, "bodyLength")?,
        copy_headers: get_bool(o, "copyHeaders")?,
    })
}

fn algorithm_name(a: SigningAlgorithm) -> &'static str {
    a.as_str()
}

/// Generates a key pair: `{ privateKey, publicKey, algorithm, bits }`, the
/// private key as PKCS#8 PEM, the public key as base64 `p=` data.
#[wasm_bindgen(js_name = generateKey)]
pub fn generate_key(algorithm: &str, bits: Option<u32>) -> Result<JsValue, JsValue> {
    let key = common::generate_key(algorithm, bits).map_err(err)?;
    key_object(&key)
}

fn key_object(key: &PrivateKey) -> Result<JsValue, JsValue> {
    let o = Object::new();
    set(&o, "privateKey", key.to_pkcs8_pem().map_err(err)?.as_str());
    set(
        &o,
        "publicKey",
        waxseal_core::base64::encode(&key.public_key().to_record_data()),
    );
    set(&o, "algorithm", key.key_type().as_str());
    set(&o, "bits", key.bits() as u32);
    Ok(o.into())
}

/// A parsed private key, kept by the JS side for repeated use (parsing an
/// RSA key costs more than signing with it).
#[wasm_bindgen]
pub struct Key {
    key: PrivateKey,
}

#[wasm_bindgen]
impl Key {
    /// Parses a private key: PKCS#8 or PKCS#1, PEM text (as UTF-8
    /// bytes) or DER.
    #[wasm_bindgen(constructor)]
    pub fn new(data: &[u8]) -> Result<Key, JsValue> {
        Ok(Key {
            key: PrivateKey::parse(data).map_err(err)?,
        })
    }

    /// `{ privateKey, publicKey, algorithm: 'rsa'|'ed25519', bits,
    /// signingAlgorithm, pkcs8: Uint8Array }`: what WebCrypto needs.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let o: Object = key_object(&self.key)?.into();
        set(&o, "signingAlgorithm", algorithm_name(self.key.algorithm()));
        let der = self.key.to_pkcs8_der().map_err(err)?;
        set(&o, "pkcs8", Uint8Array::from(der.as_slice()));
        Ok(o.into())
    }

    /// Signs `data` from [`Signer::finish_pending`] in WebAssembly:
    /// Ed25519 signs the data (the digest) as is; RSA signs the SHA-256 of
    /// the data (the header data).
    #[wasm_bindgen(js_name = signData)]
    pub fn sign_data(&self, data: &[u8]) -> Result<Uint8Array, JsValue> {
        let sig = match self.key.algorithm() {
            SigningAlgorithm::Ed25519Sha256 => self.key.sign_digest(data),
            a => self.key.sign_digest(a.hash().digest(data).as_bytes()),
        }
        .map_err(err)?;
        Ok(Uint8Array::from(sig.as_slice()))
    }
}

/// What the JS side needs to use a private key with WebCrypto (see
/// [`Key::info`]).
#[wasm_bindgen(js_name = keyInfo)]
pub fn key_info(key: &[u8]) -> Result<JsValue, JsValue> {
    Key::new(key)?.info()
}

/// The DNS key record for a key: `{ name, value, strings, zoneLine,
/// readme }`. `key` (bytes: PEM text as UTF-8, or DER) is a private key,
/// a public key, or base64 `p=` data (then `keyType` says rsa or
/// ed25519).
#[wasm_bindgen(js_name = dnsRecord)]
pub fn dns_record(key: &[u8], options: JsValue) -> Result<JsValue, JsValue> {
    let kt = get_string(&options, "keyType")?;
    let pk = common::public_key(key, kt.as_deref()).map_err(err)?;
    let r = common::dns_record(
        &pk,
        &get_string(&options, "selector")?
            .ok_or_else(|| option_error("option `selector` is required"))?,
        &get_string(&options, "domain")?
            .ok_or_else(|| option_error("option `domain` is required"))?,
        get_bool(&options, "testing")?,
        get_bool(&options, "strict")?,
        get_string(&options, "notes")?,
    )
    .map_err(err)?;
    let o = Object::new();
    set(&o, "name", r.name);
    set(&o, "value", r.value);
    set(
        &o,
        "strings",
        r.strings.into_iter().map(JsValue::from).collect::<Array>(),
    );
    set(&o, "zoneLine", r.zone_line);
    set(&o, "readme", r.readme);
    Ok(o.into())
}

/// A streaming signer for one message and one or more signatures.
#[wasm_bindgen]
pub struct Signer {
    inner: waxseal_core::Signer<'static>,
    pending: Vec<PendingSignature>,
    line_ends: LineEnds,
}

#[wasm_bindgen]
impl Signer {
    /// `options`: an array of signing options objects, each with its
    /// `signingAlgorithm`; the caller signs
    /// [`finish_pending`](Self::finish_pending)'s data (with WebCrypto, or
    /// [`Key::sign_data`]) and hands the signatures to
    /// [`complete`](Self::complete). No private key enters the signer.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Signer, JsValue> {
        if !Array::is_array(&options) || Array::from(&options).length() == 0 {
            return Err(option_error(
                "expected a non-empty array of signing options",
            ));
        }
        let mut inner = waxseal_core::Signer::new();
        for o in Array::from(&options).iter() {
            let opts = spec(&o)?.options().map_err(err)?;
            let alg = get_string(&o, "signingAlgorithm")?
                .ok_or_else(|| option_error("`signingAlgorithm` is required"))?;
            let alg = SigningAlgorithm::parse(alg.as_bytes()).map_err(err)?;
            inner.add_external(opts, alg).map_err(err)?;
        }
        Ok(Signer {
            inner,
            pending: Vec::new(),
            line_ends: LineEnds::default(),
        })
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        self.line_ends.see(chunk);
        self.inner.update(chunk).map_err(err)
    }

    /// Ends the message; returns, per signature, `{ algorithm, data }`:
    /// what WebCrypto must sign (RSASSA-PKCS1-v1_5/SHA-256 over the header
    /// data, or Ed25519 over its SHA-256 digest, RFC 8463).
    #[wasm_bindgen(js_name = finishPending)]
    pub fn finish_pending(&mut self) -> Result<Array, JsValue> {
        self.pending = self.inner.finish_pending().map_err(err)?;
        Ok(self
            .pending
            .iter()
            .map(|p| {
                let o = Object::new();
                set(&o, "algorithm", algorithm_name(p.algorithm()));
                set(&o, "data", Uint8Array::from(p.data_to_sign()));
                JsValue::from(o)
            })
            .collect())
    }

    /// Completes the pending signatures with the signature bytes, in the
    /// same order; returns the header field(s).
    pub fn complete(&mut self, signatures: Array) -> Result<String, JsValue> {
        if signatures.length() as usize != self.pending.len() {
            return Err(err_code(
                "ERR_STATE",
                "one signature per pending signature is needed",
            ));
        }
        let pending = std::mem::take(&mut self.pending);
        let mut fields = Vec::with_capacity(pending.len());
        for (p, s) in pending.into_iter().zip(signatures.iter()) {
            let bytes = Uint8Array::new(&s).to_vec();
            fields.push(p.complete(bytes).field);
        }
        Ok(self.join(fields.iter().map(String::as_str)))
    }

    fn join<'a>(&self, fields: impl Iterator<Item = &'a str>) -> String {
        self.line_ends.adapt(fields.collect())
    }
}

mod verify;
pub use verify::Verifier;
