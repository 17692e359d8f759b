//! Verification for JavaScript: the streaming verifier, whose public-key
//! checks the package may do natively (`finishPending`, then `settle`),
//! and its report as JavaScript objects.

use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;
use waxseal_core::verify::{
    Deferred, Driver, KeyAnswer, Lookups, Query, QueryKind, VerificationReport, VerifyPolicy,
};
use waxseal_core::{Error, Keeping, KeyType, RustCrypto};

use super::{err, get_bool, get_u64, option_error, set};

/// A count from JavaScript (up to 2^53) as a `usize` of wasm32: larger
/// values stay the largest, never wrap (`minRsaBits: 2 ** 32 + 512` must
/// refuse every key, not become 512).
fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn policy(o: &JsValue) -> Result<VerifyPolicy, JsValue> {
    let mut p = VerifyPolicy::default();
    if !o.is_object() {
        return Ok(p);
    }
    if let Some(n) = get_u64(o, "minRsaBits")? {
        p.min_rsa_bits = count(n);
    }
    p.allow_rsa_sha1 = get_bool(o, "allowRsaSha1")?;
    p.allow_unsigned_body_tail = get_bool(o, "allowUnsignedBodyTail")?;
    p.allow_unsigned_from = get_bool(o, "allowUnsignedFrom")?;
    p.allow_from_count = get_bool(o, "allowFromCount")?;
    p.ignore_expiration = get_bool(o, "ignoreExpiration")?;
    if let Some(n) = get_u64(o, "clockSkew")? {
        p.clock_skew = n;
    }
    if let Some(n) = get_u64(o, "maxSignatures")? {
        p.max_signatures = count(n);
    }
    if let Some(n) = get_u64(o, "maxHeaderBytes")? {
        p.max_header_bytes = count(n);
    }
    Ok(p)
}

thread_local! {
    /// The key records parsed and keys decoded by the verifications of this
    /// module's lifetime (the last 16 of each): decoding an RSA key in
    /// WebAssembly costs about as much as checking a signature with it.
    static KEPT: Keeping<RustCrypto> = const { Keeping::new(RustCrypto) };
}

/// The streaming, sans-I/O verifier.
#[wasm_bindgen]
pub struct Verifier {
    inner: Option<Driver<waxseal_core::Verifier>>,
    /// After `finishPending`: the public-key checks `settle` waits for.
    deferred: Option<Deferred>,
}

#[wasm_bindgen]
impl Verifier {
    /// `policy`: `{ minRsaBits, allowRsaSha1, allowUnsignedBodyTail,
    /// allowUnsignedFrom, allowFromCount, ignoreExpiration, clockSkew, maxSignatures,
    /// maxHeaderBytes }`,
    /// all optional; `now` in seconds since 1970; `lookup_policies`: hand
    /// out the From domain's policy queries (DMARC, legacy) as well as the
    /// key queries.
    #[wasm_bindgen(constructor)]
    pub fn new(
        policy_options: JsValue,
        now: Option<f64>,
        lookup_policies: bool,
    ) -> Result<Verifier, JsValue> {
        let p = policy(&policy_options)?;
        let v = waxseal_core::Verifier::new(p, now.map(|n| n.max(0.0) as u64));
        let lookups = if lookup_policies {
            Lookups::All
        } else {
            Lookups::Keys
        };
        Ok(Verifier {
            inner: Some(Driver::new(v, lookups)),
            deferred: None,
        })
    }

    fn d(&mut self) -> Result<&mut Driver<waxseal_core::Verifier>, JsValue> {
        self.inner
            .as_mut()
            .ok_or_else(|| err(Error::AlreadyFinished))
    }

    fn v(&mut self) -> Result<&mut waxseal_core::Verifier, JsValue> {
        Ok(self.d()?.get_mut())
    }

