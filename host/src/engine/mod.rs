//! Two ways to run the core on a message, with the same results: inside
//! the wasmtime sandbox (the default), or linked natively (`--engine
//! native`, no sandbox, for comparison and for users who want none). Either
//! way the private-key operation is done here, in native crypto.

use std::cell::RefCell;
use std::io::Cursor;
use std::sync::Arc;

use anyhow::Result;
use waxseal_core::verify::VerifyPolicy;
use waxseal_core::{KeyAnswer, Signer, SigningAlgorithm};

use crate::component::{ComponentHost, GuestError, Limits, wit};
use crate::crypto::NativeKey;

/// One signature to make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignSpec {
    /// Index of the key in the key list.
    pub key: usize,
    /// The options, as text.
    pub spec: waxseal_core::SignSpec,
}

impl SignSpec {
    fn wit(&self) -> wit::SignOptions {
        let s = &self.spec;
        wit::SignOptions {
            domain: s.domain.clone(),
            selector: s.selector.clone(),
            key: wit::SigningKey::Host(self.key as u32),
            identity: s.identity.clone(),
            headers: s.headers.clone(),
            oversign: s.oversign.clone(),
            canonicalization: s.canonicalization.clone(),
            timestamp: s.timestamp,
            expiration: s.expiration,
            body_length: s.body_length,
            copy_headers: s.copy_headers,
        }
    }
}

/// An error about the message or the options (exit code 2), with the
/// stable code every face of waxseal uses.
#[derive(Debug)]
pub struct InputError {
    /// e.g. `ERR_MISSING_FROM`.
    pub code: String,
    /// For people.
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

impl From<waxseal_core::Error> for InputError {
    fn from(e: waxseal_core::Error) -> Self {
        InputError {
            code: e.code().into(),
            message: e.to_string(),
        }
    }
}

impl From<GuestError> for InputError {
    fn from(e: GuestError) -> Self {
        InputError {
            code: error_code(e.code).into(),
            message: e.message,
        }
    }
}

/// The code every face of waxseal uses for a WIT error code.
pub fn error_code(c: wit::ErrorCode) -> &'static str {
    use wit::ErrorCode as E;
    match c {
        E::MalformedMessage => "ERR_MALFORMED_MESSAGE",
        E::HeaderTooLarge => "ERR_HEADER_TOO_LARGE",
        E::MissingFrom => "ERR_MISSING_FROM",
        E::Syntax => "ERR_SYNTAX",
        E::InvalidDomain => "ERR_INVALID_DOMAIN",
        E::InvalidSelector => "ERR_INVALID_SELECTOR",
        E::InvalidIdentity => "ERR_INVALID_IDENTITY",
        E::InvalidHeaderName => "ERR_INVALID_HEADER_NAME",
        E::Unsupported => "ERR_UNSUPPORTED",
        E::InvalidOption => "ERR_INVALID_OPTION",
        E::KeyTypeMismatch => "ERR_KEY_TYPE_MISMATCH",
        E::InvalidKey => "ERR_INVALID_KEY",
        E::KeySize => "ERR_KEY_SIZE",
        E::KeyGeneration => "ERR_KEY_GENERATION",
        E::Crypto => "ERR_CRYPTO",
        E::State => "ERR_STATE",
    }
}

/// One verification result, the same from both engines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// RFC 8601 result word.
    pub result: String,
    /// Stable reason code, when not pass.
    pub reason_code: Option<String>,
    /// One line for people.
    pub summary: String,
}

/// The result of verifying a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One per signature, top first.
    pub verdicts: Vec<Verdict>,
    /// The Authentication-Results value.
    pub authentication_results: String,
}

/// Where the core runs.
pub enum Engine {
    /// In the wasmtime sandbox.
    Wasm(Box<ComponentHost>),
    /// Linked in, no sandbox.
    Native,
}

impl Engine {
    /// The sandboxed engine with the embedded component, or the one in
    /// `component`.
    pub fn wasm(component: Option<&std::path::Path>, limits: Limits) -> Result<Self> {
        let host = match component {
            Some(p) => ComponentHost::from_file(p, limits)?,
            None => ComponentHost::embedded(limits)?,
        };
        Ok(Engine::Wasm(Box::new(host)))
    }

    /// Signs `message`; returns the DKIM-Signature field(s), CRLF.
    pub fn sign(
        &self,
        message: &[u8],
        specs: &[SignSpec],
        keys: Arc<Vec<NativeKey>>,
    ) -> Result<Result<String, InputError>> {
        match self {
            Engine::Wasm(host) => WIT_OPTIONS.with(|cell| {
                // the options in WIT form, converted again only when they
                // change (most messages are signed alike)
                let mut slot = cell.borrow_mut();
                if slot.as_ref().is_none_or(|(s, _)| s.as_slice() != specs) {
                    *slot = Some((specs.to_vec(), specs.iter().map(SignSpec::wit).collect()));
                }
                let options = slot.as_ref().map_or(&[][..], |(_, o)| o.as_slice());
                Ok(host
                    .sign_bytes(message, options, keys)?
                    .map_err(InputError::from))
            }),
            Engine::Native => Ok(sign_native(message, specs, &keys)),
        }
    }

