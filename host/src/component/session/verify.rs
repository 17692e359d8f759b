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
    /// The component said the header block is complete.
    complete: bool,
    /// The resource is still alive in the instance (not finished).
    live: bool,
    /// The most queries taken from the component: one per signature the
    /// policy verifies, and the From domain's two policy records.
    max_queries: usize,
}

impl SandboxVerifier {
    pub(in crate::component) fn new(
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
