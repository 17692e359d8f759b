//! Signing (RFC 6376 5): choosing the header fields, hashing header and
//! body, and producing `DKIM-Signature` fields, several in one pass over
//! the message.
//!
//! ```
//! use waxseal_core::{sign, Domain, PrivateKey, Selector, SignOptions};
//! let key = PrivateKey::from_ed25519_seed(&[7; 32]);
//! let mut opts = SignOptions::new(Domain::new("example.com")?, Selector::new("sel")?);
//! opts.timestamp = Some(1_700_000_000);
//! let sigs = sign(b"From: a@example.com\r\n\r\nHi\r\n", &[(&opts, &key)])?;
//! assert!(sigs[0].field.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"));
//! # Ok::<(), waxseal_core::Error>(())
//! ```

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::OnceCell;
use core::fmt;

use crate::canonicalize::{Canonicalization, CanonicalizationAlgorithm, canonicalize_header};
use crate::domain::{Domain, Identity, Selector};
use crate::error::Error;
use crate::hash::{BodyHashSet, Digest, HashAlgorithm, Sha256Factory};
use crate::keys::{SignDigest, SigningAlgorithm};
use crate::message::{self, FieldSpan, HeaderField};
use crate::signature::{DkimSignature, is_field_name};

/// Header fields signed by default when present: the RFC 6376 5.4.1 list,
/// plus Message-ID and the MIME fields.
///
/// Design note: RFC 6376 5.4.1 lists From, Reply-To, Subject, Date, To,
/// Cc, Resent-Date, Resent-From, Resent-To, Resent-Cc, In-Reply-To,
/// References and the List-* fields. waxseal also signs Message-ID,
/// MIME-Version, Content-Type and Content-Transfer-Encoding (as RFC 4871
/// did and OpenDKIM and mailauth do): an unsigned Content-Type lets a
/// forwarder change the MIME boundary and so what the reader sees.
pub const DEFAULT_SIGNED_HEADERS: &[&str] = &[
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "resent-date",
    "resent-from",
    "resent-to",
    "resent-cc",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// Header fields oversigned by default: listed in `h=` once more than
/// they occur, so that a copy added later (a second From, an added Cc)
/// breaks the signature (RFC 6376 8.15). Besides the fields a reader
/// sees, the three that decide how the body is shown: a `Content-Type:
/// text/html` and `MIME-Version` added to a plain-text message would
/// otherwise leave the signature valid while the reader sees something
/// else (RFC 6376 8.15, "Addition of new MIME parts"; RFC 2045 4 and 5).
pub const DEFAULT_OVERSIGNED_HEADERS: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "cc",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// A header field name in a [`HeaderSelection`]: the defaults are static
/// strings, so options are cheap to build and clone.
pub type HeaderName = Cow<'static, str>;

/// Which header fields to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSelection {
    /// Names signed for every occurrence present in the message. `From` is
    /// always signed, listed or not. Default: [`DEFAULT_SIGNED_HEADERS`].
    pub sign: Vec<HeaderName>,
    /// Names listed once more than they occur (so also when absent).
    /// Default: [`DEFAULT_OVERSIGNED_HEADERS`].
    pub oversign: Vec<HeaderName>,
}

impl Default for HeaderSelection {
    fn default() -> Self {
        HeaderSelection {
            sign: DEFAULT_SIGNED_HEADERS
                .iter()
                .map(|s| Cow::Borrowed(*s))
                .collect(),
            oversign: DEFAULT_OVERSIGNED_HEADERS
                .iter()
                .map(|s| Cow::Borrowed(*s))
                .collect(),
        }
    }
}

