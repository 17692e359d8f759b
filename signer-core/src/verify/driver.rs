//! [`Driver`]: the verification loop, once for every face.

use alloc::vec::Vec;

use super::{KeyAnswer, Query, QueryKind, Verifier};
use crate::error::Error;

/// The steps of a streaming verifier session, whatever runs it (the core
/// in this process, a sandboxed instance, ...). `Error` is the session's
/// own failure type (for a sandbox: a malformed message or a trapped
/// instance).
pub trait VerifySteps {
    /// Why a step failed.
    type Error;
    /// Feeds the next chunk of the message.
    fn update(&mut self, chunk: &[u8]) -> Result<(), Self::Error>;
    /// Declares the end of the message's header block when it has no
    /// body (no empty line after the header fields).
    fn finish_headers(&mut self) -> Result<(), Self::Error>;
    /// The DNS queries the message needs (those `lookups` names), once
    /// its header block is complete (or refused as over the limit: then
    /// none); `None` before.
    fn queries(&mut self, lookups: Lookups) -> Result<Option<Vec<Query>>, Self::Error>;
    /// The answer for one queried name.
    fn answer(&mut self, name: &str, answer: KeyAnswer) -> Result<(), Self::Error>;
}

/// Answers a message's DNS queries, blocking: all of them in one call, so
/// an implementation can resolve them concurrently under one deadline.
/// Any `FnMut(&str) -> KeyAnswer` is one, asked name by name.
pub trait Lookup {
    /// One answer per query, in order.
    fn lookup_all(&mut self, queries: &[Query]) -> Vec<KeyAnswer>;
}

impl<F: FnMut(&str) -> KeyAnswer + ?Sized> Lookup for F {
    fn lookup_all(&mut self, queries: &[Query]) -> Vec<KeyAnswer> {
        queries.iter().map(|q| self(&q.name)).collect()
    }
}

/// Which of a message's queries to hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookups {
    /// Key records only: what the verdicts need.
    Keys,
    /// Key records and the From domain's policy records (DMARC and the
    /// legacy ADSP-style record: information for the report only).
    All,
}

/// The verification loop over a session.
///
/// Every face verifies the same way: feed the message in chunks; the
/// moment the header block is complete, the verifier knows every DNS name
/// it needs, so the lookups start then and run while the body streams; at
/// the end of the message (a message without a body completes its header
/// block only there) whatever was not asked yet is asked; the answers go
/// in; the verifier finishes. [`Driver`] is that loop, written once over
/// the four steps a verifier session offers ([`VerifySteps`]): the core's
/// [`Verifier`], the host's native and sandboxed sessions, and the
/// JavaScript face all drive it. A blocking caller hands it a [`Lookup`]
/// (a function from name to answer is one; a resolver that asks for all
/// names at once is another) to [`Driver::feed_with`] and
/// [`Driver::end_with`]; an async caller
/// (the milter, JavaScript) takes the queries [`Driver::feed`] and
/// [`Driver::end`] return, resolves them concurrently under its own
/// deadline, and hands the answers to [`Driver::answer`].
///
/// ```
/// use waxseal_core::verify::{Driver, KeyAnswer, Lookups, Verifier, VerifyPolicy};
/// let msg: &[u8] = include_bytes!("../../tests/vectors/rfc8463/a3-signed.eml");
/// let mut lookup = |name: &str| match name {
///     "brisbane._domainkey.football.example.com" => KeyAnswer::record(
///         "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
///     _ => KeyAnswer::NxDomain,
/// };
/// let mut d = Driver::new(Verifier::new(VerifyPolicy::default(), Some(1528637909)), Lookups::Keys);
/// for chunk in msg.chunks(100) {
///     d.feed_with(chunk, &mut lookup)?;
/// }
/// d.end_with(&mut lookup)?;
/// let report = d.into_inner().finish()?;
/// assert_eq!(report.results[0].result.as_str(), "pass");
/// # Ok::<(), waxseal_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Driver<S> {
    steps: S,
    lookups: Lookups,
    asked: bool,
}

