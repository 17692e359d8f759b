//! Verification (RFC 6376 6), sans-I/O.
//!
//! The [`Verifier`] takes the message in chunks. As soon as the header
//! block is complete it knows every `DKIM-Signature` and tells which DNS
//! names it needs ([`Verifier::queries`]); the caller looks them up however
//! it likes (blocking, async, DNS-over-HTTPS, a test map) and hands the
//! answers back with [`Verifier::answer`], while the body keeps streaming.
//! The body is read once for all signatures. [`Verifier::finish`] returns
//! one typed result per signature, in RFC 8601 words, and an
//! `Authentication-Results` value. [`Driver`] is that loop, written once
//! for every face (blocking or async).
//!
//! ```
//! use waxseal_core::verify::{verify, KeyAnswer, VerifyPolicy};
//! let msg = include_bytes!("../../tests/vectors/rfc8463/a3-signed.eml");
//! let report = verify(msg, &VerifyPolicy::default(), Some(1528637909), &mut |name: &str| {
//!     match name {
//!         "brisbane._domainkey.football.example.com" => KeyAnswer::record(
//!             "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
//!         _ => KeyAnswer::NxDomain,
//!     }
//! })?;
//! assert_eq!(report.results[0].result.as_str(), "pass");   // ed25519
//! assert_eq!(report.results[1].result.as_str(), "permerror"); // no RSA key published
//! # Ok::<(), waxseal_core::Error>(())
//! ```
//!
//! # What counts as what
//!
//! Checks run in the order of RFC 6376 6.1: the signature field (6.1.1),
//! the key (6.1.2), then the hashes (6.1.3). The cryptographic check runs
//! even where policy will reject the signature (rsa-sha1, small keys,
//! expired, l=), so that "valid but not acceptable" (`policy`) is told apart
//! from "broken" (`fail`).
//!
//! | result | reasons |
//! |--------|---------|
//! | `pass` | it verifies and policy accepts it |
//! | `fail` | body hash mismatch; bad signature; key revoked (6.1.2: "treat this as a failed signature check") |
//! | `policy` | rsa-sha1 (RFC 8301 3.1); RSA key under the minimum (RFC 8301 3.2); `l=` leaves part of the body unsigned; expired (`x=`); timestamp in the future |
//! | `permerror` | signature syntax (missing tag, bad value, unknown algorithm, ...); From not signed; i= not under d=; x= before t=; l= larger than the body; no key; key syntax; k= does not match a=; key h= forbids the hash; key s= excludes email; key t=s and i= in a subdomain; query method not dns/txt |
//! | `temperror` | the key lookup failed temporarily, or was never answered |
//! | `neutral` | not evaluated: more signatures than the policy allows (one entry for all of them) |
//! | `none` | the message has no signature (message-level, see [`VerificationReport`]) |
//!
//! A key record with `t=y` (testing) is reported and does not change the
//! result.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use crate::canonicalize::BodyCanonicalizer;
use crate::domain::Domain;
use crate::error::Error;
use crate::hash::{BodyHashSet, Sha256Factory};
use crate::message::{self, HeaderField};
use crate::policy::{DmarcRecord, LegacyPolicy};
use crate::sign::{header_hash_input, select_headers};
use crate::signature::{DkimSignature, HEADER_NAME, SignatureLabels};

pub mod auth_results;
mod backend;
mod checks;
mod driver;
mod finish;
mod inputs;
mod results;

pub use backend::{Keeping, RustCrypto, VerifyDigest, same_bytes};
use checks::{Check, check_signature_field, keep};
pub use driver::{Driver, Lookup, Lookups, VerifySteps};
pub use finish::{Deferred, PendingCheck};
pub use inputs::*;
pub use results::*;

/// At most this many TXT records at a key's name are tried (RFC 6376
/// 3.6.2.2 leaves several records undefined; a bound keeps a signer's DNS
/// from multiplying the work).
pub const MAX_KEY_RECORDS: usize = 4;

/// What the verifier keeps per DKIM-Signature field while the message
/// streams past.
struct SigState {
    /// d=, s=, i=, a= as far as they could be read (for the report).
    labels: SignatureLabels,
    /// The parsed signature and the range of its b= value inside the
    /// field's raw bytes, or why the field is not a usable signature.
    parsed: Result<(DkimSignature, Range<usize>), Reason>,
    /// Index of the body hasher this signature shares (one per distinct
    /// canonicalization, hash and l=).
    body_slot: Option<usize>,
    /// Index of its key query.
    query: Option<usize>,
    /// Index of the field among the header fields.
    field: usize,
}