impl HeaderSelection {
    /// Sign exactly these names (each occurrence present), oversign none.
    pub fn only<I: IntoIterator<Item = S>, S: Into<HeaderName>>(names: I) -> Self {
        HeaderSelection {
            sign: names.into_iter().map(Into::into).collect(),
            oversign: Vec::new(),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self
            .sign
            .iter()
            .chain(&self.oversign)
            .all(|n| is_field_name(n))
        {
            Ok(())
        } else {
            Err(Error::InvalidHeaderName)
        }
    }

    /// The `h=` list for a message with these header fields: each name as
    /// many times as it occurs (plus one when oversigned), lower-cased, in
    /// the order of `sign` then the extra `oversign` names; `from` first
    /// if it is in neither.
    pub fn h_list(&self, fields: &[HeaderField<'_>]) -> Result<Vec<HeaderName>, Error> {
        self.validate()?;
        HeaderPlan::new(self).h_list(fields).map(|(h, _)| h)
    }
}

/// A [`HeaderSelection`] compiled once, when a signature is requested:
/// each name once (where it is first listed, case-insensitively),
/// lower-cased, with its filter bit and whether it is oversigned. Making
/// the `h=` list of a message is then a walk over these entries.
#[derive(Debug, Clone)]
struct HeaderPlan {
    entries: Vec<PlanEntry>,
    /// The filter bits of the oversigned names.
    oversigned: u64,
}

#[derive(Debug, Clone)]
struct PlanEntry {
    name: HeaderName,
    bit: u64,
    oversigned: bool,
}

impl HeaderPlan {
    fn new(sel: &HeaderSelection) -> Self {
        fn lower(name: &HeaderName) -> HeaderName {
            // the defaults are static lower-case names: no copy
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                HeaderName::Owned(name.to_ascii_lowercase())
            } else {
                name.clone()
            }
        }
        let listed = sel.sign.iter().chain(&sel.oversign).map(lower);
        let from = HeaderName::Borrowed("from");
        let first = (!listed.clone().any(|n| n == "from")).then_some(from);
        let over: Vec<HeaderName> = sel.oversign.iter().map(lower).collect();
        let over_bits = over
            .iter()
            .fold(0, |acc, n| acc | NameFilter::bit(n.as_bytes()));
        // Lists longer than the filter has bits are looked up in a set,
        // so that building the plan stays O(n log n) for any list.
        let long = sel.sign.len() + sel.oversign.len() > 64;
        let over_set: BTreeSet<&HeaderName> = if long {
            over.iter().collect()
        } else {
            BTreeSet::new()
        };
        let mut seen: BTreeSet<HeaderName> = BTreeSet::new();
        let mut seen_bits = 0u64;
        let mut entries: Vec<PlanEntry> = Vec::new();
        for name in first.into_iter().chain(listed) {
            let bit = NameFilter::bit(name.as_bytes());
            // a name listed twice counts once, where first listed
            let repeat = if long {
                !seen.insert(name.clone())
            } else {
                seen_bits & bit != 0 && entries.iter().any(|e| e.bit == bit && e.name == name)
            };
            if repeat {
                continue;
            }
            seen_bits |= bit;
            let oversigned = over_bits & bit != 0
                && if long {
                    over_set.contains(&name)
                } else {
                    over.contains(&name)
                };
            entries.push(PlanEntry {
                name,
                bit,
                oversigned,
            });
        }
        let oversigned = entries
            .iter()
            .filter(|e| e.oversigned)
            .fold(0, |acc, e| acc | e.bit);
        HeaderPlan {
            entries,
            oversigned,
        }
    }

    /// The `h=` list for a message with these fields, and the fields it
    /// signs in the order they are hashed: for a name that occurs several
    /// times, the last occurrence first (RFC 6376 5.4.2); an oversigned
    /// extra entry signs no field. What [`select_headers`] would find for
    /// this list, in the same walk.
    #[allow(clippy::type_complexity)]
    fn h_list<'f, 'm>(
        &self,
        fields: &'f [HeaderField<'m>],
    ) -> Result<(Vec<HeaderName>, Vec<&'f HeaderField<'m>>), Error> {
        // Design note: this runs for every message, over a list of ~30
        // names of which a handful are present. A filter bit per name
        // (NameFilter) rules out most comparisons: names compare exactly
        // only when their bits are equal.
        let mut small = [0u64; SMALL_HEADER_BLOCK];
        let owned: Vec<u64>;
        let field_bits: &[u64] = if fields.len() <= SMALL_HEADER_BLOCK {
            for (b, f) in small.iter_mut().zip(fields) {
                *b = NameFilter::bit(f.name);
            }
            &small[..fields.len()]
        } else {
            owned = fields.iter().map(|f| NameFilter::bit(f.name)).collect();
            &owned
        };
        let present = field_bits.iter().fold(0, |acc, b| acc | b);
        let from_bit = NameFilter::bit(b"from");
        if !fields
            .iter()
            .zip(field_bits)
            .any(|(f, b)| *b == from_bit && f.is("from"))
        {
            return Err(Error::MissingFrom);
        }
        let mut h: Vec<HeaderName> = Vec::with_capacity(16);
        let mut selected = Vec::with_capacity(16);
        for e in &self.entries {
            if (present | self.oversigned) & e.bit == 0 {
                continue; // neither in the message nor oversigned
            }
            if present & e.bit != 0 {
                for (f, _) in fields
                    .iter()
                    .zip(field_bits)
                    .rev()
                    .filter(|(f, b)| **b == e.bit && f.is(&e.name))
                {
                    h.push(e.name.clone());
                    selected.push(f);
                }
            }
            if e.oversigned {
                h.push(e.name.clone());
            }
        }
        Ok((h, selected))
    }
}

/// Header field names hashed to one of 64 bits (from length and first and
/// last letter, case-insensitively). Equal names have equal bits, so two
/// names whose bits differ need no comparison; a set of names is the OR of
/// their bits (a Bloom filter). Most names of a long signing list (the RFC
/// 6376 5.4.1 defaults) are absent from a given message, and the filter
/// rules them out in one step instead of one comparison per field.
struct NameFilter {
    bits: u64,
}

impl NameFilter {
    // 64 bits, not 128: WebAssembly has no 128-bit shifts (a libcall)
    fn bit(name: &[u8]) -> u64 {
        let (first, last) = match name {
            [] => (0, 0),
            [f, .., l] => (f.to_ascii_lowercase(), l.to_ascii_lowercase()),
            [f] => (f.to_ascii_lowercase(), f.to_ascii_lowercase()),
        };
        let h = name
            .len()
            .wrapping_mul(31)
            .wrapping_add(usize::from(first).wrapping_mul(7))
            .wrapping_add(usize::from(last));
        1u64 << (h % 64)
    }

    fn new(fields: &[HeaderField<'_>]) -> Self {
        let bits = fields.iter().fold(0, |acc, f| acc | Self::bit(f.name));
        NameFilter { bits }
    }

    /// False when no name of the set can be `name`.
    fn may_contain(&self, name: &str) -> bool {
        self.bits & Self::bit(name.as_bytes()) != 0
    }
}

/// What to sign and how: one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// `d=`: the signing domain. Required.
    pub domain: Domain,
    /// `s=`: the selector. Required.
    pub selector: Selector,
    /// `i=`: the agent or user identifier; must be the domain or a
    /// subdomain of it. Default: none (receivers then use `@` + d=).
    pub identity: Option<Identity>,
    /// Which header fields to sign. Default: [`HeaderSelection::default`].
    pub headers: HeaderSelection,
    /// `c=`. Default: relaxed/relaxed.
    pub canonicalization: Canonicalization,
    /// `t=`: the signing time in seconds since 1970, supplied by the
    /// caller (the core has no clock). Default: none (no t= tag).
    pub timestamp: Option<u64>,
    /// `x=`: expiration time in seconds since 1970; must be later than
    /// `timestamp`. Default: none.
    pub expiration: Option<u64>,
    /// Write `l=` with the length of the canonicalized body. Default:
    /// false. Warning: with l=, anyone can append text (a new MIME part,
    /// a link) to the message without breaking the signature; only use
    /// it for lists that are known to append footers.
    pub body_length: bool,
    /// Write `z=` with copies of the signed header fields, for diagnosis.
    /// Default: false.
    pub copy_headers: bool,
}

impl SignOptions {
    /// Options with the required fields and every default.
    pub fn new(domain: Domain, selector: Selector) -> Self {
        SignOptions {
            domain,
            selector,
            identity: None,
            headers: HeaderSelection::default(),
            canonicalization: Canonicalization::RELAXED_RELAXED,
            timestamp: None,
            expiration: None,
            body_length: false,
            copy_headers: false,
        }
    }

