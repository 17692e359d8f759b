//! The `DKIM-Signature` header field (RFC 6376 3.5): a typed model, the
//! parser, and the writer that folds the field to 78 columns.

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

pub use crate::message::is_field_name;

/// The header field name.
pub const HEADER_NAME: &str = "DKIM-Signature";

/// Longest line of a folded header we write (RFC 5322 2.1.1: lines
/// SHOULD be no more than 78 characters, excluding the CRLF).
pub const FOLD_WIDTH: usize = 78;

/// A parsed or to-be-written DKIM signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSignature {
    /// `a=`.
    pub algorithm: SigningAlgorithm,
    /// `b=`: the signature bytes (empty while signing).
    pub signature: Vec<u8>,
    /// `bh=`: the body hash.
    pub body_hash: Vec<u8>,
    /// `c=`. Default (tag absent): simple/simple.
    pub canonicalization: Canonicalization,
    /// `d=`: the signing domain (SDID).
    pub domain: Domain,
    /// `h=`: the signed header field names, in order, as written.
    pub signed_headers: Vec<HeaderName>,
    /// `i=`: the agent or user identifier (AUID). Default (tag absent):
    /// `@` + d=, see [`auid`](Self::auid).
    pub identity: Option<Identity>,
    /// `l=`: number of canonicalized body bytes signed. Default: all.
    pub body_length: Option<u64>,
    /// `q=`: query methods, as written. Default (tag absent): `dns/txt`.
    pub query_methods: Option<Vec<String>>,
    /// `s=`: the selector.
    pub selector: Selector,
    /// `t=`: signature timestamp, seconds since 1970 (UTC).
    pub timestamp: Option<u64>,
    /// `x=`: expiration, seconds since 1970 (UTC).
    pub expiration: Option<u64>,
    /// `z=`: copied header fields, as written (DKIM-Quoted-Printable,
    /// separated by `|`), folding white space removed.
    pub copied_headers: Option<String>,
    /// Tags this version of DKIM does not define, kept verbatim
    /// (RFC 6376 3.2: "Unrecognized tags MUST be ignored").
    pub unknown_tags: Vec<(String, String)>,
}

/// Salvaged identification of a signature that could not be parsed, for
/// reporting (RFC 8601 `header.d`, `header.s`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureLabels {
    /// `d=` as written, if present.
    pub domain: Option<String>,
    /// `s=` as written, if present.
    pub selector: Option<String>,
    /// `a=` as written, if present.
    pub algorithm: Option<String>,
    /// `i=` as written, if present.
    pub identity: Option<String>,
    /// `b=` as written (FWS removed), if present.
    pub signature: Option<String>,
}

impl SignatureLabels {
    /// Picks what it can out of a signature's value, even a broken one.
    pub fn salvage(value: &[u8]) -> Self {
        match TagList::parse(value) {
            Ok(tags) => Self::from_tags(&tags),
            Err(_) => SignatureLabels::default(),
        }
    }

    fn from_tags(tags: &TagList<'_>) -> Self {
        let text = |t: &Tag<'_>| {
            let v = crate::tag_list::without_fws(t.value);
            match core::str::from_utf8(&v) {
                Ok(s) => String::from(s),
                Err(_) => String::from_utf8_lossy(&v).into_owned(),
            }
        };
        SignatureLabels {
            domain: tags.get("d").map(text),
            selector: tags.get("s").map(text),
            algorithm: tags.get("a").map(text),
            identity: tags.get("i").map(|i| {
                let raw = i.value_without_fws();
                let bytes = qp_decode(&raw).unwrap_or(raw);
                String::from_utf8_lossy(&bytes).into_owned()
            }),
            signature: tags.get("b").map(text),
        }
    }
}

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

