//! Verification in the sandbox, step by step: the header block, the DNS
//! queries it asks for (checked before they go out), the body, the report.

use anyhow::Result;
use wasmtime::component::ResourceAny;

use waxseal_core::verify::{Lookups, Query, QueryKind, VerifySteps};

use super::{Gather, Lease};
use crate::component::{ComponentHost, GuestError, Instance, StepError, wit};

/// A message being verified in the sandbox ([`ComponentHost::verifier`]).
pub struct SandboxVerifier {
    lease: Lease,
    res: ResourceAny,
    gather: Gather,
    /// The queries have been handed out (the header block is complete).
    complete: bool,
    /// What `feed` said about the queries.
    fed: Fed,
    /// The key answers, given to the component with `conclude`.
    answers: Vec<(String, wit::TxtAnswer)>,
    /// The resource is still alive in the instance (not concluded).
    live: bool,
    /// The most queries taken from the component: one per signature the
    /// policy verifies, and the From domain's two policy records.
    max_queries: usize,
}

impl SandboxVerifier {
    pub(in crate::component) fn new(
        host: ComponentHost,
        inst: Box<Instance>,
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
            fed: Fed::Unknown,
            answers: Vec::new(),
            live: true,
            max_queries: max_signatures.saturating_add(2),
        }
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Result<(), GuestError>> {
        let (lease, res, fed) = (&mut self.lease, self.res, &mut self.fed);
        self.gather
            .push(chunk, &mut |data| send_verify(lease, res, data, fed))
    }

    fn flush(&mut self) -> Result<Result<(), GuestError>> {
        let (lease, res, fed) = (&mut self.lease, self.res, &mut self.fed);
        self.gather
            .flush(&mut |data| send_verify(lease, res, data, fed))
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
        // the header block is complete now: the queries are known
        if self.fed == Fed::NotYet {
            self.fed = Fed::Unknown;
        }
        Ok(r.map_err(GuestError::from))
    }