    fn validate(&self, alg: SigningAlgorithm) -> Result<(), Error> {
        if alg == SigningAlgorithm::RsaSha1 {
            return Err(Error::UnsupportedAlgorithm); // RFC 8301 3.1
        }
        if let Some(i) = &self.identity
            && !i.is_within(&self.domain)
        {
            return Err(Error::IdentityNotInDomain);
        }
        if let (Some(t), Some(x)) = (self.timestamp, self.expiration)
            && x <= t
        {
            return Err(Error::ExpirationBeforeTimestamp);
        }
        self.headers.validate()
    }
}

/// Signing options as text, the way a command line, a JavaScript object
/// or a WIT record carries them. [`options`](Self::options) checks them
/// and gives the [`SignOptions`]; every face of waxseal goes through it, so
/// they read options the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignSpec {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `i=`.
    pub identity: Option<String>,
    /// Header names to sign, exactly these (none oversigned unless
    /// `oversign` names them). Default: [`HeaderSelection::default`].
    pub headers: Option<Vec<String>>,
    /// Header names to oversign. Default: the default selection's list
    /// when `headers` is not given, else none.
    pub oversign: Option<Vec<String>>,
    /// `c=` as written in the tag (`relaxed/simple`, `simple`, ...).
    /// Default: relaxed/relaxed.
    pub canonicalization: Option<String>,
    /// `t=`.
    pub timestamp: Option<u64>,
    /// `x=`.
    pub expiration: Option<u64>,
    /// Write `l=`.
    pub body_length: bool,
    /// Write `z=`.
    pub copy_headers: bool,
}

impl SignSpec {
    /// Checks the text and builds the options.
    pub fn options(&self) -> Result<SignOptions, Error> {
        let mut o = SignOptions::new(Domain::new(&self.domain)?, Selector::new(&self.selector)?);
        o.identity = self.identity.as_deref().map(Identity::new).transpose()?;
        if let Some(h) = &self.headers {
            o.headers.sign = h.iter().cloned().map(Cow::Owned).collect();
            // an explicit list means: exactly these, oversigned only if asked
            o.headers.oversign = Vec::new();
        }
        if let Some(over) = &self.oversign {
            o.headers.oversign = over.iter().cloned().map(Cow::Owned).collect();
        }
        if let Some(c) = &self.canonicalization {
            o.canonicalization = Canonicalization::parse(c.as_bytes())?;
        }
        o.timestamp = self.timestamp;
        o.expiration = self.expiration;
        o.body_length = self.body_length;
        o.copy_headers = self.copy_headers;
        Ok(o)
    }
}

/// A signature made by the [`Signer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The complete header field, `DKIM-Signature: ...`, folded with CRLF
    /// and ending in CRLF: prepend it to the message.
    pub field: String,
    /// The signature's tags.
    pub signature: DkimSignature,
}

impl SignatureHeader {
    /// The field with LF line endings, for messages stored with LF.
    pub fn field_lf(&self) -> String {
        self.field.replace("\r\n", "\n")
    }
}

/// Picks the header fields named in `h=`, bottom-up per name (RFC 6376
/// 5.4.2): the n-th occurrence of a name in `h=` takes the n-th field of
/// that name counted from the bottom; names beyond the fields present
/// (oversigning) select nothing and contribute nothing to the hash.
pub fn select_headers<'m, 'f, S: AsRef<str>>(
    fields: &'f [HeaderField<'m>],
    h: &[S],
) -> Vec<&'f HeaderField<'m>> {
    if fields.len() <= SMALL_HEADER_BLOCK {
        select_headers_small(fields, h)
    } else {
        select_headers_indexed(fields, h)
    }
}

/// Up to this many header fields, [`select_headers`] scans the fields for
/// each `h=` name (at most this many comparisons per name, and no index to
/// build); above, it builds an index.
const SMALL_HEADER_BLOCK: usize = 64;

/// [`select_headers`] for at most 64 fields: a bit per field marks the
/// ones already taken; each name takes the bottom-most field of that name
/// not taken yet.
fn select_headers_small<'m, 'f, S: AsRef<str>>(
    fields: &'f [HeaderField<'m>],
    h: &[S],
) -> Vec<&'f HeaderField<'m>> {
    debug_assert!(fields.len() <= 64);
    let present = NameFilter::new(fields);
    let mut taken = 0u64;
    let mut out = Vec::with_capacity(h.len());
    for name in h {
        let name = name.as_ref();
        if !present.may_contain(name) {
            continue;
        }
        let found = fields
            .iter()
            .enumerate()
            .rev()
            .find(|(i, f)| taken & (1u64 << i) == 0 && f.is(name));
        if let Some((i, f)) = found {
            taken |= 1u64 << i;
            out.push(f);
        }
    }
    out
}

/// [`select_headers`] for large header blocks.
fn select_headers_indexed<'m, 'f, S: AsRef<str>>(
    fields: &'f [HeaderField<'m>],
    h: &[S],
) -> Vec<&'f HeaderField<'m>> {
    // Design note: h= comes from untrusted signatures in verification, and
    // the header block may be large; an index (name -> the fields of that
    // name, bottom first) keeps this O((|h| + |fields|) log n) instead of
    // |h| x |fields|.
    let mut index: BTreeMap<Vec<u8>, (Vec<usize>, usize)> = BTreeMap::new();
    for name in h {
        index
            .entry(name.as_ref().as_bytes().to_ascii_lowercase())
            .or_insert_with(|| (Vec::new(), 0));
    }
    let mut key = Vec::new();
    for (i, f) in fields.iter().enumerate().rev() {
        key.clear();
        key.extend(f.name.iter().map(u8::to_ascii_lowercase));
        if let Some((list, _)) = index.get_mut(&key) {
            list.push(i);
        }
    }
    let mut out = Vec::with_capacity(h.len());
    for name in h {
        key.clear();
        key.extend(name.as_ref().bytes().map(|b| b.to_ascii_lowercase()));
        if let Some((list, next)) = index.get_mut(&key) {
            if let Some(&i) = list.get(*next) {
                out.push(&fields[i]);
            }
            *next += 1;
        }
    }
    out
}

