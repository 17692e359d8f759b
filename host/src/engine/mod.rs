//! Two ways to run the core on a message, with the same results: inside
//! the wasmtime sandbox (the default), or linked natively (`--engine
//! native`, no sandbox, for comparison and for users who want none). Either
//! way the private-key operation is done here, in native crypto.
//!
//! Both offer the same streaming shape, which the command line and the
//! milter drive: start a [`SignSession`] or [`VerifySession`] with checked
//! options, feed the message in chunks of any size, answer the key queries
//! the verifier names (when and however the caller likes: blocking,
//! async), finish. Memory per message is bounded by its header block, not
//! by its body. [`Engine::sign`] and [`Engine::verify`] are the one-call
//! forms for a message in memory.

use std::sync::Arc;

use anyhow::Result;
use waxseal_core::verify::{Driver, Lookups, Query, VerifyPolicy, VerifySteps};
use waxseal_core::{ErrorCode, KeyAnswer};

pub use crate::component::StepError;
use crate::component::{ComponentHost, GuestError, Limits, SandboxSigner, SandboxVerifier, wit};
use crate::crypto::NativeKey;

mod native;

pub use native::{NativeSigner, NativeVerifier, sign_native};

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
    /// e.g. [`ErrorCode::MissingFrom`] (`ERR_MISSING_FROM`).
    pub code: ErrorCode,
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
            code: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<GuestError> for InputError {
    fn from(e: GuestError) -> Self {
        InputError {
            code: error_code(e.code),
            message: e.message,
        }
    }
}