enum Phase {
    Headers {
        scan: usize,
    },
    Body,
    /// The header block went over the limit: the rest of the message is
    /// skipped and the report says why.
    Refused,
    Done,
}

/// The streaming, sans-I/O verifier. See the [module docs](self).
pub struct Verifier {
    policy: VerifyPolicy,
    now: Option<u64>,
    phase: Phase,
    buf: Vec<u8>,
    header_len: usize,
    /// The header block's fields, found once.
    spans: Vec<message::FieldSpan>,
    sigs: Vec<SigState>,
    queries: Vec<(Query, Option<KeyAnswer>)>,
    hashes: BodyHashSet,
    sha256: Option<Sha256Factory>,
    from_domain: Option<String>,
    diag_limit: Option<usize>,
    diag: Vec<(BodyCanonicalizer, Vec<u8>, bool)>,
}

impl Verifier {
    /// A verifier with this policy. `now` is the current time in seconds
    /// since 1970, for `x=` and `t=`; with `None` they are not checked.
    pub fn new(policy: VerifyPolicy, now: Option<u64>) -> Self {
        Verifier {
            policy,
            now,
            phase: Phase::Headers { scan: 0 },
            buf: Vec::new(),
            header_len: 0,
            spans: Vec::new(),
            sigs: Vec::new(),
            queries: Vec::new(),
            hashes: BodyHashSet::new(),
            sha256: None,
            from_domain: None,
            diag_limit: None,
            diag: Vec::new(),
        }
    }

    /// Computes SHA-256 (body and header hashes) with `sha256` instead of
    /// the built-in implementation: see [`ExternalSha256`]. Must be called
    /// before the first [`update`](Self::update).
    ///
    /// [`ExternalSha256`]: crate::ExternalSha256
    pub fn set_sha256(&mut self, sha256: Sha256Factory) {
        self.sha256 = Some(sha256);
        self.hashes.set_sha256(Some(sha256));
    }

    /// Keeps what was hashed, with up to `body_limit` bytes of each
    /// canonicalized body, in each result's `diagnostics`. Must be called
    /// before the first [`update`](Self::update). Costs a second
    /// canonicalization pass over the body.
    pub fn diagnostics(&mut self, body_limit: usize) {
        self.diag_limit = Some(body_limit);
    }

    /// True once the header block is complete: [`queries`](Self::queries)
    /// is then final.
    pub fn headers_complete(&self) -> bool {
        !matches!(self.phase, Phase::Headers { .. })
    }