/// The header hash (RFC 6376 3.7): the selected header fields, each
/// canonicalized, then the signature's own field with an empty `b=` value
/// (`unsigned_field`: name, colon and value, no final CRLF needed),
/// canonicalized, without its final CRLF.
pub fn header_hash(
    hash: HashAlgorithm,
    canon: CanonicalizationAlgorithm,
    selected: &[&HeaderField<'_>],
    unsigned_field: &[u8],
) -> Digest {
    hash.digest(&header_hash_input(canon, selected, unsigned_field))
}

/// The canonicalized header data that [`header_hash`] hashes (RFC 6376
/// 3.7): what RSA signs, and what diagnostics show.
pub fn header_hash_input(
    canon: CanonicalizationAlgorithm,
    selected: &[&HeaderField<'_>],
    unsigned_field: &[u8],
) -> Vec<u8> {
    // room for the usual case: canonical forms are no longer than the
    // fields plus a CRLF each (simple with bare LFs may grow further)
    let size = selected.iter().map(|f| f.raw.len() + 2).sum::<usize>() + unsigned_field.len() + 2;
    let mut buf = Vec::with_capacity(size);
    for f in selected {
        canonicalize_header(canon, f.raw, &mut buf);
    }
    canonicalize_header(canon, unsigned_field, &mut buf);
    buf.truncate(buf.len() - 2);
    buf
}

/// Default limit on the size of the header block the [`Signer`] buffers.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 1024 * 1024;

enum State {
    /// Collecting the header block; `scan` is where the search for its end
    /// resumes.
    Headers {
        scan: usize,
    },
    /// Hashing the body; the header block is `buf[..header_len]`, its
    /// fields at `spans` (parsed once, when the block was complete).
    Body {
        header_len: usize,
        spans: Vec<FieldSpan>,
        hashes: BodyHashSet,
        slots: Vec<usize>,
    },
    Done,
}

struct Request<'k> {
    options: SignOptions,
    /// `options.headers`, compiled.
    plan: HeaderPlan,
    algorithm: SigningAlgorithm,
    /// None: the private-key operation happens elsewhere (see
    /// [`Signer::add_external`] and [`Signer::finish_pending`]).
    key: Option<Box<dyn SignDigest + 'k>>,
}

/// A signature whose header data is complete and whose private-key
/// operation is still to be done, for signing with crypto that is not a
/// [`SignDigest`] (WebCrypto in JavaScript, which is asynchronous; a key
/// held by another process).
///
/// It is read-only: what is hashed is fixed, and
/// [`complete`](Self::complete) reuses the field text written then.
#[derive(Clone)]
pub struct PendingSignature {
    signature: DkimSignature,
    /// The field as hashed: every tag, folded, ending in `b=`.
    unsigned_field: String,
    header_input: Vec<u8>,
    /// SHA-256 of `header_input`, computed when first asked for: a caller
    /// whose crypto hashes for itself (RSA, or a host that hashes and
    /// signs in one step) never needs it.
    digest: OnceCell<Digest>,
    /// Where SHA-256 is computed (see [`Signer::set_sha256`]).
    sha256: Option<Sha256Factory>,
}

impl fmt::Debug for PendingSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignature")
            .field("signature", &self.signature)
            .field("unsigned_field", &self.unsigned_field)
            .field("header_input", &self.header_input)
            .finish_non_exhaustive()
    }
}

/// Equal when they sign the same data the same way (where SHA-256 is
/// computed does not matter).
impl PartialEq for PendingSignature {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
            && self.unsigned_field == other.unsigned_field
            && self.header_input == other.header_input
    }
}

impl Eq for PendingSignature {}

impl PendingSignature {
    /// The signing algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.signature.algorithm
    }

    /// The signature's tags, with an empty `b=`.
    pub fn signature(&self) -> &DkimSignature {
        &self.signature
    }

    /// The canonicalized header data (RFC 6376 3.7). RSASSA-PKCS1-v1_5
    /// with SHA-256 over these bytes gives `b=` (as WebCrypto's
    /// `sign("RSASSA-PKCS1-v1_5", key, header_input)` does).
    pub fn header_input(&self) -> &[u8] {
        &self.header_input
    }

    /// SHA-256 of [`header_input`](Self::header_input): what
    /// [`SignDigest::sign_digest`] signs, and, for Ed25519, the message
    /// that Ed25519 signs (RFC 8463 3). Computed on the first call.
    pub fn digest(&self) -> &Digest {
        self.digest.get_or_init(|| {
            self.signature
                .algorithm
                .hash()
                .digest_with(&self.header_input, self.sha256)
        })
    }

    /// The data to give a crypto API that hashes for itself: the header
    /// data for RSA, the digest for Ed25519 (which signs the digest).
    pub fn data_to_sign(&self) -> &[u8] {
        match self.signature.algorithm {
            SigningAlgorithm::Ed25519Sha256 => self.digest().as_bytes(),
            _ => &self.header_input,
        }
    }

    /// Completes the signature with the private-key operation's result.
    pub fn complete(mut self, signature: Vec<u8>) -> SignatureHeader {
        self.signature.signature = signature;
        SignatureHeader {
            field: self.signature.header_with_b(self.unsigned_field),
            signature: self.signature,
        }
    }
}

/// A streaming signer: makes one or more signatures over one message in a
/// single pass. Memory is bounded by the header block (see
/// [`max_header_bytes`](Self::max_header_bytes)); the body streams.
///
/// ```
/// use waxseal_core::{Domain, PrivateKey, Selector, SignOptions, Signer};
/// let key = PrivateKey::from_ed25519_seed(&[7; 32]);
/// let opts = SignOptions::new(Domain::new("example.com")?, Selector::new("sel")?);
/// let mut signer = Signer::new();
/// signer.add(opts, &key)?;
/// signer.update(b"From: a@example.com\r\nSubject: hi\r\n")?;
/// signer.update(b"\r\nBody text\r\n")?;
/// let sigs = signer.finish()?;
/// assert_eq!(sigs.len(), 1);
/// # Ok::<(), waxseal_core::Error>(())
/// ```
pub struct Signer<'k> {
    requests: Vec<Request<'k>>,
    buf: Vec<u8>,
    state: State,
    max_header_bytes: usize,
    sha256: Option<Sha256Factory>,
    /// The body hashes of the last message, reset, with the index of each
    /// request's hash: the next message reuses them (and their buffers).
    spare: Option<(BodyHashSet, Vec<usize>)>,
}