    /// Keeps what each signature was checked against (the canonicalized
    /// header data and up to `body_limit` bytes of the canonicalized body)
    /// in its result's `diagnostics`; call before the first `update`.
    pub fn diagnostics(&mut self, body_limit: f64) -> Result<(), JsValue> {
        let limit = if body_limit.is_finite() && body_limit >= 0.0 {
            body_limit.min(64.0 * 1024.0 * 1024.0) as usize
        } else {
            return Err(option_error("the body limit must be a number of bytes"));
        };
        self.v()?.diagnostics(limit);
        Ok(())
    }

    /// Feeds the next chunk of the message. Returns the DNS queries to
    /// start, `[{ name, kind }]` (kind `key`, `policy` or `dmarc`), once:
    /// with the chunk that completes the header block; else `[]`.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Array, JsValue> {
        Ok(queries(self.d()?.feed(chunk).map_err(err)?))
    }

    /// The whole message is in: returns the queries not handed out yet
    /// (those of a message without a body), as [`update`](Self::update).
    pub fn end(&mut self) -> Result<Array, JsValue> {
        Ok(queries(self.d()?.end().map_err(err)?))
    }

    /// Answers a query: `records` is an array of records, each an array of
    /// strings (as Node's `dns.promises.resolveTxt` returns) or of
    /// `Uint8Array`s; or the string `"nxdomain"` or `"tempfail"`.
    pub fn answer(&mut self, name: &str, records: JsValue) -> Result<(), JsValue> {
        let answer = match records.as_string().as_deref() {
            Some("nxdomain") => KeyAnswer::NxDomain,
            Some("tempfail") => KeyAnswer::TempFail,
            Some(_) => {
                return Err(option_error(
                    "answer must be records, \"nxdomain\" or \"tempfail\"",
                ));
            }
            None if Array::is_array(&records) => {
                let mut out = Vec::new();
                for rec in Array::from(&records).iter() {
                    let strings: Vec<JsValue> = if Array::is_array(&rec) {
                        Array::from(&rec).iter().collect()
                    } else {
                        vec![rec]
                    };
                    let mut r = Vec::new();
                    for s in strings {
                        if let Some(t) = s.as_string() {
                            r.push(t.into_bytes());
                        } else if s.is_instance_of::<Uint8Array>() {
                            r.push(Uint8Array::new(&s).to_vec());
                        } else {
                            return Err(option_error("TXT strings must be strings or Uint8Arrays"));
                        }
                    }
                    out.push(r);
                }
                KeyAnswer::Records(out)
            }
            None => {
                return Err(option_error(
                    "answer must be records, \"nxdomain\" or \"tempfail\"",
                ));
            }
        };
        self.v()?.answer(name, answer);
        Ok(())
    }

    /// Ends the message and runs every check but the public-key
    /// operations, which it returns, one entry per check, for WebCrypto:
    /// `{ algorithm, keyId, key, data, signature }`, with the key as a DER
    /// SubjectPublicKeyInfo, `keyId` naming it, and `data` the signed
    /// header data (RFC 6376 3.7); or `null` for a check WebAssembly does
    /// itself (Ed25519, for the core's strict checks, and RSA keys under
    /// 1024 bits, which WebCrypto implementations refuse or treat
    /// differently). `settle` takes their outcomes.
    #[wasm_bindgen(js_name = finishPending)]
    pub fn finish_pending(&mut self) -> Result<Array, JsValue> {
        let v = self
            .inner
            .take()
            .ok_or_else(|| err(Error::AlreadyFinished))?;
        let deferred = KEPT
            .with(|kept| v.into_inner().finish_deferred(kept))
            .map_err(err)?;
        let checks = deferred
            .checks()
            .iter()
            .map(|c| {
                if c.key.key_type() != KeyType::Rsa || c.key.bits() < 1024 {
                    return JsValue::NULL;
                }
                let o = Object::new();
                let spki = c.key.to_spki_der();
                set(&o, "algorithm", c.algorithm.as_str());
                set(
                    &o,
                    "keyId",
                    format!(
                        "{}:{}",
                        c.algorithm.as_str(),
                        waxseal_core::base64::encode(&spki)
                    ),
                );
                set(&o, "key", Uint8Array::from(&spki[..]));
                set(&o, "data", Uint8Array::from(&c.data[..]));
                set(&o, "signature", Uint8Array::from(&c.signature[..]));
                JsValue::from(o)
            })
            .collect();
        self.deferred = Some(deferred);
        Ok(checks)
    }

    /// Evaluates every signature, given the outcome of each check of
    /// `finishPending` (`true`, `false`, or anything else to have
    /// WebAssembly check it): `{ results: [...], authenticationResults,
    /// authenticationResultsField, policy }`.
    pub fn settle(&mut self, outcomes: Array, authserv_id: &str) -> Result<JsValue, JsValue> {
        let deferred = self
            .deferred
            .take()
            .ok_or_else(|| err(Error::AlreadyFinished))?;
        let outcomes: Vec<Option<bool>> = outcomes.iter().map(|o| o.as_bool()).collect();
        let report = KEPT.with(|kept| deferred.settle(&outcomes, kept));
        Ok(report_object(&report, authserv_id))
    }
}