/// Decodes DKIM-Quoted-Printable (RFC 6376 2.11): `=XX` is the byte with
/// hex value XX (either case accepted); folding white space was removed
/// by the caller. `None` for a malformed `=` sequence.
pub fn qp_decode(v: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'=' {
            let hi = hex(*v.get(i + 1)?)?;
            let lo = hex(*v.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Encodes DKIM-Quoted-Printable (RFC 6376 2.11): every byte outside
/// `%x21-3A / %x3C / %x3E-7E` (so `;`, `=`, white space, controls and
/// 8-bit bytes) as `=XX`.
pub fn qp_encode(v: &[u8]) -> String {
    let mut s = String::with_capacity(v.len());
    qp_encode_into(&mut s, v, false);
    s
}

/// [`qp_encode`] appending to `out`; with `encode_bar`, `|` is encoded too
/// (the z= tag separates its copies with it, RFC 6376 3.5).
pub(crate) fn qp_encode_into(out: &mut String, v: &[u8], encode_bar: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if matches!(b, 0x21..=0x3a | 0x3c | 0x3e..=0x7e) && !(encode_bar && b == b'|') {
            out.push(b as char);
        } else {
            out.push('=');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
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
            .map(|n| {
                HeaderName::Owned(
                    n.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
                        .to_string(),
                )
            })
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

    /// The AUID: `i=`, or `@` + `d=` when i= is absent (RFC 6376 3.5).
    pub fn auid(&self) -> Identity {
        self.identity
            .clone()
            .unwrap_or_else(|| Identity::for_domain(&self.domain))
    }

    /// True when `q=` is absent or lists `dns/txt`, the only query method
    /// there is (RFC 6376 3.5, q= tag).
    pub fn uses_dns_txt(&self) -> bool {
        match &self.query_methods {
            None => true,
            Some(q) => q.iter().any(|m| m == "dns/txt" || m == "dns"),
        }
    }

    /// The whole header field as waxseal writes it, folded to 78 columns,
    /// with CRLF line breaks and a final CRLF. Tags come in the order v a c
    /// d i q s t x l h z bh b; `b=` is last, so the hashed form of the
    /// field is [`unsigned_header`](Self::unsigned_header).
    pub fn to_header(&self) -> String {
        self.header_with_b(self.unsigned_header())
    }

    /// [`to_header`](Self::to_header) from this signature's
    /// [`unsigned_header`](Self::unsigned_header), already written.
    pub(crate) fn header_with_b(&self, unsigned: String) -> String {
        let mut w = Folder::resume(unsigned);
        w.base64_value(&self.signature);
        w.out.push_str("\r\n");
        w.out
    }

    /// The header field with an empty `b=` and no final CRLF: exactly the
    /// bytes that go into the header hash for this signature (RFC 6376
    /// 3.7), before canonicalization.
    pub fn unsigned_header(&self) -> String {
        let mut w = Folder::new();
        self.write_unsigned(&mut w);
        w.out
    }

    fn write_unsigned(&self, w: &mut Folder) {
        w.tag("v", "1");
        w.tag("a", self.algorithm.as_str());
        w.tag("c", self.canonicalization.as_str());
        w.tag("d", self.domain.as_str());
        if let Some(i) = &self.identity {
            w.tag("i", &qp_encode(i.to_string().as_bytes()));
        }
        if let Some(q) = &self.query_methods {
            w.tag("q", &q.join(":"));
        }
        w.tag("s", self.selector.as_str());
        let mut digits = [0u8; 20];
        if let Some(t) = self.timestamp {
            w.tag("t", decimal(t, &mut digits));
        }
        if let Some(x) = self.expiration {
            w.tag("x", decimal(x, &mut digits));
        }
        if let Some(l) = self.body_length {
            w.tag("l", decimal(l, &mut digits));
        }
        for (name, value) in &self.unknown_tags {
            w.tag(name, value);
        }
        w.start_tag("h");
        if self.signed_headers.iter().any(|n| n.contains(':')) {
            // not field names: fold as text (only a hand-made value can get here)
            w.splittable_value(&self.signed_headers.join(":"), b":");
        } else {
            w.list_value(&self.signed_headers, ':');
        }
        w.out.push(';');
        w.col += 1;
        if let Some(z) = &self.copied_headers {
            w.start_tag("z");
            w.splittable_value(z, b"|");
            w.out.push(';');
            w.col += 1;
        }
        w.start_tag("bh");
        w.base64_value(&self.body_hash);
        w.out.push(';');
        w.col += 1;
        w.start_tag("b");
    }
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    core::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// Writes `name=value;` pieces, folding with CRLF + TAB at 78 columns.
struct Folder {
    out: String,
    col: usize,
}

impl Folder {
    fn new() -> Self {
        // room for the whole field of the usual signature (Ed25519 or
        // RSA-2048, `b=` included): no reallocation when it is completed
        let mut out = String::with_capacity(1024);
        out.push_str(HEADER_NAME);
        out.push(':');
        Folder {
            col: out.len(),
            out,
        }
    }

    /// Goes on writing after `out`, a field written by a `Folder`.
    fn resume(out: String) -> Self {
        // after a fold, the column counts the TAB as one
        let col = out.rfind('\n').map_or(out.len(), |i| out.len() - i - 1);
        Folder { out, col }
    }

    fn fold(&mut self) {
        self.out.push_str("\r\n\t");
        self.col = 1;
    }

    /// A short tag written whole, folding before it when it does not fit.
    fn tag(&mut self, name: &str, value: &str) {
        let len = name.len() + 1 + value.len() + 1;
        if self.col + 1 + len > FOLD_WIDTH {
            self.fold();
        } else {
            self.out.push(' ');
            self.col += 1;
        }
        self.out.push_str(name);
        self.out.push('=');
        self.out.push_str(value);
        self.out.push(';');
        self.col += len;
    }

    /// Writes ` name=`, folding first unless at least `name=` and a few
    /// characters of the value fit: the value of `b=` then never starts on
    /// a new line, so every way of deleting it gives the same bytes.
    fn start_tag(&mut self, name: &str) {
        if self.col + 1 + name.len() + 1 + 8 > FOLD_WIDTH {
            self.fold();
        } else {
            self.out.push(' ');
            self.col += 1;
        }
        self.out.push_str(name);
        self.out.push('=');
        self.col += name.len() + 1;
    }

    /// Writes `items` joined by `sep`, folding after a separator: the same
    /// as [`splittable_value`](Self::splittable_value) on the joined text,
    /// for items without `sep`, without joining them first.
    fn list_value(&mut self, items: &[HeaderName], sep: char) {
        for (i, item) in items.iter().enumerate() {
            let last = i + 1 == items.len();
            let len = item.len() + usize::from(!last);
            let room = FOLD_WIDTH.saturating_sub(self.col + 1).max(1);
            if len > room && self.col > 1 && !self.out.ends_with('=') {
                self.fold();
            }
            self.out.push_str(item);
            if !last {
                self.out.push(sep);
            }
            self.col += len;
            if !last && self.col + 1 >= FOLD_WIDTH {
                self.fold();
            }
        }
    }

    /// Writes `data` in base64, folding anywhere (as
    /// [`splittable_value`](Self::splittable_value)); encoded on the stack
    /// when it fits (`bh=`, the `b=` of keys up to 4096 bits).
    fn base64_value(&mut self, data: &[u8]) {
        let mut stack = [0u8; 684];
        let mut heap = Vec::new();
        let buf = if base64::encoded_len(data.len()) <= stack.len() {
            &mut stack[..]
        } else {
            heap.resize(base64::encoded_len(data.len()), 0);
            &mut heap[..]
        };
        self.splittable_value(base64::encode_to(data, buf), b"");
    }

    /// Writes a long value, folding between pieces: after any byte of
    /// `seps` when given, else anywhere (base64 allows FWS between any two
    /// characters).
    fn splittable_value(&mut self, value: &str, seps: &[u8]) {
        let mut rest = value;
        while !rest.is_empty() {
            let room = FOLD_WIDTH.saturating_sub(self.col + 1).max(1);
            // The next piece: up to and including a separator, or `room`
            // characters of base64.
            let piece_len = if seps.is_empty() {
                room.min(rest.len())
            } else {
                rest.bytes()
                    .position(|b| seps.contains(&b))
                    .map_or(rest.len(), |i| i + 1)
            };
            if piece_len > room && self.col > 1 && !self.out.ends_with('=') {
                self.fold();
                continue;
            }
            let (piece, tail) = rest.split_at(piece_len.min(rest.len()));
            self.out.push_str(piece);
            self.col += piece.len();
            rest = tail;
            if !rest.is_empty() && self.col + 1 >= FOLD_WIDTH {
                self.fold();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    const A3_ED: &[u8] = b" v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n subject : date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n";

    #[test]
    fn base64_value_folds_like_the_encoded_text() {
        // on the stack and, above 512 bytes (RSA keys over 4096 bits), not
        for len in [0usize, 1, 2, 3, 32, 64, 256, 511, 512, 513, 1024] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            for start in [0usize, 5, 60, 75] {
                let mut a = Folder::new();
                a.out.push_str(&"y".repeat(start));
                a.col += start;
                let mut b = Folder::resume(a.out.clone());
                a.splittable_value(&base64::encode(&data), b"");
                b.base64_value(&data);
                assert_eq!(a.out, b.out, "{len} bytes from column {start}");
                assert_eq!(a.col, b.col);
            }
        }
    }

    #[test]
    fn list_value_folds_like_the_joined_text() {
        // lists of names of many lengths, from many starting columns
        let names: Vec<HeaderName> = (1..40)
            .map(|i| HeaderName::Owned("x".repeat((i * 7) % 23 + 1)))
            .collect();
        for start in 0..80 {
            for n in 0..names.len() {
                let items = &names[..n];
                let mut a = Folder::new();
                a.out.push_str(&"y".repeat(start));
                a.col += start;
                let mut b = Folder::resume(a.out.clone());
                a.splittable_value(&items.join(":"), b":");
                b.list_value(items, ':');
                assert_eq!(a.out, b.out, "start {start}, {n} names");
                assert_eq!(a.col, b.col);
            }
        }
        let mut d = [0u8; 20];
        assert_eq!(decimal(0, &mut d), "0");
        assert_eq!(decimal(1_700_000_000, &mut d), "1700000000");
        assert_eq!(decimal(u64::MAX, &mut d), "18446744073709551615");
    }

    #[test]
    fn parses_rfc8463_a3_signature() {
        let (s, region) = DkimSignature::parse_with_b_region(A3_ED).unwrap();
        assert_eq!(s.algorithm, SigningAlgorithm::Ed25519Sha256);
        assert_eq!(s.canonicalization, Canonicalization::RELAXED_RELAXED);
        assert_eq!(s.domain.as_str(), "football.example.com");
        assert_eq!(s.selector.as_str(), "brisbane");
        assert_eq!(s.timestamp, Some(1528637909));
        assert_eq!(
            s.signed_headers,
            [
                "from",
                "to",
                "subject",
                "date",
                "message-id",
                "from",
                "subject",
                "date"
            ]
        );
        assert_eq!(s.signature.len(), 64);
        assert_eq!(s.body_hash.len(), 32);
        assert!(s.uses_dns_txt());
        assert_eq!(s.auid().to_string(), "@football.example.com");
        // the b= region runs from after '=' to the end, CRLF included
        assert!(A3_ED[..region.start].ends_with(b"b="));
        assert_eq!(region.end, A3_ED.len());
    }

    fn base() -> Vec<u8> {
        b"v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA".to_vec()
    }

    #[test]
    fn required_tags_and_values() {
        assert!(DkimSignature::parse(&base()).is_ok());
        for (tag, err) in [
            ("v", Error::MissingTag("v")),
            ("a", Error::MissingTag("a")),
            ("d", Error::MissingTag("d")),
            ("s", Error::MissingTag("s")),
            ("h", Error::MissingTag("h")),
            ("bh", Error::MissingTag("bh")),
        ] {
            let text = String::from_utf8(base()).unwrap();
            let cut: Vec<&str> = text
                .split("; ")
                .filter(|t| !t.starts_with(&format!("{tag}=")))
                .collect();
            assert_eq!(
                DkimSignature::parse(cut.join("; ").as_bytes()),
                Err(err),
                "{tag}"
            );
        }
        let with = |extra: &str| {
            let mut v = base();
            v.extend_from_slice(extra.as_bytes());
            DkimSignature::parse(&v)
        };
        assert_eq!(
            with("; i=joe@evilexample.com"),
            Err(Error::IdentityNotInDomain)
        );
        assert!(with("; i=joe@sub.Example.com").is_ok());
        assert_eq!(with("; t=10; x=10"), Err(Error::ExpirationBeforeTimestamp));
        assert_eq!(with("; l=-1"), Err(Error::InvalidTagValue("l")));
        assert_eq!(
            with("; l=99999999999999999999999"),
            Err(Error::InvalidTagValue("l"))
        );
        assert_eq!(with("; c=fancy"), Err(Error::UnsupportedCanonicalization));
        assert_eq!(with("; h=from"), Err(Error::DuplicateTag { offset: 68 }));
        let v2 = String::from_utf8(base()).unwrap().replace("v=1", "v=2");
        assert_eq!(
            DkimSignature::parse(v2.as_bytes()),
            Err(Error::UnsupportedVersion)
        );
        let rsa1 = String::from_utf8(base())
            .unwrap()
            .replace("rsa-sha256", "rsa-md5");
        assert_eq!(
            DkimSignature::parse(rsa1.as_bytes()),
            Err(Error::UnsupportedAlgorithm)
        );
        let unknown = with("; foo=bar baz").unwrap();
        assert_eq!(
            unknown.unknown_tags,
            [("foo".to_string(), "bar baz".to_string())]
        );
    }

    #[test]
    fn rfc6376_2_11_i_tag_is_quoted_printable() {
        let mut v = base();
        v.extend_from_slice(b"; i=jlong@example=2Ecom");
        let s = DkimSignature::parse(&v).unwrap();
        assert_eq!(s.identity.unwrap().to_string(), "jlong@example.com");
        let mut v = base();
        v.extend_from_slice(b"; i=a=3Db@example.com");
        let s = DkimSignature::parse(&v).unwrap();
        assert_eq!(s.identity.as_ref().unwrap().local_part(), Some("a=b"));
        // written back encoded, so it parses to the same identity
        let h = s.to_header();
        assert!(h.contains("i=a=3Db@example.com;"));
        assert_eq!(DkimSignature::parse(&h.as_bytes()[15..]).unwrap(), s);
        let mut v = base();
        v.extend_from_slice(b"; i=a=zz@example.com");
        assert_eq!(DkimSignature::parse(&v), Err(Error::InvalidIdentity));
        assert_eq!(qp_decode(b"a=4"), None);
    }

    #[test]
    fn salvage_from_broken_signature() {
        let l = SignatureLabels::salvage(b"v=1; a=rsa-sha256; d=example.com; s=sel; b=ab cd");
        assert_eq!(l.domain.as_deref(), Some("example.com"));
        assert_eq!(l.selector.as_deref(), Some("sel"));
        assert_eq!(l.signature.as_deref(), Some("abcd"));
    }

    fn sample() -> DkimSignature {
        DkimSignature {
            algorithm: SigningAlgorithm::RsaSha256,
            signature: vec![0xAB; 256],
            body_hash: vec![7; 32],
            canonicalization: Canonicalization::RELAXED_RELAXED,
            domain: Domain::new("mail.example.com").unwrap(),
            signed_headers: [
                "from",
                "to",
                "subject",
                "date",
                "message-id",
                "mime-version",
                "content-type",
                "content-transfer-encoding",
                "from",
                "to",
                "subject",
                "date",
                "cc",
                "reply-to",
            ]
            .iter()
            .map(|s| HeaderName::Owned(s.to_string()))
            .collect(),
            identity: Some(Identity::new("someone@mail.example.com").unwrap()),
            body_length: Some(12345),
            query_methods: None,
            selector: Selector::new("sel2024").unwrap(),
            timestamp: Some(1_700_000_000),
            expiration: Some(1_700_086_400),
            copied_headers: None,
            unknown_tags: vec![],
        }
    }

    #[test]
    fn header_folds_at_78_and_round_trips() {
        let s = sample();
        let h = s.to_header();
        assert!(h.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"));
        assert!(h.ends_with("\r\n"));
        for line in h.trim_end_matches("\r\n").split("\r\n") {
            assert!(line.len() <= FOLD_WIDTH, "{} > 78: {line:?}", line.len());
        }
        // continuation lines start with a TAB; the b= value starts on the b= line
        assert!(
            h.split("\r\n")
                .skip(1)
                .all(|l| l.is_empty() || l.starts_with('\t'))
        );
        assert!(!h.contains("b=\r\n"));
        let value = &h.as_bytes()[HEADER_NAME.len() + 1..];
        assert_eq!(DkimSignature::parse(value).unwrap(), s);
        // the unsigned form is the signed one with the b= value deleted
        let (_, region) = DkimSignature::parse_with_b_region(value).unwrap();
        let mut stripped = h.as_bytes()[..HEADER_NAME.len() + 1 + region.start].to_vec();
        stripped.extend_from_slice(&value[region.end..]);
        assert_eq!(stripped, s.unsigned_header().as_bytes());
    }

    #[test]
    fn very_long_names_still_fold_safely() {
        let mut s = sample();
        s.signed_headers = vec![("x-".to_string() + &"a".repeat(100)).into(); 3];
        let h = s.to_header();
        let value = &h.as_bytes()[HEADER_NAME.len() + 1..];
        assert_eq!(DkimSignature::parse(value).unwrap(), s);
    }
}