impl Default for Signer<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'k> Signer<'k> {
    /// A signer with no signatures requested yet.
    pub fn new() -> Self {
        Signer {
            requests: Vec::new(),
            buf: Vec::new(),
            state: State::Headers { scan: 0 },
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            sha256: None,
            spare: None,
        }
    }

    /// Sets the largest header block accepted (default 1 MiB).
    pub fn max_header_bytes(mut self, limit: usize) -> Self {
        self.max_header_bytes = limit;
        self
    }

    /// Computes SHA-256 (body and header hashes) with `sha256` instead of
    /// the built-in implementation: see [`ExternalSha256`]. Must be called
    /// before the first [`update`](Self::update).
    ///
    /// [`ExternalSha256`]: crate::ExternalSha256
    pub fn set_sha256(&mut self, sha256: Sha256Factory) {
        self.sha256 = Some(sha256);
        self.spare = None;
    }

    /// Requests one more signature. Must be called before the first
    /// [`update`](Self::update).
    pub fn add(&mut self, options: SignOptions, key: impl SignDigest + 'k) -> Result<(), Error> {
        if !matches!(self.state, State::Headers { scan: 0 }) || !self.buf.is_empty() {
            return Err(Error::AlreadyFinished);
        }
        let algorithm = key.algorithm();
        options.validate(algorithm)?;
        self.spare = None;
        self.requests.push(Request {
            plan: HeaderPlan::new(&options.headers),
            options,
            algorithm,
            key: Some(Box::new(key)),
        });
        Ok(())
    }

    /// Requests a signature whose private-key operation the caller does
    /// itself: finish with [`finish_pending`](Self::finish_pending).
    pub fn add_external(
        &mut self,
        options: SignOptions,
        algorithm: SigningAlgorithm,
    ) -> Result<(), Error> {
        if !matches!(self.state, State::Headers { scan: 0 }) || !self.buf.is_empty() {
            return Err(Error::AlreadyFinished);
        }
        options.validate(algorithm)?;
        self.spare = None;
        self.requests.push(Request {
            plan: HeaderPlan::new(&options.headers),
            options,
            algorithm,
            key: None,
        });
        Ok(())
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        match &mut self.state {
            State::Headers { scan } => {
                if self.requests.is_empty() {
                    return Err(Error::NothingToSign);
                }
                if self.buf.is_empty() {
                    // Fast path (one-shot signing): the header block ends
                    // inside this chunk, so the body is hashed straight
                    // from it without copying.
                    if let Some((header_len, body_start)) = message::find_header_end(chunk, 0) {
                        if header_len > self.max_header_bytes {
                            return Err(Error::HeaderTooLarge {
                                limit: self.max_header_bytes,
                            });
                        }
                        self.buf.extend_from_slice(&chunk[..body_start]);
                        self.start_body(header_len)?;
                        if let State::Body { hashes, .. } = &mut self.state {
                            hashes.update(&chunk[body_start..]);
                        }
                        return Ok(());
                    }
                }
                let from = *scan;
                self.buf.extend_from_slice(chunk);
                match message::find_header_end(&self.buf, from) {
                    Some((header_len, body_start)) => {
                        if header_len > self.max_header_bytes {
                            return Err(Error::HeaderTooLarge {
                                limit: self.max_header_bytes,
                            });
                        }
                        self.start_body(header_len)?;
                        let body = self.buf.split_off(body_start);
                        if let State::Body { hashes, .. } = &mut self.state {
                            hashes.update(&body);
                        }
                    }
                    None => {
                        if self.buf.len() > self.max_header_bytes {
                            if message::cr_only(&self.buf) {
                                return Err(Error::CrLineEnds);
                            }
                            return Err(Error::HeaderTooLarge {
                                limit: self.max_header_bytes,
                            });
                        }
                        *scan = message::resume_point(&self.buf, from);
                    }
                }
                Ok(())
            }
            State::Body { hashes, .. } => {
                hashes.update(chunk);
                Ok(())
            }
            State::Done => Err(Error::AlreadyFinished),
        }
    }

    fn start_body(&mut self, header_len: usize) -> Result<(), Error> {
        // Parse now so that a malformed header block fails early.
        let block = &self.buf[..header_len];
        if message::cr_only(block) {
            return Err(Error::CrLineEnds);
        }
        let spans = message::parse_header_spans(block)?;
        // exactly one From (RFC 5322 3.6; RFC 6376 8.15)
        match spans.iter().filter(|s| s.field(block).is("from")).count() {
            0 => return Err(Error::MissingFrom),
            1 => {}
            count => return Err(Error::SeveralFrom { count }),
        }
        let (hashes, slots) = match self.spare.take() {
            Some(spare) => spare,
            None => {
                let mut hashes = BodyHashSet::new();
                hashes.set_sha256(self.sha256);
                let slots = self
                    .requests
                    .iter()
                    .map(|r| hashes.add(r.options.canonicalization.body, r.algorithm.hash(), None))
                    .collect();
                (hashes, slots)
            }
        };
        self.state = State::Body {
            header_len,
            spans,
            hashes,
            slots,
        };
        Ok(())
    }

    /// Ends the message and makes the signatures, in the order requested.
    /// Every signature must have been added with a key ([`add`](Self::add)).
    pub fn finish(&mut self) -> Result<Vec<SignatureHeader>, Error> {
        if self.requests.iter().any(|r| r.key.is_none()) {
            return Err(Error::NothingToSign);
        }
        let pending = self.finish_pending()?;
        let mut out = Vec::with_capacity(pending.len());
        for (p, req) in pending.into_iter().zip(&self.requests) {
            let key = req.key.as_ref().ok_or(Error::NothingToSign)?;
            let b = key.sign_digest(p.digest().as_bytes())?;
            out.push(p.complete(b));
        }
        Ok(out)
    }