    /// Feeds the next chunk of the message. Fails only when the header
    /// block is malformed. A header block over
    /// [`VerifyPolicy::max_header_bytes`] is not an error: the rest of the
    /// message is skipped and the report has one `permerror` result with
    /// [`Reason::HeaderTooLarge`], so a receiver can say why in its
    /// Authentication-Results.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let limit = self.policy.max_header_bytes;
        match self.phase {
            Phase::Headers { scan } => {
                if self.buf.is_empty()
                    && let Some((header_len, body_start)) = message::find_header_end(chunk, 0)
                {
                    // Fast path (one-shot): hash the body straight from
                    // the chunk instead of copying it.
                    if header_len > limit {
                        self.refuse();
                        return Ok(());
                    }
                    self.buf.extend_from_slice(&chunk[..body_start]);
                    self.start_body(header_len)?;
                    self.body(&chunk[body_start..]);
                    return Ok(());
                }
                // never hold more than the limit (and a line end) of a
                // header block that does not end
                let room = (limit + 2).saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                match message::find_header_end(&self.buf, scan) {
                    Some((header_len, _)) if header_len > limit => self.refuse(),
                    None if self.buf.len() > limit && message::cr_only(&self.buf) => {
                        return Err(Error::CrLineEnds);
                    }
                    Some((header_len, body_start)) => {
                        let body = self.buf.split_off(body_start);
                        self.start_body(header_len)?;
                        self.body(&body);
                        // what did not fit in the buffer is body too
                        if chunk.len() > room {
                            self.body(&chunk[room..]);
                        }
                    }
                    None if self.buf.len() > limit => self.refuse(),
                    None => {
                        self.phase = Phase::Headers {
                            scan: message::resume_point(&self.buf, scan),
                        };
                    }
                }
                Ok(())
            }
            Phase::Body => {
                self.body(chunk);
                Ok(())
            }
            Phase::Refused => Ok(()),
            Phase::Done => Err(Error::AlreadyFinished),
        }
    }

    /// Gives up on a header block over the limit (see
    /// [`update`](Self::update)).
    fn refuse(&mut self) {
        self.phase = Phase::Refused;
        self.buf = Vec::new();
        self.header_len = 0;
    }

    fn body(&mut self, chunk: &[u8]) {
        self.hashes.update(chunk);
        for (canon, out, truncated) in &mut self.diag {
            let limit = self.diag_limit.unwrap_or(0);
            canon.update(chunk, &mut |b: &[u8]| keep(out, truncated, limit, b));
        }
    }

    /// The DNS TXT names to look up: key records first, then the legacy
    /// policy and DMARC records of the From domain (information only;
    /// answering them is optional). Empty until the header block is
    /// complete.
    pub fn queries(&self) -> Vec<Query> {
        self.queries_for(Lookups::All)
    }

    /// The queries of the kinds `lookups` names.
    pub fn queries_for(&self, lookups: Lookups) -> Vec<Query> {
        self.queries
            .iter()
            .filter(|(q, _)| lookups.wants(q.kind))
            .map(|(q, _)| q.clone())
            .collect()
    }

    /// [`queries_for`](Self::queries_for) once the header block is
    /// complete (or refused); `None` before, when they are not known yet.
    pub fn known_queries(&self, lookups: Lookups) -> Option<Vec<Query>> {
        self.headers_complete().then(|| self.queries_for(lookups))
    }

    /// The queries not answered yet.
    pub fn pending_queries(&self) -> Vec<Query> {
        self.queries
            .iter()
            .filter(|(_, a)| a.is_none())
            .map(|(q, _)| q.clone())
            .collect()
    }

    /// Supplies the answer for `name` (case-insensitive, trailing dot
    /// ignored). Answers for names not asked for are ignored.
    pub fn answer(&mut self, name: &str, answer: KeyAnswer) {
        let name = name.strip_suffix('.').unwrap_or(name);
        // names are unique (see `add_query`)
        if let Some((_, a)) = self
            .queries
            .iter_mut()
            .find(|(q, _)| q.name.eq_ignore_ascii_case(name))
        {
            *a = Some(answer);
        }
    }

    fn add_query(&mut self, name: String, kind: QueryKind) -> usize {
        match self
            .queries
            .iter()
            .position(|(q, _)| q.name.eq_ignore_ascii_case(&name))
        {
            Some(i) => i,
            None => {
                self.queries.push((Query { name, kind }, None));
                self.queries.len() - 1
            }
        }
    }

    fn start_body(&mut self, header_len: usize) -> Result<(), Error> {
        self.header_len = header_len;
        self.phase = Phase::Body;
        let block = core::mem::take(&mut self.buf);
        let result = self.read_headers(&block[..header_len]);
        self.buf = block;
        result
    }

    fn read_headers(&mut self, block: &[u8]) -> Result<(), Error> {
        if message::cr_only(block) {
            return Err(Error::CrLineEnds);
        }
        self.spans = message::parse_header_spans(block)?;
        let fields: Vec<HeaderField<'_>> = self.spans.iter().map(|s| s.field(block)).collect();
        self.from_domain = from_domain(&fields);
        let chosen = chosen_signatures(
            &fields,
            self.from_domain.as_deref(),
            self.policy.max_signatures,
        );
        // the entry that stands for the signatures not verified
        let mut lump: Option<usize> = None;
        for (index, f) in fields.iter().enumerate() {
            if !f.is(HEADER_NAME) {
                continue;
            }
            if chosen
                .as_ref()
                .is_some_and(|c: &Vec<usize>| !c.contains(&index))
            {
                // One entry stands for every signature beyond the limit,
                // so a header block of thousands of signatures costs no
                // more than reading their d= tags.
                match lump.map(|i| &mut self.sigs[i].parsed) {
                    Some(Err(Reason::TooManySignatures { more, .. })) => *more += 1,
                    _ => {
                        lump = Some(self.sigs.len());
                        self.sigs.push(SigState {
                            labels: SignatureLabels::salvage(f.value),
                            parsed: Err(Reason::TooManySignatures {
                                limit: self.policy.max_signatures,
                                more: 1,
                            }),
                            body_slot: None,
                            query: None,
                            field: index,
                        });
                    }
                }
                continue;
            }
            let (labels, parsed) = DkimSignature::parse_with_labels(f.value);
            let parsed = parsed.map_err(Reason::Syntax).and_then(|(sig, region)| {
                let off = f.raw.len() - f.value.len();
                check_signature_field(&self.policy, &sig)?;
                Ok((sig, off + region.start..off + region.end))
            });
            let (body_slot, query) = match &parsed {
                Ok((sig, _)) => {
                    let slot = self.hashes.add(
                        sig.canonicalization.body,
                        sig.algorithm.hash(),
                        sig.body_length,
                    );
                    if self.diag_limit.is_some()
                        && !self
                            .diag
                            .iter()
                            .any(|d| d.0.algorithm() == sig.canonicalization.body)
                    {
                        self.diag.push((
                            BodyCanonicalizer::new(sig.canonicalization.body),
                            Vec::new(),
                            false,
                        ));
                    }
                    let name = sig.selector.record_name(&sig.domain);
                    (Some(slot), Some(self.add_query(name, QueryKind::Key)))
                }
                Err(_) => (None, None),
            };
            self.sigs.push(SigState {
                labels,
                parsed,
                body_slot,
                query,
                field: index,
            });
        }
        if let Some(dom) = self
            .from_domain
            .as_deref()
            .and_then(|d| Domain::new(d).ok())
        {
            // a From domain near the length limit has no room for the
            // prefixes: its policy records cannot exist
            for (name, kind) in [
                (LegacyPolicy::record_name(&dom), QueryKind::LegacyPolicy),
                (DmarcRecord::record_name(&dom), QueryKind::Dmarc),
            ] {
                if crate::domain::fits_dns(name.len()) {
                    self.add_query(name, kind);
                }
            }
        }
        Ok(())
    }
}