/// A verification report as JavaScript.
fn report_object(report: &VerificationReport, authserv_id: &str) -> JsValue {
    let results: Array = report
        .results
        .iter()
        .map(|r| {
            let o = Object::new();
            set(&o, "result", r.result.as_str());
            if let Some(reason) = &r.reason {
                set(&o, "reason", reason.to_string());
                set(&o, "reasonCode", reason.code());
            }
            let l = &r.labels;
            for (k, v) in [
                ("domain", &l.domain),
                ("selector", &l.selector),
                ("algorithm", &l.algorithm),
                ("identity", &l.identity),
            ] {
                if let Some(v) = v {
                    set(&o, k, v.as_str());
                }
            }
            set(&o, "testing", r.testing);
            if let Some(b) = r.key_bits {
                set(&o, "keyBits", b as u32);
            }
            set(&o, "unsignedBodyBytes", r.unsigned_body_bytes as f64);
            set(&o, "summary", r.to_string());
            if let Some(sig) = &r.signature {
                let h: Array = sig
                    .signed_headers
                    .iter()
                    .map(|n| JsValue::from_str(n.as_ref()))
                    .collect();
                set(&o, "signedHeaders", h);
                set(&o, "canonicalization", sig.canonicalization.to_string());
                set(&o, "bodyHash", waxseal_core::base64::encode(&sig.body_hash));
            }
            if let Some(d) = &r.diagnostics {
                let diag = Object::new();
                set(
                    &diag,
                    "canonicalHeaders",
                    Uint8Array::from(&d.canonical_headers[..]),
                );
                set(
                    &diag,
                    "canonicalBody",
                    Uint8Array::from(&d.canonical_body[..]),
                );
                set(&diag, "bodyTruncated", d.body_truncated);
                set(
                    &diag,
                    "computedBodyHash",
                    waxseal_core::base64::encode(&d.computed_body_hash),
                );
                set(&o, "diagnostics", diag);
            }
            JsValue::from(o)
        })
        .collect();
    let o = Object::new();
    set(&o, "results", results);
    set(
        &o,
        "authenticationResults",
        report.authentication_results(authserv_id),
    );
    set(
        &o,
        "authenticationResultsField",
        report.authentication_results_field(authserv_id),
    );
    if let Some(d) = &report.policy.from_domain {
        set(&o, "fromDomain", d.as_str());
    }
    if let Some(Ok(d)) = &report.policy.dmarc {
        set(&o, "dmarc", d.to_txt());
    }
    if let Some(Ok(l)) = &report.policy.legacy {
        set(&o, "legacyPolicy", l.to_txt());
    }
    o.into()
}

/// Queries as JavaScript: `[{ name, kind }]`.
fn queries(queries: Vec<Query>) -> Array {
    queries
        .into_iter()
        .map(|q| {
            let o = Object::new();
            set(&o, "name", q.name);
            let kind = match q.kind {
                QueryKind::Key => "key",
                QueryKind::LegacyPolicy => "policy",
                QueryKind::Dmarc => "dmarc",
            };
            set(&o, "kind", kind);
            JsValue::from(o)
        })
        .collect()
}