    /// Ends the message and computes every signature up to the private-key
    /// operation, which is left to the caller ([`PendingSignature`]).
    pub fn finish_pending(&mut self) -> Result<Vec<PendingSignature>, Error> {
        if matches!(self.state, State::Headers { .. }) {
            if self.requests.is_empty() {
                return Err(Error::NothingToSign);
            }
            // No empty line: the whole message is header, the body empty.
            let len = self.buf.len();
            if len == 0 {
                return Err(Error::EmptyMessage);
            }
            if len > self.max_header_bytes {
                return Err(Error::HeaderTooLarge {
                    limit: self.max_header_bytes,
                });
            }
            self.start_body(len)?;
        }
        let (header_len, spans, mut hashes, slots) =
            match core::mem::replace(&mut self.state, State::Done) {
                State::Body {
                    header_len,
                    spans,
                    hashes,
                    slots,
                } => (header_len, spans, hashes, slots),
                _ => return Err(Error::AlreadyFinished),
            };
        let body_hashes = hashes.finish_reset();
        let block = &self.buf[..header_len];
        let fields: Vec<HeaderField<'_>> = spans.iter().map(|s| s.field(block)).collect();
        let mut out = Vec::with_capacity(self.requests.len());
        for (req, slot) in self.requests.iter().zip(&slots) {
            let bh = &body_hashes[*slot];
            out.push(prepare_one(
                req,
                &fields,
                bh.digest,
                bh.canonical_len,
                self.sha256,
            )?);
        }
        self.spare = Some((hashes, slots));
        self.clear_buf();
        Ok(out)
    }

    /// Makes the signer ready for the next message, with the same
    /// signatures requested: options are checked and compiled once when
    /// added, and serve every message after (an MTA signs all mail of a
    /// domain alike). Whatever the last message left (finished or not) is
    /// dropped.
    ///
    /// ```
    /// use waxseal_core::{Domain, PrivateKey, Selector, SignOptions, Signer};
    /// let key = PrivateKey::from_ed25519_seed(&[7; 32]);
    /// let opts = SignOptions::new(Domain::new("example.com")?, Selector::new("sel")?);
    /// let mut signer = Signer::new();
    /// signer.add(opts, &key)?;
    /// for body in ["one", "two"] {
    ///     signer.reset();
    ///     signer.update(format!("From: a@example.com\r\n\r\n{body}\r\n").as_bytes())?;
    ///     assert_eq!(signer.finish()?.len(), 1);
    /// }
    /// # Ok::<(), waxseal_core::Error>(())
    /// ```
    pub fn reset(&mut self) {
        self.clear_buf();
        self.state = State::Headers { scan: 0 };
    }

    /// Empties the header buffer, keeping its memory up to [`KEEP_BUF`].
    fn clear_buf(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUF {
            self.buf = Vec::new();
        }
    }
}

/// The header buffer a signer keeps for its next message ([`Signer::reset`]);
/// a larger one (a huge header block) is freed.
const KEEP_BUF: usize = 64 * 1024;

fn prepare_one(
    req: &Request<'_>,
    fields: &[HeaderField<'_>],
    body_hash: Digest,
    body_len: u64,
    sha256: Option<Sha256Factory>,
) -> Result<PendingSignature, Error> {
    let (o, algorithm) = (&req.options, req.algorithm);
    // the options were validated when added to the signer
    let (h, selected) = req.plan.h_list(fields)?;
    let copied_headers = o.copy_headers.then(|| {
        let parts: Vec<String> = selected.iter().map(|f| z_copy(f)).collect();
        parts.join("|")
    });
    let signature = DkimSignature {
        algorithm,
        signature: Vec::new(),
        body_hash: body_hash.as_bytes().to_vec(),
        canonicalization: o.canonicalization,
        domain: o.domain.clone(),
        signed_headers: h,
        identity: o.identity.clone(),
        body_length: o.body_length.then_some(body_len),
        query_methods: None,
        selector: o.selector.clone(),
        timestamp: o.timestamp,
        expiration: o.expiration,
        copied_headers,
        unknown_tags: Vec::new(),
    };
    let unsigned_field = signature.unsigned_header();
    let header_input = header_hash_input(
        o.canonicalization.header,
        &selected,
        unsigned_field.as_bytes(),
    );
    Ok(PendingSignature {
        signature,
        unsigned_field,
        header_input,
        digest: OnceCell::new(),
        sha256,
    })
}

/// A header field copy for `z=`: `name:value`, unfolded, value white
/// space trimmed, in DKIM-Quoted-Printable (RFC 6376 2.11) with `|`
/// encoded as well (3.5, z= tag).
fn z_copy(f: &HeaderField<'_>) -> String {
    let mut s = String::from_utf8_lossy(f.name).into_owned();
    s.push(':');
    let value: Vec<u8> = f
        .value
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let start = value
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |i| i + 1);
    crate::signature::qp_encode_into(&mut s, &value[start..end], true);
    s
}

/// Signs a whole message in one call: one signature per `(options, key)`
/// pair, in that order.
pub fn sign(
    message: &[u8],
    requests: &[(&SignOptions, &dyn SignDigest)],
) -> Result<Vec<SignatureHeader>, Error> {
    let mut signer = Signer::new();
    for (o, k) in requests {
        signer.add((*o).clone(), *k)?;
    }
    signer.update(message)?;
    signer.finish()
}