/// The indexes of the signature fields verified when there are more than
/// `max`; `None` when all are.
///
/// Design note: relays and lists add their signatures above the author's,
/// so the first `max` from the top can leave out the one a DMARC check
/// needs (RFC 7489 3.1.1: `d=` aligned with the From domain). Those whose
/// `d=` is the From domain come first, then those whose `d=` is a parent
/// of it, then the others, each group top to bottom. The rest are
/// reported as one neutral entry; none of this can turn a result into a
/// pass.
fn chosen_signatures(
    fields: &[HeaderField<'_>],
    from: Option<&str>,
    max: usize,
) -> Option<Vec<usize>> {
    let sigs = || fields.iter().enumerate().filter(|(_, f)| f.is(HEADER_NAME));
    if sigs().count() <= max {
        return None;
    }
    let rank = |f: &HeaderField<'_>| -> u8 {
        let (Some(from), Some(d)) = (from, SignatureLabels::salvage(f.value).domain) else {
            return 2;
        };
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        if d == from {
            0
        } else if from.len() > d.len()
            && from.ends_with(&d)
            && from.as_bytes()[from.len() - d.len() - 1] == b'.'
        {
            1
        } else {
            2
        }
    };
    let ranked: Vec<(u8, usize)> = sigs().map(|(i, f)| (rank(f), i)).collect();
    // by rank, then from the top (no sort: a few lines of code in the
    // component, where a sort is kilobytes)
    let chosen = (0..=2)
        .flat_map(|r| ranked.iter().filter(move |x| x.0 == r).map(|x| x.1))
        .take(max)
        .collect();
    Some(chosen)
}

/// The domain of the first address in the first From field, if any,
/// lower-cased (see [`crate::address::mailbox`]).
pub fn from_domain(fields: &[HeaderField<'_>]) -> Option<String> {
    let f = fields.iter().find(|f| f.is("from"))?;
    crate::address::mailbox_domain(f.value)
}

/// Verifies a whole message in one call, asking `lookup` for each DNS
/// name (key records, and the optional policy records) as needed.
pub fn verify(
    message: &[u8],
    policy: &VerifyPolicy,
    now: Option<u64>,
    lookup: &mut dyn FnMut(&str) -> KeyAnswer,
) -> Result<VerificationReport, Error> {
    let mut d = Driver::new(Verifier::new(policy.clone(), now), Lookups::All);
    d.feed_with(message, lookup)?;
    d.end_with(lookup)?;
    d.into_inner().finish()
}

impl Verifier {
    /// Declares the message to have no body (no empty line after the
    /// header block), so that the queries become known before
    /// [`finish`](Self::finish).
    pub fn finish_headers(&mut self) -> Result<(), Error> {
        match self.phase {
            Phase::Headers { .. } if self.buf.is_empty() => Err(Error::EmptyMessage),
            Phase::Headers { .. } if self.buf.len() > self.policy.max_header_bytes => {
                self.refuse();
                Ok(())
            }
            Phase::Headers { .. } => self.start_body(self.buf.len()),
            Phase::Done => Err(Error::AlreadyFinished),
            Phase::Body | Phase::Refused => Ok(()),
        }
    }
}
