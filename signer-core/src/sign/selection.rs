//! Which header fields to sign (RFC 6376 5.4): the default lists, the
//! compiled selection, and picking the fields an `h=` list names
//! (5.4.2: bottom-up).

use alloc::borrow::Cow;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::error::Error;
use crate::message::HeaderField;
use crate::message::is_field_name;

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

pub use crate::message::HeaderName;

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

    pub(super) fn validate(&self) -> Result<(), Error> {
        // RFC 5322 allows `;` in a field name, but `h=` is a tag value
        // (RFC 6376 3.2), which a `;` would end: such a field cannot be
        // signed
        if self
            .sign
            .iter()
            .chain(&self.oversign)
            .all(|n| is_field_name(n) && !n.contains(';'))
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
pub(super) struct HeaderPlan {
    entries: Vec<PlanEntry>,
    /// The filter bits of the oversigned names.
    oversigned: u64,
}

#[derive(Debug, Clone)]
pub(super) struct PlanEntry {
    name: HeaderName,
    bit: u64,
    oversigned: bool,
}

impl HeaderPlan {
    pub(super) fn new(sel: &HeaderSelection) -> Self {
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
    pub(super) fn h_list<'f, 'm>(
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
pub(super) struct NameFilter {
    bits: u64,
}

impl NameFilter {
    // 64 bits, not 128: WebAssembly has no 128-bit shifts (a libcall)
    pub(super) fn bit(name: &[u8]) -> u64 {
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

    pub(super) fn new(fields: &[HeaderField<'_>]) -> Self {
        let bits = fields.iter().fold(0, |acc, f| acc | Self::bit(f.name));
        NameFilter { bits }
    }

    /// False when no name of the set can be `name`.
    pub(super) fn may_contain(&self, name: &str) -> bool {
        self.bits & Self::bit(name.as_bytes()) != 0
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
pub(super) const SMALL_HEADER_BLOCK: usize = 64;

/// [`select_headers`] for at most 64 fields: a bit per field marks the
/// ones already taken; each name takes the bottom-most field of that name
/// not taken yet.
pub(super) fn select_headers_small<'m, 'f, S: AsRef<str>>(
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
pub(super) fn select_headers_indexed<'m, 'f, S: AsRef<str>>(
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
