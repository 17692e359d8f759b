//! A message signed or verified in the sandbox, in chunks of any size.
//!
//! A session holds one instance until its end (a signer from when it first
//! needs one) and returns it to the pool when dropped (finished or not);
//! an instance that trapped is thrown away instead. A message of up to 256
//! KiB is signed in one call however it is fed; a longer one, and every
//! message verified, goes over in calls no larger than the chunks it comes
//! in (an MTA's body packets of 64 KiB, `STREAM_CALL`; at most
//! `ONE_CALL`), so an instance never holds more of the body than that:
//! its memory is bounded by the header block.
//!
//! Each method returns `Result<Result<T, GuestError>>`: the outer error is
//! the engine's (a trap: the deadline, the memory cap), the inner one what
//! the component says about the message or the options.

use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::ResourceAny;

use waxseal_core::verify::{Lookups, Query, QueryKind, VerifySteps};

use super::{ComponentHost, GuestError, Instance, Lending, ONE_CALL, STREAM_CALL, StepError, wit};
use crate::crypto::NativeKey;

/// The outcome of one call that feeds data: the engine's error outside,
/// the component's inside.
type Step = Result<Result<(), GuestError>>;

/// Sends a piece of the message into the sandbox.
type Sender<'a> = &'a mut dyn FnMut(&[u8]) -> Step;

/// The chunks held back until there are [`STREAM_CALL`] bytes to send.
#[derive(Default)]
struct Gather {
    held: Vec<u8>,
}

impl Gather {
    /// Calls `send` with what is due now that `chunk` came: held bytes
    /// once they would overflow a [`STREAM_CALL`], and a chunk of half
    /// that or more at once, without copying it (a chunk over
    /// [`ONE_CALL`] in pieces of that size); the rest is held.
    ///
    /// Design note: so a call is never larger than what the caller had at
    /// hand. An MTA's body packets (64 KiB) go over as they come and an
    /// instance held while they arrive grows by that much; a message
    /// already in memory (the command, the benchmark) goes 256 KiB a call,
    /// which on a 10 MB message is faster by several per cent.
    fn push(&mut self, chunk: &[u8], send: Sender<'_>) -> Step {
        let direct = chunk.len() >= STREAM_CALL / 2;
        // what is held goes first
        if (direct || self.held.len() + chunk.len() > STREAM_CALL)
            && let Err(e) = self.flush(send)?
        {
            return Ok(Err(e));
        }
        if direct {
            for piece in chunk.chunks(ONE_CALL) {
                if let Err(e) = send(piece)? {
                    return Ok(Err(e));
                }
            }
        } else {
            self.held.extend_from_slice(chunk);
        }
        Ok(Ok(()))
    }

    /// Sends what is held, in call-sized pieces. A buffer grown past one
    /// call (a signer's whole message, until it turned out to stream) is
    /// given up.
    fn flush(&mut self, send: Sender<'_>) -> Step {
        let mut r = Ok(Ok(()));
        for piece in self.held.chunks(STREAM_CALL) {
            r = send(piece);
            if !matches!(r, Ok(Ok(()))) {
                break;
            }
        }
        self.held.clear();
        if self.held.capacity() > STREAM_CALL {
            self.held = Vec::new();
        }
        r
    }
}

/// The instance of a session: given back to the pool on drop unless a
/// call trapped.
struct Lease {
    host: ComponentHost,
    inst: Option<Instance>,
}

impl Lease {
    /// Runs `f` on the instance with a fresh deadline; a trap (any engine
    /// error) retires the instance.
    fn call<T>(&mut self, f: impl FnOnce(&mut Instance) -> wasmtime::Result<T>) -> Result<T> {
        let Some(inst) = self.inst.as_mut() else {
            anyhow::bail!("the sandbox stopped earlier in this message");
        };
        self.host.arm(&mut inst.store);
        match f(inst) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.inst = None;
                Err(e.into())
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            self.host.checkin(inst);
        }
    }
}

/// A message being signed in the sandbox with options prepared once
/// ([`ComponentHost::signer`]).
///
/// Design note: the instance is taken from the pool only when the message
/// first needs it: when more than one call's worth has come, or at the
/// end. A message up to 256 KiB (most mail) is then signed in one call,
/// and holds an instance only for that call, not while its body trickles
/// in from the MTA: a milter with hundreds of messages in progress uses
/// about as many instances as it has cores.
pub struct SandboxSigner {
    host: ComponentHost,
    options: Arc<[wit::SignOptions]>,
    keys: Arc<Vec<NativeKey>>,
    /// The instance and its `prepared` resource, once needed.
    active: Option<(Lease, ResourceAny)>,
    gather: Gather,
    /// `begin` was called: the message streams (it did not fit in one
    /// call).
    streaming: bool,
}