/// The message with the signature fields prepended (first signature on
/// top), using the message's own line ending style: LF when its first
/// line ends in a bare LF, CRLF otherwise.
pub fn prepend_signatures(message: &[u8], signatures: &[SignatureHeader]) -> Vec<u8> {
    let lf = match memchr::memchr(b'\n', message) {
        Some(i) => i == 0 || message[i - 1] != b'\r',
        None => false,
    };
    let mut out = Vec::with_capacity(message.len() + signatures.len() * 512);
    for s in signatures {
        if lf {
            out.extend_from_slice(s.field_lf().as_bytes());
        } else {
            out.extend_from_slice(s.field.as_bytes());
        }
    }
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::message::Message;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    fn ed_key() -> PrivateKey {
        PrivateKey::from_ed25519_seed_base64("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
            .unwrap()
    }

    fn opts() -> SignOptions {
        SignOptions::new(
            Domain::new("example.com").unwrap(),
            Selector::new("s").unwrap(),
        )
    }

    /// The h= list by the rule, name by name, with no filter or plan.
    fn h_list_reference(sel: &HeaderSelection, fields: &[HeaderField<'_>]) -> Vec<String> {
        let listed: Vec<String> = sel
            .sign
            .iter()
            .chain(&sel.oversign)
            .map(|n| n.to_ascii_lowercase())
            .collect();
        let mut names = Vec::new();
        if !listed.iter().any(|n| n == "from") {
            names.push("from".to_string());
        }
        let mut h = Vec::new();
        for n in names.into_iter().chain(listed) {
            if h.contains(&n) {
                continue;
            }
            let count = fields.iter().filter(|f| f.is(&n)).count()
                + usize::from(sel.oversign.iter().any(|o| o.eq_ignore_ascii_case(&n)));
            h.extend(core::iter::repeat_n(n, count));
        }
        h
    }

    #[test]
    fn h_lists_follow_the_rule_for_short_and_long_selections() {
        // Up to 64 names the plan dedupes with the filter bits, above with
        // a set: both give the rule's list, for names that repeat in other
        // cases, share filter bits, are absent or oversigned.
        let m = Message::parse(
            b"From: a\r\nTo: b\r\nX-1: 1\r\nx-2: 2\r\nX-1: 3\r\nSubject: s\r\nX-30: 4\r\n\r\n",
        )
        .unwrap();
        for n in [1usize, 5, 20, 40, 63, 64, 65, 80, 150] {
            let mut sel = HeaderSelection::only((0..n).map(|i| {
                let name = format!("x-{}", i % 37);
                if i % 3 == 0 {
                    name.to_uppercase()
                } else {
                    name
                }
            }));
            sel.oversign = (0..n / 4)
                .map(|i| HeaderName::from(format!("X-{}", i * 3)))
                .chain([HeaderName::from("Subject")])
                .collect();
            let got = sel.h_list(&m.fields).unwrap();
            assert_eq!(got, h_list_reference(&sel, &m.fields), "{n} names");
            // the fields the plan selects on the way are select_headers' choice
            let (_, picked) = HeaderPlan::new(&sel).h_list(&m.fields).unwrap();
            let raws =
                |v: Vec<&HeaderField<'_>>| v.iter().map(|f| f.raw.to_vec()).collect::<Vec<_>>();
            assert_eq!(
                raws(picked),
                raws(select_headers(&m.fields, &got)),
                "{n} names"
            );
        }
        let sel = HeaderSelection::default();
        assert_eq!(
            sel.h_list(&m.fields).unwrap(),
            h_list_reference(&sel, &m.fields)
        );
    }

    #[test]
    fn h_list_counts_and_oversigns() {
        let m = Message::parse(
            b"Received: x\r\nFrom: a\r\nTo: b\r\nTo: c\r\nX-Other: 1\r\nMessage-ID: <1@x>\r\n\r\n",
        )
        .unwrap();
        let h = HeaderSelection::default().h_list(&m.fields).unwrap();
        assert_eq!(
            h,
            [
                "from",
                "from",
                "reply-to",
                "subject",
                "date",
                "to",
                "to",
                "to",
                "cc",
                "message-id",
                "mime-version",
                "content-type",
                "content-transfer-encoding"
            ]
        );
        let h = HeaderSelection::only(["To", "X-Other"])
            .h_list(&m.fields)
            .unwrap();
        assert_eq!(h, ["from", "to", "to", "x-other"]);
        // repeats count once, where first listed; From keeps its place
        let mut sel = HeaderSelection::only(["To", "X-OTHER", "to", "From", "absent"]);
        sel.oversign = vec!["x-other".into(), "Absent".into(), "FROM".into()];
        let h = sel.h_list(&m.fields).unwrap();
        assert_eq!(
            h,
            ["to", "to", "x-other", "x-other", "from", "from", "absent"]
        );
        let none = Message::parse(b"To: b\r\n\r\n").unwrap();
        assert_eq!(
            HeaderSelection::default().h_list(&none.fields),
            Err(Error::MissingFrom)
        );
        assert_eq!(
            HeaderSelection::only(["bad name"]).h_list(&m.fields),
            Err(Error::InvalidHeaderName)
        );
    }

    #[test]
    fn rfc6376_5_4_2_bottom_up_selection() {
        let m = Message::parse(b"X: 1\r\nFrom: a\r\nX: 2\r\nX: 3\r\n\r\n").unwrap();
        let h: Vec<String> = ["x", "X", "from", "x", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let sel = select_headers(&m.fields, &h);
        let raws: Vec<&[u8]> = sel.iter().map(|f| f.raw).collect();
        assert_eq!(
            raws,
            [&b"X: 3\r\n"[..], b"X: 2\r\n", b"From: a\r\n", b"X: 1\r\n"]
        );
    }

    #[test]
    fn small_and_indexed_selection_agree() {
        // Header blocks of 1..=70 fields over a few names (the long name
        // shares the filter's last length bit), selected by h= lists with
        // repeats, other cases and absent names; above 64 fields the
        // public function takes the indexed path.
        let names = [
            "X",
            "from",
            "Subject",
            "x-a-very-long-header-name-that-is-longer-than-sixty-three-bytes-total",
        ];
        let mut block = Vec::new();
        for n in 1..=70usize {
            block.extend_from_slice(names[(n * 7) % 4].as_bytes());
            block.extend_from_slice(format!(": {n}\r\n").as_bytes());
            let mut msg = block.clone();
            msg.extend_from_slice(b"\r\n");
            let m = Message::parse(&msg).unwrap();
            let h: Vec<String> = (0..n + 3)
                .map(|i| match (i * 5 + n) % 6 {
                    0 => "x".into(),
                    1 => "FROM".into(),
                    2 => "subject".into(),
                    3 => "absent".into(),
                    4 => names[3].to_uppercase(),
                    _ => "X".into(),
                })
                .collect();
            let want = select_headers_indexed(&m.fields, &h);
            if n <= SMALL_HEADER_BLOCK {
                assert_eq!(select_headers_small(&m.fields, &h), want, "n={n}");
            }
            assert_eq!(select_headers(&m.fields, &h), want, "n={n}");
        }
    }

    #[test]
    fn chunked_signing_equals_one_shot() {
        let msg = b"From: a@example.com\r\nSubject: t\r\n\r\nHello  \r\nworld\r\n\r\n";
        let key = ed_key();
        let mut o = opts();
        o.timestamp = Some(1);
        let want = sign(msg, &[(&o, &key)]).unwrap();
        for split in 0..=msg.len() {
            let mut s = Signer::new();
            s.add(o.clone(), &key).unwrap();
            s.update(&msg[..split]).unwrap();
            s.update(&msg[split..]).unwrap();
            assert_eq!(s.finish().unwrap(), want, "split at {split}");
        }
    }

    #[test]
    fn a_reset_signer_signs_like_a_fresh_one() {
        // One signer, reset between messages, gives what a new signer per
        // message gives: after a finished message, a half-fed one (header
        // block incomplete, then body started) and a failed one.
        let key = ed_key();
        let rsa = PrivateKey::parse(include_bytes!("../tests/vectors/keys/rsa2048.pem")).unwrap();
        let mut o = opts();
        o.timestamp = Some(1);
        let mut o2 = opts();
        o2.headers = HeaderSelection::only(["Subject", "X-A"]);
        o2.canonicalization = Canonicalization::SIMPLE_SIMPLE;
        let msgs: [&[u8]; 3] = [
            b"From: a@example.com\r\nSubject: one\r\n\r\nHello  \r\nworld\r\n",
            b"X-A: 1\r\nFrom: b@example.com\r\nX-A: 2\r\n\r\n",
            b"FROM: c@example.com\r\nsubject: three\r\n",
        ];
        let mut reused = Signer::new();
        reused.add(o.clone(), &key).unwrap();
        reused.add(o2.clone(), &rsa).unwrap();
        let leftovers: [&[u8]; 3] = [b"From: x\r\nSubj", b"From: x\r\n\r\nbody", b"To: y\r\n\r\n"];
        for (msg, left) in msgs.iter().zip(leftovers) {
            let want = sign(msg, &[(&o, &key), (&o2, &rsa)]).unwrap();
            reused.reset();
            // the last one fails (no From) at update or finish
            if reused.update(left).is_ok() {
                let _ = reused.finish();
            }
            reused.reset();
            reused.update(msg).unwrap();
            assert_eq!(reused.finish().unwrap(), want);
        }
        // a signature added between messages gets its own body hash
        let mut o3 = opts();
        o3.canonicalization = Canonicalization::RELAXED_SIMPLE;
        reused.reset();
        reused.add(o3.clone(), &key).unwrap();
        reused.update(msgs[0]).unwrap();
        let want = sign(msgs[0], &[(&o, &key), (&o2, &rsa), (&o3, &key)]).unwrap();
        assert_eq!(reused.finish().unwrap(), want);
    }

    #[test]
    fn options_are_checked() {
        let key = ed_key();
        let mut o = opts();
        o.identity = Some(Identity::new("x@evilexample.com").unwrap());
        assert_eq!(Signer::new().add(o, &key), Err(Error::IdentityNotInDomain));
        let mut o = opts();
        o.timestamp = Some(10);
        o.expiration = Some(5);
        assert_eq!(
            Signer::new().add(o, &key),
            Err(Error::ExpirationBeforeTimestamp)
        );
        assert_eq!(Signer::new().update(b"x"), Err(Error::NothingToSign));
        assert_eq!(Signer::new().finish(), Err(Error::NothingToSign));
    }

    #[test]
    fn errors_on_bad_messages() {
        let key = ed_key();
        let o = opts();
        assert_eq!(
            sign(b"To: x\r\n\r\nbody", &[(&o, &key)]),
            Err(Error::MissingFrom)
        );
        assert!(matches!(
            sign(b"garbage without colon\r\n\r\n", &[(&o, &key)]),
            Err(Error::MalformedHeaderField { .. })
        ));
        assert_eq!(sign(b"", &[(&o, &key)]), Err(Error::EmptyMessage));
        let mut s = Signer::new().max_header_bytes(16);
        s.add(o, &key).unwrap();
        assert_eq!(
            s.update(b"From: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            Err(Error::HeaderTooLarge { limit: 16 })
        );
    }

    #[test]
    fn pending_signatures_complete_to_the_same_headers() {
        let key = ed_key();
        let mut o = opts();
        o.timestamp = Some(5);
        let msg = b"From: a@example.com\r\n\r\nbody\r\n";
        let want = sign(msg, &[(&o, &key)]).unwrap();
        let mut s = Signer::new();
        s.add_external(o, SigningAlgorithm::Ed25519Sha256).unwrap();
        s.update(msg).unwrap();
        assert_eq!(s.finish(), Err(Error::NothingToSign));
        let pending = s.finish_pending().unwrap();
        assert_eq!(pending[0].data_to_sign(), pending[0].digest().as_bytes());
        let b = key.sign_digest(pending[0].data_to_sign()).unwrap();
        let got = pending.into_iter().next().unwrap().complete(b);
        assert_eq!(got, want[0]);
        assert_eq!(
            Signer::new().add_external(opts(), SigningAlgorithm::RsaSha1),
            Err(Error::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn z_copies_are_quoted_printable() {
        let m = Message::parse(b"Subject:  a|b; c=d\r\n \xc3\xa9 \r\n\r\n").unwrap();
        assert_eq!(z_copy(&m.fields[0]), "Subject:a=7Cb=3B=20c=3Dd=20=C3=A9");
    }

    #[test]
    fn prepend_keeps_line_endings() {
        let key = ed_key();
        let o = opts();
        let lf = b"From: a\n\nbody\n";
        let sigs = sign(lf, &[(&o, &key)]).unwrap();
        let out = prepend_signatures(lf, &sigs);
        assert!(!out.windows(2).any(|w| w == b"\r\n"));
        let crlf = b"From: a\r\n\r\nbody\r\n";
        let out = prepend_signatures(crlf, &sign(crlf, &[(&o, &key)]).unwrap());
        assert!(out.starts_with(b"DKIM-Signature: v=1;"));
        // same signature for both line ending styles
        assert_eq!(sigs, sign(crlf, &[(&o, &key)]).unwrap());
    }
}
