//! Parsing a `DKIM-Signature` value (RFC 6376 3.5, 6.1.1).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ops::Range;

use crate::base64;
use crate::canonicalize::Canonicalization;
use crate::domain::{Domain, Identity, Selector};
use crate::error::Error;
use crate::keys::SigningAlgorithm;
use crate::message::HeaderName;
use crate::tag_list::{Tag, TagList};

use super::*;

fn parse_number(tag: &Tag<'_>, name: &'static str, max_digits: usize) -> Result<u64, Error> {
    let v = tag.value;
    if v.is_empty() || v.len() > max_digits || !v.iter().all(u8::is_ascii_digit) {
        return Err(Error::InvalidTagValue(name));
    }
    v.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(d - b'0')))
            .ok_or(Error::InvalidTagValue(name))
    })
}

fn required<'t, 'a>(tags: &'t TagList<'a>, name: &'static str) -> Result<&'t Tag<'a>, Error> {
    tags.get(name).ok_or(Error::MissingTag(name))
}

fn utf8<'a>(tag: &Tag<'a>, name: &'static str) -> Result<&'a str, Error> {
    tag.value_str().ok_or(Error::InvalidTagValue(name))
}

/// Field names that most signatures list in `h=`, in the spellings signers
/// use: one of these costs no allocation.
const COMMON_NAMES: [&str; 38] = [
    "from",
    "to",
    "subject",
    "date",
    "cc",
    "message-id",
    "reply-to",
    "sender",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
    "dkim-signature",
    "From",
    "To",
    "Subject",
    "Date",
    "Cc",
    "Message-ID",
    "Message-Id",
    "Reply-To",
    "Sender",
    "MIME-Version",
    "Mime-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
    "DKIM-Signature",
];

/// One `h=` entry as written (the spelling is kept).
fn header_name(n: &str) -> HeaderName {
    match COMMON_NAMES
        .iter()
        .find(|c| crate::tag_list::same_name(c, n))
    {
        Some(c) => HeaderName::Borrowed(c),
        None => HeaderName::Owned(n.to_string()),
    }
}

impl DkimSignature {
    /// Parses the value of a `DKIM-Signature` field (everything after the
    /// colon). Checks what RFC 6376 3.5 and 6.1.1 make a syntax matter:
    /// required tags, `v=1`, known algorithm and canonicalization, valid
    /// names, i= within d=, x= after t=, and numbers that fit.
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        Self::parse_with_b_region(value).map(|(s, _)| s)
    }

    /// Like [`parse`](Self::parse), also returning the region of the `b=`
    /// value (white space included) inside `value`, which is what must be
    /// deleted to recompute the header hash (RFC 6376 3.7).
    pub fn parse_with_b_region(value: &[u8]) -> Result<(Self, Range<usize>), Error> {
        Self::from_tags(&TagList::parse(value)?)
    }

    /// [`SignatureLabels::salvage`] and
    /// [`parse_with_b_region`](Self::parse_with_b_region) with one parse
    /// of the tag list: what a verifier needs for every signature field.
    pub fn parse_with_labels(
        value: &[u8],
    ) -> (SignatureLabels, Result<(Self, Range<usize>), Error>) {
        match TagList::parse(value) {
            Ok(tags) => (SignatureLabels::from_tags(&tags), Self::from_tags(&tags)),
            Err(e) => (SignatureLabels::default(), Err(e)),
        }
    }

    fn from_tags(tags: &TagList<'_>) -> Result<(Self, Range<usize>), Error> {
        let v = required(tags, "v")?;
        if v.value != b"1" {
            return Err(Error::UnsupportedVersion);
        }
        let algorithm = SigningAlgorithm::parse(required(tags, "a")?.value)?;
        let b = required(tags, "b")?;
        let signature = base64::decode(b.value)?;
        let body_hash = base64::decode(required(tags, "bh")?.value)?;
        let canonicalization = match tags.get("c") {
            Some(c) => Canonicalization::parse(c.value)?,
            None => Canonicalization::SIMPLE_SIMPLE,
        };
        let domain = Domain::new(utf8(required(tags, "d")?, "d")?)?;
        let h = required(tags, "h")?;
        let signed_headers: Vec<HeaderName> = utf8(h, "h")?
            .split(':')
            .map(|n| header_name(n.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))))
            .collect();
        if !signed_headers.iter().all(|n| is_field_name(n)) {
            return Err(Error::InvalidTagValue("h"));
        }
        let identity = match tags.get("i") {
            Some(i) => {
                // RFC 6376 3.5: i= is dkim-quoted-printable (2.11).
                let decoded = qp_decode(&i.value_without_fws()).ok_or(Error::InvalidIdentity)?;
                let text = core::str::from_utf8(&decoded).map_err(|_| Error::InvalidIdentity)?;
                let id = Identity::new(text)?;
                if !id.is_within(&domain) {
                    return Err(Error::IdentityNotInDomain);
                }
                Some(id)
            }
            None => None,
        };
        let body_length = tags
            .get("l")
            .map(|l| parse_number(l, "l", 76))
            .transpose()?;
        let query_methods = tags
            .get("q")
            .map(|q| {
                utf8(q, "q").map(|s| {
                    s.split(':')
                        .map(|m| {
                            m.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
                                .to_string()
                        })
                        .collect()
                })
            })
            .transpose()?;
        let selector = Selector::new(utf8(required(tags, "s")?, "s")?)?;
        let timestamp = tags
            .get("t")
            .map(|t| parse_number(t, "t", 20))
            .transpose()?;
        let expiration = tags
            .get("x")
            .map(|x| parse_number(x, "x", 20))
            .transpose()?;
        if let (Some(t), Some(x)) = (timestamp, expiration)
            && x <= t
        {
            return Err(Error::ExpirationBeforeTimestamp);
        }
        let copied_headers = tags
            .get("z")
            .map(|z| String::from_utf8_lossy(&z.value_without_fws()).into_owned());
        const KNOWN: [&str; 14] = [
            "v", "a", "b", "bh", "c", "d", "h", "i", "l", "q", "s", "t", "x", "z",
        ];
        let unknown_tags = tags
            .iter()
            .filter(|t| !KNOWN.contains(&t.name))
            .map(|t| {
                (
                    t.name.to_string(),
                    String::from_utf8_lossy(t.value).into_owned(),
                )
            })
            .collect();
        let sig = DkimSignature {
            algorithm,
            signature,
            body_hash,
            canonicalization,
            domain,
            signed_headers,
            identity,
            body_length,
            query_methods,
            selector,
            timestamp,
            expiration,
            copied_headers,
            unknown_tags,
        };
        Ok((sig, b.region.clone()))
    }
}