impl SandboxSigner {
    pub(super) fn new(
        host: ComponentHost,
        options: Arc<[wit::SignOptions]>,
        keys: Arc<Vec<NativeKey>>,
    ) -> Self {
        SandboxSigner {
            host,
            options,
            keys,
            active: None,
            gather: Gather::default(),
            streaming: false,
        }
    }

    /// Takes an instance with these options prepared, if not yet done.
    fn ensure(&mut self) -> Result<Result<(&mut Lease, ResourceAny), GuestError>> {
        if self.active.is_none() {
            let lent = Arc::new(Lending::new(self.keys.clone(), self.options.clone()));
            let mut inst = self.host.checkout(lent, super::Role::Sign)?;
            match self.host.prepare(&mut inst, &self.options)? {
                Ok(p) => {
                    let lease = Lease {
                        host: self.host.clone(),
                        inst: Some(inst),
                    };
                    self.active = Some((lease, p));
                }
                Err(e) => {
                    self.host.checkin(inst);
                    return Ok(Err(e));
                }
            }
        }
        match self.active.as_mut() {
            Some((lease, p)) => Ok(Ok((lease, *p))),
            None => anyhow::bail!("no instance"),
        }
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Result<(), GuestError>> {
        if !self.streaming {
            if self.gather.held.len() + chunk.len() <= ONE_CALL {
                self.gather.held.extend_from_slice(chunk);
                return Ok(Ok(()));
            }
            let (lease, p) = match self.ensure()? {
                Ok(x) => x,
                Err(e) => return Ok(Err(e)),
            };
            lease.call(|i| {
                let prepared = i.bindings.waxseal_dkim_signing().prepared();
                prepared.call_begin(&mut i.store, p)
            })?;
            self.streaming = true;
        }
        let Some((lease, p)) = self.active.as_mut() else {
            anyhow::bail!("no instance");
        };
        let p = *p;
        self.gather
            .push(chunk, &mut |data| send_sign(lease, p, data))
    }

    /// Ends the message; returns the DKIM-Signature field(s), CRLF.
    pub fn finish(mut self) -> Result<Result<String, GuestError>> {
        if !self.streaming {
            // the whole message in one call
            let held = std::mem::take(&mut self.gather.held);
            return self.sign_held(&held);
        }
        let Some((lease, p)) = self.active.as_mut() else {
            anyhow::bail!("no instance");
        };
        let p = *p;
        if let Err(e) = self.gather.flush(&mut |data| send_sign(lease, p, data))? {
            return Ok(Err(e));
        }
        let r = lease.call(|i| {
            let prepared = i.bindings.waxseal_dkim_signing().prepared();
            prepared.call_finish(&mut i.store, p)
        })?;
        self.checked(r.map_err(GuestError::from))
    }

    /// The component's answer, its fields checked ([`checked_fields`]).
    fn checked(&self, r: Result<String, GuestError>) -> Result<Result<String, GuestError>> {
        Ok(match r {
            Ok(text) => Ok(checked_fields(text, self.options.len())?),
            Err(e) => Err(e),
        })
    }

    /// Signs a whole message in memory (one call when it fits, without a
    /// copy).
    pub fn sign_whole(mut self, message: &[u8]) -> Result<Result<String, GuestError>> {
        if message.len() <= ONE_CALL && !self.streaming && self.gather.held.is_empty() {
            return self.sign_held(message);
        }
        if let Err(e) = self.update(message)? {
            return Ok(Err(e));
        }
        self.finish()
    }

    fn sign_held(&mut self, message: &[u8]) -> Result<Result<String, GuestError>> {
        let (lease, p) = match self.ensure()? {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        let r = lease.call(|i| {
            let prepared = i.bindings.waxseal_dkim_signing().prepared();
            prepared.call_sign(&mut i.store, p, message)
        })?;
        self.checked(r.map_err(GuestError::from))
    }
}

fn send_sign(lease: &mut Lease, p: ResourceAny, data: &[u8]) -> Result<Result<(), GuestError>> {
    let r = lease.call(|i| {
        let prepared = i.bindings.waxseal_dkim_signing().prepared();
        prepared.call_update(&mut i.store, p, data)
    })?;
    Ok(r.map_err(GuestError::from))
}

/// A message being verified in the sandbox ([`ComponentHost::verifier`]).
pub struct SandboxVerifier {
    lease: Lease,
    res: ResourceAny,
    gather: Gather,
    /// The component said the header block is complete.
    complete: bool,
    /// The resource is still alive in the instance (not finished).
    live: bool,
    /// The most queries taken from the component: one per signature the
    /// policy verifies, and the From domain's two policy records.
    max_queries: usize,
}

impl SandboxVerifier {
    pub(super) fn new(
        host: ComponentHost,
        inst: Instance,
        res: ResourceAny,
        max_signatures: usize,
    ) -> Self {
        SandboxVerifier {
            lease: Lease {
                host,
                inst: Some(inst),
            },
            res,
            gather: Gather::default(),
            complete: false,
            live: true,
            max_queries: max_signatures.saturating_add(2),
        }
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Result<(), GuestError>> {
        let (lease, res) = (&mut self.lease, self.res);
        self.gather
            .push(chunk, &mut |data| send_verify(lease, res, data))
    }

    fn flush(&mut self) -> Result<Result<(), GuestError>> {
        let (lease, res) = (&mut self.lease, self.res);
        self.gather.flush(&mut |data| send_verify(lease, res, data))
    }

    /// Declares the message to have no body (no empty line after the
    /// header block).
    pub fn finish_headers(&mut self) -> Result<Result<(), GuestError>> {
        if let Err(e) = self.flush()? {
            return Ok(Err(e));
        }
        let res = self.res;
        let r = self.lease.call(|i| {
            let v = i.bindings.waxseal_dkim_verification().verifier();
            v.call_finish_headers(&mut i.store, res)
        })?;
        Ok(r.map_err(GuestError::from))
    }

    /// The DNS names to look up, once the header block is complete (or
    /// refused); `None` before. The answers may come while the body
    /// streams.
    pub fn queries(&mut self, lookups: Lookups) -> Result<Result<Option<Vec<Query>>, GuestError>> {
        if !self.complete {
            if let Err(e) = self.flush()? {
                return Ok(Err(e));
            }
            let res = self.res;
            self.complete = self.lease.call(|i| {
                let v = i.bindings.waxseal_dkim_verification().verifier();
                v.call_headers_complete(&mut i.store, res)
            })?;
            if !self.complete {
                return Ok(Ok(None));
            }
        }
        let res = self.res;
        let queries = self.lease.call(|i| {
            let v = i.bindings.waxseal_dkim_verification().verifier();
            v.call_queries(&mut i.store, res)
        })?;
        // the names go to DNS: taken only in the shapes the core makes, and
        // no more than the policy allows (a compromised parser could
        // otherwise send the resolver anything, as often as it likes)
        Ok(Ok(Some(
            queries
                .into_iter()
                .map(|q| Query {
                    name: q.name,
                    kind: match q.kind {
                        wit::QueryKind::Key => QueryKind::Key,
                        wit::QueryKind::LegacyPolicy => QueryKind::LegacyPolicy,
                        wit::QueryKind::Dmarc => QueryKind::Dmarc,
                    },
                })
                .filter(|q| query_shape(&q.name, q.kind))
                .take(self.max_queries)
                .filter(|q| lookups.wants(q.kind))
                .collect(),
        )))
    }

    /// The answer to a key query.
    pub fn answer(&mut self, name: &str, answer: waxseal_core::KeyAnswer) -> Result<()> {
        let answer = match answer {
            waxseal_core::KeyAnswer::Records(r) => wit::TxtAnswer::Records(r),
            waxseal_core::KeyAnswer::NxDomain => wit::TxtAnswer::NxDomain,
            waxseal_core::KeyAnswer::TempFail => wit::TxtAnswer::TempFail,
        };
        let res = self.res;
        self.lease.call(|i| {
            let v = i.bindings.waxseal_dkim_verification().verifier();
            v.call_answer(&mut i.store, res, name, &answer)
        })
    }

    /// Ends the message: a result per signature (a key query without an
    /// answer counts as a temporary DNS failure).
    pub fn finish(mut self, authserv_id: &str) -> Result<Result<wit::VerifyReport, GuestError>> {
        if let Err(e) = self.flush()? {
            return Ok(Err(e));
        }
        let res = self.res;
        self.live = false;
        let r = self.lease.call(|i| {
            let v = i.bindings.waxseal_dkim_verification().verifier();
            let r = v.call_finish(&mut i.store, res, authserv_id)?;
            res.resource_drop(&mut i.store)?;
            Ok(r)
        })?;
        Ok(r.map_err(GuestError::from))
    }
}

impl Drop for SandboxVerifier {
    fn drop(&mut self) {
        // an unfinished verifier's resource goes before the instance is
        // pooled (a finished one was dropped by `finish`); the drop runs in
        // the sandbox, so it is a call like any other: a fresh deadline, and
        // an instance that traps is not pooled
        if self.live {
            let res = self.res;
            let _ = self.lease.call(|i| res.resource_drop(&mut i.store));
        }
    }
}

/// The steps the core's verification [`Driver`](waxseal_core::verify::Driver)
/// drives, run in the sandbox.
impl VerifySteps for SandboxVerifier {
    type Error = StepError<GuestError>;

    fn update(&mut self, chunk: &[u8]) -> Result<(), Self::Error> {
        StepError::flatten(SandboxVerifier::update(self, chunk))
    }

    fn finish_headers(&mut self) -> Result<(), Self::Error> {
        StepError::flatten(SandboxVerifier::finish_headers(self))
    }

    fn queries(&mut self, lookups: Lookups) -> Result<Option<Vec<Query>>, Self::Error> {
        StepError::flatten(SandboxVerifier::queries(self, lookups))
    }

    fn answer(&mut self, name: &str, answer: waxseal_core::KeyAnswer) -> Result<(), Self::Error> {
        SandboxVerifier::answer(self, name, answer).map_err(StepError::Engine)
    }
}

fn send_verify(lease: &mut Lease, res: ResourceAny, data: &[u8]) -> Result<Result<(), GuestError>> {
    let r = lease.call(|i| {
        let v = i.bindings.waxseal_dkim_verification().verifier();
        v.call_update(&mut i.store, res, data)
    })?;
    Ok(r.map_err(GuestError::from))
}

/// The signature fields the sandbox returned, checked before they go into
/// mail: `n` fields named `DKIM-Signature`, each line ending in CRLF, each
/// continuation line starting with white space, no other control
/// character, at most 16 KiB a field. A parser taken over by a hostile
/// message could otherwise add any header field, or a line break that
/// starts one.
fn checked_fields(text: String, n: usize) -> Result<String> {
    let b = text.as_bytes();
    // one branch-free pass for the control characters (this runs for
    // every message signed), then the few line ends
    let control = b.iter().fold(false, |acc, &c| {
        acc | ((c < 0x20) & (c != b'\t') & (c != b'\r') & (c != b'\n')) | (c == 0x7f)
    });
    if control {
        anyhow::bail!("the sandbox returned a control character in a signature field");
    }
    let mut fields = 0;
    let mut size = 0;
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', b) {
        let line = &b[start..=nl];
        start = nl + 1;
        let Some(content) = line.strip_suffix(b"\r\n") else {
            anyhow::bail!("the sandbox returned a signature field line without CRLF");
        };
        if memchr::memchr(b'\r', content).is_some() {
            anyhow::bail!("the sandbox returned a bare CR in a signature field");
        }
        if content.starts_with(b" ") || content.starts_with(b"\t") {
            if fields == 0 {
                anyhow::bail!("the sandbox returned a continuation line first");
            }
            size += line.len();
        } else if content
            .get(..15)
            .is_some_and(|name| name.eq_ignore_ascii_case(b"DKIM-Signature:"))
        {
            fields += 1;
            size = line.len();
        } else {
            anyhow::bail!("the sandbox returned a field that is not a DKIM-Signature");
        }
        if size > 16 * 1024 {
            anyhow::bail!("the sandbox returned a signature field over 16 KiB");
        }
    }
    if start != b.len() {
        anyhow::bail!("the sandbox returned a signature field line without CRLF");
    }
    if fields != n {
        anyhow::bail!("the sandbox returned {fields} signature fields for {n} signatures");
    }
    Ok(text)
}

/// True when `name` is a DNS name ([`waxseal_core::domain::is_dns_name`])
/// of the shape the core asks for `kind`: `<selector>._domainkey.<domain>`,
/// `_policy._domainkey.<domain>` or `_dmarc.<domain>`.
fn query_shape(name: &str, kind: QueryKind) -> bool {
    let dns = waxseal_core::domain::is_dns_name(name);
    let lower = name.to_ascii_lowercase();
    dns && match kind {
        QueryKind::Key => {
            lower.contains("._domainkey.") && !lower.starts_with("_policy._domainkey.")
        }
        QueryKind::LegacyPolicy => lower.starts_with("_policy._domainkey."),
        QueryKind::Dmarc => lower.starts_with("_dmarc."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a parser taken over by a hostile message might return instead
    /// of signature fields never goes into mail.
    #[test]
    fn signature_fields_from_the_sandbox_are_checked() {
        let one = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.com;\r\n\ts=s; b=AAAA\r\n";
        assert!(checked_fields(one.into(), 1).is_ok());
        assert!(checked_fields(format!("{one}{}", one.to_lowercase()), 2).is_ok());
        for (bad, n) in [
            (one, 2),
            ("", 1),
            (
                "DKIM-Signature: v=1\r\nAuthentication-Results: mx; dkim=pass\r\n",
                1,
            ),
            ("DKIM-Signature: v=1\nX-Injected: yes\r\n", 1),
            ("DKIM-Signature: v=1\r\n\r\nbody\r\n", 1),
            ("DKIM-Signature: v=1; b=A\rB\r\n", 1),
            ("DKIM-Signature: v=1", 1),
            (" folded: first\r\n", 1),
        ] {
            assert!(checked_fields(bad.into(), n).is_err(), "{bad:?}");
        }
        let big = format!("DKIM-Signature: b={}\r\n", "A".repeat(17 * 1024));
        assert!(checked_fields(big, 1).is_err());
    }

    /// Only names of the shapes the core asks for go to DNS.
    #[test]
    fn query_names_from_the_sandbox_are_checked() {
        use QueryKind::{Dmarc, Key, LegacyPolicy};
        for (name, kind) in [
            ("sel._domainkey.example.com", Key),
            ("A.b._domainkey.Example.COM", Key),
            ("_policy._domainkey.example.com", LegacyPolicy),
            ("_dmarc.example.com", Dmarc),
        ] {
            assert!(query_shape(name, kind), "{name}");
        }
        let long = format!(
            "{}._domainkey.example.com",
            vec!["a".repeat(63); 4].join(".")
        );
        for (name, kind) in [
            ("example.com", Key),
            ("../x._domainkey.example.com", Key),
            ("a b._domainkey.example.com", Key),
            ("x._domainkey.example.com\n", Key),
            ("_policy._domainkey.example.com", Key),
            ("_dmarc.example.com", LegacyPolicy),
            ("sel._domainkey.example.com", Dmarc),
            (long.as_str(), Key),
        ] {
            assert!(!query_shape(name, kind), "{name:?}");
        }
    }

    /// The sandbox gets the bytes in order, whatever the chunk sizes: a
    /// signer's whole held message and chunks up to 64 KiB (an MTA's body
    /// packets, small pieces) in calls of at most [`STREAM_CALL`], a
    /// larger chunk in calls of at most [`ONE_CALL`]; a buffer grown for a
    /// whole message is given up once it is sent.
    #[test]
    fn gathered_calls_are_in_order_and_no_larger_than_what_came() {
        let mta = [
            ONE_CALL - 7,
            1,
            100,
            STREAM_CALL / 2,
            100,
            STREAM_CALL / 2 - 1,
            STREAM_CALL / 2,
            65_535,
            65_535,
            STREAM_CALL,
            3,
            10,
        ];
        let whole = [STREAM_CALL + 1, 3, 3 * ONE_CALL + 5, 10];
        for (sizes, largest) in [(&mta[..], STREAM_CALL), (&whole[..], ONE_CALL)] {
            let mut input = Vec::new();
            let mut gather = Gather::default();
            let mut calls: Vec<Vec<u8>> = Vec::new();
            for (i, &n) in sizes.iter().enumerate() {
                let chunk: Vec<u8> = (0..n).map(|j| (i * 7 + j) as u8).collect();
                input.extend_from_slice(&chunk);
                if n == ONE_CALL - 7 {
                    // a signer holds its first ONE_CALL bytes itself
                    gather.held = chunk;
                    continue;
                }
                gather
                    .push(&chunk, &mut |d| {
                        calls.push(d.to_vec());
                        Ok(Ok(()))
                    })
                    .unwrap()
                    .unwrap();
                assert!(gather.held.capacity() <= 2 * STREAM_CALL, "after chunk {i}");
            }
            gather
                .flush(&mut |d| {
                    calls.push(d.to_vec());
                    Ok(Ok(()))
                })
                .unwrap()
                .unwrap();
            assert!(calls.iter().all(|c| !c.is_empty() && c.len() <= largest));
            assert_eq!(calls.concat(), input);
            assert!(gather.held.is_empty());
        }
    }

    /// A call the component refuses ends the flush: nothing after it is
    /// sent.
    #[test]
    fn a_refused_call_stops_the_flush() {
        let mut gather = Gather {
            held: vec![1; 3 * STREAM_CALL],
        };
        let mut calls = 0;
        let r = gather
            .flush(&mut |_| {
                calls += 1;
                Ok(Err(GuestError {
                    code: wit::ErrorCode::State,
                    message: "refused".into(),
                }))
            })
            .unwrap();
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