    /// Verifies `message` with `lookup` answering the key queries.
    pub fn verify(
        &self,
        message: &[u8],
        policy: &VerifyPolicy,
        now: Option<u64>,
        authserv_id: &str,
        lookup: &mut dyn FnMut(&str) -> KeyAnswer,
    ) -> Result<Result<Report, InputError>> {
        match self {
            Engine::Wasm(host) => {
                let p = wit::VerifyPolicy {
                    min_rsa_bits: Some(policy.min_rsa_bits as u32),
                    allow_rsa_sha1: policy.allow_rsa_sha1,
                    allow_unsigned_body_tail: policy.allow_unsigned_body_tail,
                    allow_unsigned_from: policy.allow_unsigned_from,
                    ignore_expiration: policy.ignore_expiration,
                    clock_skew: Some(policy.clock_skew),
                    max_signatures: Some(policy.max_signatures as u32),
                };
                let r = host.verify(&mut Cursor::new(message), &p, now, authserv_id, lookup)?;
                Ok(r.map_err(InputError::from).map(|r| Report {
                    verdicts: r
                        .results
                        .iter()
                        .map(|s| Verdict {
                            result: result_word(s.result).into(),
                            reason_code: s.reason_code.clone(),
                            summary: s.summary.clone(),
                        })
                        .collect(),
                    authentication_results: r.authentication_results,
                }))
            }
            Engine::Native => {
                let mut v = waxseal_core::Verifier::new(policy.clone(), now);
                let run = (|| -> Result<waxseal_core::VerificationReport, waxseal_core::Error> {
                    v.update(message)?;
                    v.finish_headers()?;
                    for q in v.queries() {
                        if q.kind == waxseal_core::verify::QueryKind::Key {
                            let a = lookup(&q.name);
                            v.answer(&q.name, a);
                        }
                    }
                    v.finish()
                })();
                Ok(run.map_err(InputError::from).map(|r| Report {
                    verdicts: r
                        .results
                        .iter()
                        .map(|s| Verdict {
                            result: s.result.as_str().into(),
                            reason_code: s.reason.map(|x| x.code().into()),
                            summary: s.to_string(),
                        })
                        .collect(),
                    authentication_results: r.authentication_results(authserv_id),
                }))
            }
        }
    }
}

fn result_word(r: wit::DkimResult) -> &'static str {
    match r {
        wit::DkimResult::Pass => "pass",
        wit::DkimResult::Fail => "fail",
        wit::DkimResult::Neutral => "neutral",
        wit::DkimResult::Policy => "policy",
        wit::DkimResult::Temperror => "temperror",
        wit::DkimResult::Permerror => "permerror",
    }
}

/// A signer whose options were checked once, for the next message with
/// the same specs and key algorithms (what the sandbox's `prepared`
/// resource is to the component).
struct NativePrepared {
    specs: Vec<SignSpec>,
    algorithms: Vec<SigningAlgorithm>,
    signer: Signer<'static>,
}

thread_local! {
    /// The signer this thread signed its last message with: an MTA signs
    /// all mail of a domain alike, so most messages reuse it.
    static NATIVE_SIGNER: RefCell<Option<NativePrepared>> = const { RefCell::new(None) };
    /// The sign specs this thread last gave the sandbox, with their WIT
    /// form.
    static WIT_OPTIONS: RefCell<Option<(Vec<SignSpec>, Vec<wit::SignOptions>)>> =
        const { RefCell::new(None) };
}

/// Signing with the core linked in, keys in native crypto.
pub fn sign_native(
    message: &[u8],
    specs: &[SignSpec],
    keys: &[NativeKey],
) -> Result<String, InputError> {
    let algorithms = specs
        .iter()
        .map(|s| {
            keys.get(s.key)
                .map(NativeKey::algorithm)
                .ok_or_else(|| InputError {
                    code: "ERR_INVALID_KEY".into(),
                    message: format!("no key number {}", s.key),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    NATIVE_SIGNER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let prepared = match slot.take() {
            Some(p) if p.specs == specs && p.algorithms == algorithms => p,
            _ => {
                let mut signer = Signer::new();
                for (s, alg) in specs.iter().zip(&algorithms) {
                    signer.add_external(s.spec.options()?, *alg)?;
                }
                NativePrepared {
                    specs: specs.to_vec(),
                    algorithms,
                    signer,
                }
            }
        };
        let p = slot.insert(prepared);
        p.signer.reset();
        p.signer.update(message)?;
        let mut out = String::new();
        for (pending, s) in p.signer.finish_pending()?.into_iter().zip(specs) {
            let h = keys[s.key].complete(pending).map_err(|e| InputError {
                code: "ERR_CRYPTO".into(),
                message: e.to_string(),
            })?;
            out.push_str(&h.field);
        }
        Ok(out)
    })
}

/// An engine error (a trap: deadline, memory) as one line.
pub fn describe_engine_error(e: &anyhow::Error, limits: &Limits) -> String {
    let text = format!("{e:#}");
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => format!(
                "the sandbox stopped the message after {} s (limit per step); the message is too large or hostile",
                limits.deadline.as_secs()
            ),
            other => format!("the sandbox stopped: {other}"),
        };
    }
    if text.contains("growing memory") || (text.contains("memory") && text.contains("limit")) {
        return format!(
            "the sandbox needed more than {} MiB of memory for this message",
            limits.max_memory >> 20
        );
    }
    text.lines().next().unwrap_or("engine error").to_string()
}