    /// The DNS names to look up, once the header block is complete (or
    /// refused); `None` before. The answers may come while the body
    /// streams.
    pub fn queries(&mut self, lookups: Lookups) -> Result<Result<Option<Vec<Query>>, GuestError>> {
        if !self.complete && !matches!(self.fed, Fed::Queries(_)) {
            // held bytes go over with `feed`, which answers for the
            // queries too; when what the component last said may be out of
            // date (nothing fed yet, the end of a header block without a
            // body), an empty `feed` asks
            if let Err(e) = self.flush()? {
                return Ok(Err(e));
            }
            if self.fed == Fed::Unknown {
                let (lease, res, fed) = (&mut self.lease, self.res, &mut self.fed);
                if let Err(e) = send_verify(lease, res, &[], fed)? {
                    return Ok(Err(e));
                }
            }
        }
        let queries = match std::mem::replace(&mut self.fed, Fed::Taken) {
            Fed::Queries(q) => q,
            Fed::NotYet | Fed::Unknown if !self.complete => {
                self.fed = Fed::NotYet;
                return Ok(Ok(None));
            }
            // asked again: the component still has them
            _ => {
                let res = self.res;
                self.lease.call(|i| {
                    let v = i.bindings.waxseal_dkim_verification().verifier();
                    v.call_queries(&mut i.store, res)
                })?
            }
        };
        self.complete = true;
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

    /// The answer to a key query: kept, and given to the component with
    /// the end of the message (one call for all of them and the end).
    pub fn answer(&mut self, name: &str, answer: waxseal_core::KeyAnswer) -> Result<()> {
        let answer = match answer {
            waxseal_core::KeyAnswer::Records(r) => wit::TxtAnswer::Records(r),
            waxseal_core::KeyAnswer::NxDomain => wit::TxtAnswer::NxDomain,
            waxseal_core::KeyAnswer::TempFail => wit::TxtAnswer::TempFail,
        };
        self.answers.push((name.to_owned(), answer));
        Ok(())
    }

    /// Ends the message: a result per signature (a key query without an
    /// answer counts as a temporary DNS failure).
    pub fn finish(mut self, authserv_id: &str) -> Result<Result<wit::VerifyReport, GuestError>> {
        if let Err(e) = self.flush()? {
            return Ok(Err(e));
        }
        let (res, answers) = (self.res, std::mem::take(&mut self.answers));
        // `conclude` takes the resource: it is gone whatever the outcome
        self.live = false;
        let r = self.lease.call(|i| {
            let v = i.bindings.waxseal_dkim_verification().verifier();
            v.call_conclude(&mut i.store, res, &answers, authserv_id)
        })?;
        Ok(r.map_err(GuestError::from))
    }
}

impl Drop for SandboxVerifier {
    fn drop(&mut self) {
        // an unfinished verifier's resource goes before the instance is
        // pooled (a finished one was used up by `conclude`); the drop runs in
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

/// What the component's `feed` said about the queries.
#[derive(Debug, PartialEq)]
enum Fed {
    /// Nothing yet, or the header block may have ended since.
    Unknown,
    /// Not known yet: the header block is incomplete.
    NotYet,
    /// The queries, until they are handed out.
    Queries(Vec<wit::Query>),
    /// Handed out.
    Taken,
}

/// Feeds `data` to the component; what it says about the queries goes to
/// `fed`.
fn send_verify(
    lease: &mut Lease,
    res: ResourceAny,
    data: &[u8],
    fed: &mut Fed,
) -> Result<Result<(), GuestError>> {
    let r = lease.call(|i| {
        let v = i.bindings.waxseal_dkim_verification().verifier();
        v.call_feed(&mut i.store, res, data)
    })?;
    Ok(match r {
        Ok(Some(queries)) => {
            *fed = Fed::Queries(queries);
            Ok(())
        }
        Ok(None) => {
            if *fed == Fed::Unknown {
                *fed = Fed::NotYet;
            }
            Ok(())
        }
        Err(e) => Err(GuestError::from(e)),
    })
}

/// True when `name` is a DNS name ([`waxseal_core::domain::is_dns_name`])
/// of the shape the core asks for `kind`: `<selector>._domainkey.<domain>`,
/// `_policy._domainkey.<domain>` or `_dmarc.<domain>`.
fn query_shape(name: &str, kind: QueryKind) -> bool {
    let dns = waxseal_core::domain::is_dns_name(name);
    // compared without case and without a lowercased copy
    let name = name.as_bytes();
    let starts = |p: &str| {
        name.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p.as_bytes()))
    };
    dns && match kind {
        QueryKind::Key => {
            let infix = b"._domainkey.";
            name.windows(infix.len())
                .any(|w| w.eq_ignore_ascii_case(infix))
                && !starts("_policy._domainkey.")
        }
        QueryKind::LegacyPolicy => starts("_policy._domainkey."),
        QueryKind::Dmarc => starts("_dmarc."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::{Limits, Role};
    use waxseal_core::verify::Driver;

    /// The RFC 8463 A.3 message (an Ed25519 and an RSA signature) and the
    /// answers to its key queries; `body: false` leaves out its body.
    fn a3(body: bool) -> (Vec<u8>, impl FnMut(&str) -> waxseal_core::KeyAnswer) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../signer-core/tests/vectors/rfc8463");
        let mut msg = std::fs::read(dir.join("a3-signed.eml")).unwrap();
        if !body {
            let end = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            msg.truncate(end + 2);
        }
        let keys = dir.join("keys");
        let lookup =
            move |name: &str| match std::fs::read_to_string(keys.join(format!("{name}.txt"))) {
                Ok(text) => waxseal_core::KeyAnswer::from_record_text(&text),
                Err(_) => waxseal_core::KeyAnswer::NxDomain,
            };
        (msg, lookup)
    }

    /// The verifier's one-call methods (`feed`, `conclude`, which the
    /// host uses) and its step-by-step ones (`update`, `headers-complete`,
    /// `queries`, `answer`, `finish`, which a component's other users
    /// may) give the same report, whole and in chunks of 1 to 1,000 bytes,
    /// with and without a body.
    #[test]
    fn feed_and_conclude_report_as_the_step_by_step_methods() {
        let host = ComponentHost::embedded(Limits::default()).unwrap();
        let policy = wit::VerifyPolicy {
            min_rsa_bits: None,
            allow_rsa_sha1: false,
            allow_unsigned_body_tail: false,
            allow_unsigned_from: false,
            allow_from_count: false,
            ignore_expiration: false,
            clock_skew: None,
            max_signatures: None,
            max_header_bytes: None,
        };
        let now = Some(1_528_637_909);
        for body in [true, false] {
            let (msg, mut lookup) = a3(body);
            // step by step, the message in one call
            let mut inst = host
                .checkout(host.shared.nothing_lent.clone(), Role::Verify)
                .unwrap();
            let v = inst.bindings.waxseal_dkim_verification().verifier();
            let st = &mut inst.store;
            let res = v.call_create(&mut *st, policy, now).unwrap();
            v.call_update(&mut *st, res, &msg).unwrap().unwrap();
            if !body {
                v.call_finish_headers(&mut *st, res).unwrap().unwrap();
            }
            assert!(v.call_headers_complete(&mut *st, res).unwrap());
            let queries = v.call_queries(&mut *st, res).unwrap();
            let keys = queries.iter().filter(|q| q.kind == wit::QueryKind::Key);
            assert_eq!(keys.clone().count(), 2);
            for q in keys {
                let waxseal_core::KeyAnswer::Records(r) = lookup(&q.name) else {
                    panic!("{} is published", q.name);
                };
                v.call_answer(&mut *st, res, &q.name, &wit::TxtAnswer::Records(r))
                    .unwrap();
            }
            let want = v.call_finish(&mut *st, res, "mx").unwrap().unwrap();
            res.resource_drop(&mut *st).unwrap();
            let passes = want
                .results
                .iter()
                .filter(|r| r.result == wit::DkimResult::Pass);
            assert_eq!(passes.count(), if body { 2 } else { 0 });
            // feed and conclude, whole and in chunks
            for chunk in [1, 7, 64, 1000, msg.len()] {
                let mut d = Driver::new(host.verifier(&policy, now).unwrap(), Lookups::Keys);
                for piece in msg.chunks(chunk) {
                    d.feed_with(piece, &mut lookup).unwrap();
                }
                // for the message without a body: `finish-headers`, then
                // `feed` of nothing for the queries
                d.end_with(&mut lookup).unwrap();
                // asked again, the component names them again
                let again = d
                    .get_mut()
                    .queries(Lookups::Keys)
                    .unwrap()
                    .unwrap()
                    .unwrap();
                assert_eq!(again.len(), 2, "{again:?}");
                let got = d.into_inner().finish("mx").unwrap().unwrap();
                assert_eq!(got, want, "body {body}, chunks of {chunk}");
            }
            // a verifier dropped halfway gives its resource back, and the
            // instance, pooled again, verifies the next message alike
            let mut v = host.verifier(&policy, now).unwrap();
            v.update(&msg[..msg.len() / 2]).unwrap().unwrap();
            drop(v);
            assert!(host.pooled() >= 1);
            let got = host
                .verify(&mut &msg[..], &policy, now, "mx", &mut lookup)
                .unwrap()
                .unwrap();
            assert_eq!(got, want, "body {body}, after a dropped verifier");
        }
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
}