/// The core's code for a WIT error code (an exhaustive match both ways:
/// the WIT enum and [`ErrorCode`] name the same codes).
pub fn error_code(c: wit::ErrorCode) -> ErrorCode {
    use wit::ErrorCode as E;
    match c {
        E::MalformedMessage => ErrorCode::MalformedMessage,
        E::HeaderTooLarge => ErrorCode::HeaderTooLarge,
        E::MissingFrom => ErrorCode::MissingFrom,
        E::SeveralFrom => ErrorCode::SeveralFrom,
        E::Syntax => ErrorCode::Syntax,
        E::InvalidDomain => ErrorCode::InvalidDomain,
        E::InvalidSelector => ErrorCode::InvalidSelector,
        E::InvalidIdentity => ErrorCode::InvalidIdentity,
        E::InvalidHeaderName => ErrorCode::InvalidHeaderName,
        E::Unsupported => ErrorCode::Unsupported,
        E::InvalidOption => ErrorCode::InvalidOption,
        E::KeyTypeMismatch => ErrorCode::KeyTypeMismatch,
        E::InvalidKey => ErrorCode::InvalidKey,
        E::KeySize => ErrorCode::KeySize,
        E::KeyGeneration => ErrorCode::KeyGeneration,
        E::Crypto => ErrorCode::Crypto,
        E::State => ErrorCode::State,
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
#[derive(Clone)]
pub enum Engine {
    /// In the wasmtime sandbox.
    Wasm(ComponentHost),
    /// Linked in, no sandbox.
    Native,
}

/// A message being signed ([`Engine::signer`]).
pub enum SignSession {
    /// Linked in.
    Native(Box<NativeSigner>),
    /// In the sandbox.
    Wasm(Box<SandboxSigner>),
}

/// A message being verified ([`Engine::verifier`]).
pub enum VerifySession {
    /// Linked in.
    Native(Box<NativeVerifier>),
    /// In the sandbox.
    Wasm(Box<SandboxVerifier>),
}

/// The sandbox's form of a verification policy: every field of it.
pub fn wit_policy(policy: &VerifyPolicy) -> wit::VerifyPolicy {
    let bounded = |n: usize| Some(u32::try_from(n).unwrap_or(u32::MAX));
    wit::VerifyPolicy {
        min_rsa_bits: bounded(policy.min_rsa_bits),
        allow_rsa_sha1: policy.allow_rsa_sha1,
        allow_unsigned_body_tail: policy.allow_unsigned_body_tail,
        allow_unsigned_from: policy.allow_unsigned_from,
        allow_from_count: policy.allow_from_count,
        ignore_expiration: policy.ignore_expiration,
        clock_skew: Some(policy.clock_skew),
        max_signatures: bounded(policy.max_signatures),
        max_header_bytes: bounded(policy.max_header_bytes),
    }
}

impl Engine {
    /// The sandboxed engine with the embedded component, or the one in
    /// `component`.
    pub fn wasm(component: Option<&std::path::Path>, limits: Limits) -> Result<Self> {
        let host = match component {
            Some(p) => ComponentHost::from_file(p, limits)?,
            None => ComponentHost::embedded(limits)?,
        };
        Ok(Engine::Wasm(host))
    }

    /// Starts signing a message with `specs` (each naming its key in
    /// `keys`). The outer error is the engine's; the inner one says what is
    /// wrong with the options.
    pub fn signer(
        &self,
        specs: &[SignSpec],
        keys: Arc<Vec<NativeKey>>,
    ) -> Result<Result<SignSession, InputError>> {
        Ok(match self {
            Engine::Wasm(host) => WIT_OPTIONS
                .with(|cell| {
                    // the options in WIT form, converted again only when they
                    // change (most messages are signed alike)
                    let mut slot = cell.borrow_mut();
                    if slot.as_ref().is_none_or(|(s, _)| s.as_slice() != specs) {
                        *slot = Some((specs.to_vec(), specs.iter().map(SignSpec::wit).collect()));
                    }
                    let options = slot
                        .as_ref()
                        .map_or_else(|| Arc::from([]), |(_, o)| o.clone());
                    host.signer(options, keys)
                })?
                .map(|s| SignSession::Wasm(Box::new(s)))
                .map_err(InputError::from),
            Engine::Native => {
                NativeSigner::new(specs, keys).map(|s| SignSession::Native(Box::new(s)))
            }
        })
    }

    /// Starts verifying a message. `now` (seconds since 1970) is for `t=`
    /// and `x=`.
    pub fn verifier(&self, policy: &VerifyPolicy, now: Option<u64>) -> Result<VerifySession> {
        Ok(match self {
            Engine::Wasm(host) => {
                VerifySession::Wasm(Box::new(host.verifier(&wit_policy(policy), now)?))
            }
            Engine::Native => {
                VerifySession::Native(Box::new(NativeVerifier::new(policy.clone(), now)))
            }
        })
    }

    /// Signs `message`; returns the DKIM-Signature field(s), CRLF.
    pub fn sign(
        &self,
        message: &[u8],
        specs: &[SignSpec],
        keys: Arc<Vec<NativeKey>>,
    ) -> Result<Result<String, InputError>> {
        match self.signer(specs, keys)? {
            Ok(SignSession::Wasm(s)) => Ok((*s).sign_whole(message)?.map_err(InputError::from)),
            Ok(mut s) => {
                if let Err(e) = s.update(message)? {
                    return Ok(Err(e));
                }
                s.finish()
            }
            Err(e) => Ok(Err(e)),
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
        let mut d = Driver::new(self.verifier(policy, now)?, Lookups::Keys);
        let fed = d
            .feed_with(message, &mut *lookup)
            .and_then(|()| d.end_with(lookup));
        if let Err(e) = StepError::nest(fed)? {
            return Ok(Err(e));
        }
        d.into_inner().finish(authserv_id)
    }
}

impl SignSession {
    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Result<(), InputError>> {
        Ok(match self {
            SignSession::Native(s) => s.update(chunk),
            SignSession::Wasm(s) => s.update(chunk)?.map_err(InputError::from),
        })
    }

    /// Ends the message; returns the DKIM-Signature field(s), CRLF.
    pub fn finish(self) -> Result<Result<String, InputError>> {
        Ok(match self {
            SignSession::Native(s) => (*s).finish(),
            SignSession::Wasm(s) => (*s).finish()?.map_err(InputError::from),
        })
    }
}

impl VerifySession {
    /// Feeds the next chunk of the message. A header block over the
    /// policy's limit is not an error: the report says so.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Result<(), InputError>> {
        Ok(match self {
            VerifySession::Native(v) => v.update(chunk),
            VerifySession::Wasm(v) => v.update(chunk)?.map_err(InputError::from),
        })
    }

    /// Declares the message to have no body (no empty line after the
    /// header block), so its key queries become known.
    pub fn finish_headers(&mut self) -> Result<Result<(), InputError>> {
        Ok(match self {
            VerifySession::Native(v) => v.finish_headers(),
            VerifySession::Wasm(v) => v.finish_headers()?.map_err(InputError::from),
        })
    }

    /// The DNS names to look up once the header block is complete (or
    /// refused); `None` before. Answer them with [`answer`](Self::answer)
    /// before [`finish`](Self::finish), while the body streams. The core's
    /// [`Driver`] asks at the right moment.
    pub fn queries(&mut self, lookups: Lookups) -> Result<Result<Option<Vec<Query>>, InputError>> {
        Ok(match self {
            VerifySession::Native(v) => Ok(v.queries(lookups)),
            VerifySession::Wasm(v) => v.queries(lookups)?.map_err(InputError::from),
        })
    }

    /// The answer to a key query.
    pub fn answer(&mut self, name: &str, answer: KeyAnswer) -> Result<()> {
        match self {
            VerifySession::Native(v) => {
                v.answer(name, answer);
                Ok(())
            }
            VerifySession::Wasm(v) => v.answer(name, answer),
        }
    }

    /// Ends the message: one verdict per signature (a key query left
    /// unanswered counts as a temporary DNS failure).
    pub fn finish(self, authserv_id: &str) -> Result<Result<Report, InputError>> {
        Ok(match self {
            VerifySession::Native(v) => (*v).finish(authserv_id),
            VerifySession::Wasm(v) => match (*v).finish(authserv_id)? {
                Ok(r) => Ok(Report::from_wit(r).checked()?),
                Err(e) => Err(InputError::from(e)),
            },
        })
    }
}

/// The steps the core's verification [`Driver`] drives, natively or in
/// the sandbox.
impl VerifySteps for VerifySession {
    type Error = StepError<InputError>;

    fn update(&mut self, chunk: &[u8]) -> Result<(), Self::Error> {
        StepError::flatten(VerifySession::update(self, chunk))
    }

    fn finish_headers(&mut self) -> Result<(), Self::Error> {
        StepError::flatten(VerifySession::finish_headers(self))
    }

    fn queries(&mut self, lookups: Lookups) -> Result<Option<Vec<Query>>, Self::Error> {
        StepError::flatten(VerifySession::queries(self, lookups))
    }

    fn answer(&mut self, name: &str, answer: KeyAnswer) -> Result<(), Self::Error> {
        VerifySession::answer(self, name, answer).map_err(StepError::Engine)
    }
}

impl Report {
    /// A report from the sandbox, checked before its text goes into mail
    /// and logs: no control character (a line break would start a header
    /// field of the parser's choosing, or a log line), and sizes a real
    /// report has. The core's own text never folds; the milter folds it.
    fn checked(self) -> Result<Self> {
        let clean = |t: &str, max: usize| t.len() <= max && !has_control(t);
        if !clean(&self.authentication_results, 64 * 1024)
            || self.verdicts.iter().any(|v| {
                !clean(&v.summary, 4096)
                    || !clean(&v.result, 16)
                    || v.reason_code.as_deref().is_some_and(|c| !clean(c, 64))
            })
        {
            anyhow::bail!(
                "the sandbox returned a report with control characters or oversized text"
            );
        }
        Ok(self)
    }

    fn from_wit(r: wit::VerifyReport) -> Self {
        Report {
            verdicts: r
                .results
                .into_iter()
                .map(|s| Verdict {
                    result: result_word(s.result).into(),
                    reason_code: s.reason_code,
                    summary: s.summary,
                })
                .collect(),
            authentication_results: r.authentication_results,
        }
    }

    pub(crate) fn from_core(r: &waxseal_core::VerificationReport, authserv_id: &str) -> Self {
        Report {
            verdicts: r
                .results
                .iter()
                .map(|s| Verdict {
                    result: s.result.as_str().into(),
                    reason_code: s.reason.map(|x| x.code().into()),
                    summary: s.summary(),
                })
                .collect(),
            authentication_results: r.authentication_results(authserv_id),
        }
    }
}

/// Whether `t` has a control character (`char::is_control`: C0, DEL, C1),
/// found byte by byte: C1 characters are U+0080 to U+009F, in UTF-8 0xC2
/// then 0x80 to 0x9F.
fn has_control(t: &str) -> bool {
    let b = t.as_bytes();
    b.iter().any(|&c| c < 0x20 || c == 0x7f) || b.windows(2).any(|w| w[0] == 0xc2 && w[1] <= 0x9f)
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

/// Sign specs with their WIT form, shared with the sessions that use it.
type WitOptions = (Vec<SignSpec>, Arc<[wit::SignOptions]>);

thread_local! {
    /// The sign specs this thread last gave the sandbox, with their WIT
    /// form.
    static WIT_OPTIONS: std::cell::RefCell<Option<WitOptions>> =
        const { std::cell::RefCell::new(None) };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The byte scan finds exactly the characters `char::is_control` does,
    /// alone and between others.
    #[test]
    fn control_characters_are_found_by_their_bytes() {
        let rest = (0x3000..0x11_0000).step_by(61);
        for c in (0..0x3000).chain(rest).filter_map(char::from_u32) {
            for t in [
                c.to_string(),
                format!("a{c}\u{e9}"),
                format!("\u{a0}{c}\u{a0}"),
            ] {
                let want = t.chars().any(char::is_control);
                assert_eq!(has_control(&t), want, "{t:?}");
            }
        }
    }

    #[test]
    fn reports_from_the_sandbox_are_checked() {
        let report = |ar: &str, summary: &str| Report {
            verdicts: vec![Verdict {
                result: "pass".into(),
                reason_code: None,
                summary: summary.into(),
            }],
            authentication_results: ar.into(),
        };
        assert!(
            report("mx; dkim=pass header.d=example.com", "pass")
                .checked()
                .is_ok()
        );
        assert!(
            report("mx; dkim=pass\nX-Spam-Status: No", "pass")
                .checked()
                .is_err()
        );
        assert!(
            report("mx; dkim=pass", "pass\nfake log line")
                .checked()
                .is_err()
        );
        assert!(report(&"a".repeat(65 * 1024), "pass").checked().is_err());
    }
}