impl<S: VerifySteps> Driver<S> {
    /// Drives `steps`, handing out the queries `lookups` names.
    pub fn new(steps: S, lookups: Lookups) -> Self {
        Driver {
            steps,
            lookups,
            asked: false,
        }
    }

    /// Feeds the next chunk. Returns the queries to look up the one time
    /// they become known (the chunk that completes the header block);
    /// empty otherwise.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Query>, S::Error> {
        self.steps.update(chunk)?;
        self.ask()
    }

    /// The whole message is in: returns the queries not handed out yet
    /// (those of a message without a body; empty otherwise).
    pub fn end(&mut self) -> Result<Vec<Query>, S::Error> {
        if self.asked {
            return Ok(Vec::new());
        }
        self.steps.finish_headers()?;
        let queries = self.ask()?;
        // a session that still names nothing has nothing to ask
        self.asked = true;
        Ok(queries)
    }

    /// Hands the answer for `name` to the session.
    pub fn answer(&mut self, name: &str, answer: KeyAnswer) -> Result<(), S::Error> {
        self.steps.answer(name, answer)
    }

    /// [`feed`](Self::feed), then looks up what it returns with `lookup`
    /// (a blocking caller's loop).
    pub fn feed_with<L: Lookup + ?Sized>(
        &mut self,
        chunk: &[u8],
        lookup: &mut L,
    ) -> Result<(), S::Error> {
        let queries = self.feed(chunk)?;
        self.answer_with(queries, lookup)
    }

    /// [`end`](Self::end), then looks up what it returns with `lookup`.
    pub fn end_with<L: Lookup + ?Sized>(&mut self, lookup: &mut L) -> Result<(), S::Error> {
        let queries = self.end()?;
        self.answer_with(queries, lookup)
    }

    /// Whether the queries have been handed out.
    pub fn asked(&self) -> bool {
        self.asked
    }

    /// The session, to finish it.
    pub fn into_inner(self) -> S {
        self.steps
    }

    /// The session.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.steps
    }

    fn ask(&mut self) -> Result<Vec<Query>, S::Error> {
        if self.asked {
            return Ok(Vec::new());
        }
        let Some(queries) = self.steps.queries(self.lookups)? else {
            return Ok(Vec::new());
        };
        self.asked = true;
        Ok(queries)
    }

    fn answer_with<L: Lookup + ?Sized>(
        &mut self,
        queries: Vec<Query>,
        lookup: &mut L,
    ) -> Result<(), S::Error> {
        if queries.is_empty() {
            return Ok(());
        }
        let answers = lookup.lookup_all(&queries);
        // a lookup that answers fewer names leaves the rest unanswered:
        // temperror, as for any query never answered
        for (q, a) in queries.iter().zip(answers) {
            self.steps.answer(&q.name, a)?;
        }
        Ok(())
    }
}

impl Lookups {
    /// Whether a query of this kind is handed out.
    pub fn wants(self, kind: QueryKind) -> bool {
        self == Lookups::All || kind == QueryKind::Key
    }
}

impl VerifySteps for Verifier {
    type Error = Error;

    fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        Verifier::update(self, chunk)
    }

    fn finish_headers(&mut self) -> Result<(), Error> {
        Verifier::finish_headers(self)
    }

    fn queries(&mut self, lookups: Lookups) -> Result<Option<Vec<Query>>, Error> {
        Ok(self.known_queries(lookups))
    }

    fn answer(&mut self, name: &str, answer: KeyAnswer) -> Result<(), Error> {
        Verifier::answer(self, name, answer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::verify::VerifyPolicy;
    use alloc::string::String;

    const MSG: &[u8] = include_bytes!("../../tests/vectors/rfc8463/a3-signed.eml");

    fn driver() -> Driver<Verifier> {
        Driver::new(
            Verifier::new(VerifyPolicy::default(), Some(1528637909)),
            Lookups::All,
        )
    }

    #[test]
    fn queries_come_once_with_the_chunk_that_ends_the_header_block() {
        let split = MSG.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut d = driver();
        assert!(d.feed(&MSG[..split - 1]).unwrap().is_empty());
        let q = d.feed(&MSG[split - 1..split]).unwrap();
        let names: Vec<String> = q.iter().map(|q| q.name.clone()).collect();
        assert!(names.contains(&"brisbane._domainkey.football.example.com".into()));
        assert!(q.iter().any(|q| q.kind == QueryKind::Dmarc));
        assert!(d.feed(&MSG[split..]).unwrap().is_empty());
        assert!(d.end().unwrap().is_empty());
    }

    /// RFC 1035 2.3.4: a key record name over 253 characters cannot
    /// exist; the signature is a permanent error, asked of nobody (a
    /// resolver would refuse the name, which reads as temperror).
    #[test]
    fn a_key_record_name_too_long_for_dns_is_permerror_unasked() {
        let d = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "example".into(),
        ]
        .join(".");
        let s = "s".repeat(253 - d.len() - 11);
        let msg = alloc::format!(
            "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d={d}; s={s}; h=from; bh=AAAA; b=AAAA\r\nFrom: x@{d}\r\n\r\nhi\r\n"
        );
        let mut asked = Vec::new();
        let mut verify = |msg: &str| {
            crate::verify::verify(
                msg.as_bytes(),
                &VerifyPolicy::default(),
                None,
                &mut |n: &str| {
                    asked.push(String::from(n));
                    KeyAnswer::NxDomain
                },
            )
            .unwrap()
        };
        let r = verify(&msg);
        assert_eq!(r.results[0].result, crate::verify::DkimResult::PermError);
        assert_eq!(
            r.results[0].reason,
            Some(crate::verify::Reason::Syntax(crate::Error::InvalidSelector))
        );
        // with the prefix one shorter, the same signature is looked up
        verify(&msg.replacen("; s=s", "; s=", 1));
        // the From domain's policy records are asked for each time; the
        // key only the second time
        let keys: Vec<&String> = asked.iter().filter(|n| n.starts_with('s')).collect();
        assert_eq!(keys.len(), 1, "{asked:?}");
        assert!(
            keys[0].starts_with(&"s".repeat(253 - d.len() - 12)),
            "{keys:?}"
        );
        assert_eq!(keys[0].len(), 253);
    }

    #[test]
    fn a_message_without_body_asks_at_the_end() {
        let split = MSG.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 2;
        let mut d = Driver::new(
            Verifier::new(VerifyPolicy::default(), Some(1528637909)),
            Lookups::Keys,
        );
        assert!(d.feed(&MSG[..split]).unwrap().is_empty());
        let q = d.end().unwrap();
        assert_eq!(q.len(), 2);
        assert!(q.iter().all(|q| q.kind == QueryKind::Key));
        assert!(d.end().unwrap().is_empty());
    }

    #[test]
    fn a_refused_header_block_asks_nothing_and_stops_asking() {
        let policy = VerifyPolicy {
            max_header_bytes: 100,
            ..VerifyPolicy::default()
        };
        let mut d = Driver::new(Verifier::new(policy, None), Lookups::All);
        assert!(d.feed(MSG).unwrap().is_empty());
        assert!(d.asked());
        assert!(d.end().unwrap().is_empty());
    }

    #[test]
    fn every_split_point_gives_the_same_report() {
        let mut lookup = |name: &str| match name {
            "brisbane._domainkey.football.example.com" => KeyAnswer::record(
                "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            ),
            _ => KeyAnswer::NxDomain,
        };
        let whole =
            crate::verify::verify(MSG, &VerifyPolicy::default(), Some(1528637909), &mut lookup)
                .unwrap();
        for at in 0..=MSG.len() {
            let mut d = driver();
            d.feed_with(&MSG[..at], &mut lookup).unwrap();
            d.feed_with(&MSG[at..], &mut lookup).unwrap();
            d.end_with(&mut lookup).unwrap();
            let r = d.into_inner().finish().unwrap();
            assert_eq!(r, whole, "split at {at}");
        }
    }
}
