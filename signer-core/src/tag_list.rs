//! Tag=value lists (RFC 6376 3.2), the syntax of `DKIM-Signature` values and
//! of DNS key records.
//!
//! ```text
//! tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//! tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//! tag-name  =  ALPHA *ALNUMPUNC
//! tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//! tval      =  1*VALCHAR          ; VALCHAR = %x21-3A / %x3C-7E
//! ```
//!
//! Tag names are case sensitive; duplicate names are an error ("Tags with
//! duplicate names MUST NOT occur within a single tag-list"); unknown tags are
//! kept so that callers can ignore them or carry them over. Bytes 0x80 and
//! above are accepted in values (RFC 8616 3.2 allows UTF-8 there).
//!
//! Design note: CR and LF count as folding white space here. Inside a header
//! field a line break is always followed by WSP (otherwise it would start the
//! next field), so this is the same as RFC 5322 FWS for every input that
//! reaches this parser, and it also lets bare-LF input through.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::ops::Range;

use crate::error::Error;

/// Whether two short names (tag names, header field names) are the same
/// bytes, compared inline. `==` on strings calls `memcmp`, which in
/// WebAssembly is a function call and a byte loop for every candidate of
/// the right length: a signature's tags are looked up and checked for
/// duplicates some hundred times, mostly one- and two-letter names.
#[inline]
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// One `name=value` pair of a tag list, borrowing from the parsed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    /// The tag name (case sensitive).
    pub name: &'a str,
    /// The value with leading and trailing folding white space removed;
    /// inner white space is kept as it was.
    pub value: &'a [u8],
    /// Where `value` lies in the parsed input. For an empty value this is
    /// the empty range just after `=` and any white space.
    pub value_span: Range<usize>,
    /// Everything between the `=` and the `;` that ends the tag (or the
    /// end of the input), white space included: what RFC 6376 3.7 deletes
    /// for `b=` ("the value of the b= tag (including all surrounding
    /// whitespace) deleted").
    pub region: Range<usize>,
}

impl<'a> Tag<'a> {
    /// The value with all folding white space (SP, HTAB, CR, LF) removed, as
    /// needed for base64 (`b=`, `bh=`, `p=`) and for colon-separated lists.
    pub fn value_without_fws(&self) -> Vec<u8> {
        without_fws(self.value).into_owned()
    }

    /// The value as UTF-8 text, if it is.
    pub fn value_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.value).ok()
    }
}

/// A parsed tag list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagList<'a> {
    tags: Vec<Tag<'a>>,
}

pub(crate) fn is_fws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `text` with folding white space removed: borrowed when it has none,
/// else copied run by run (a folded `b=` value has a fold every line, so
/// a few runs, not a push per byte). The runs are found eight bytes at a
/// time: every FWS byte is below 0x21, and base64 has none.
pub(crate) fn without_fws(text: &[u8]) -> Cow<'_, [u8]> {
    let next_fws = |from: usize| {
        let mut i = next_low(text, from);
        // a byte below 0x21 that is not FWS (a control character) stays
        while i < text.len() && !is_fws(text[i]) {
            i = next_low(text, i + 1);
        }
        i
    };
    let mut fws = next_fws(0);
    if fws == text.len() {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut run = 0;
    loop {
        out.extend_from_slice(&text[run..fws]);
        run = fws;
        while run < text.len() && is_fws(text[run]) {
            run += 1;
        }
        if run == text.len() {
            return Cow::Owned(out);
        }
        fws = next_fws(run);
    }
}

/// Where the first byte below 0x21 at or after `from` is (`text.len()`
/// when none is), eight bytes at a time.
fn next_low(text: &[u8], from: usize) -> usize {
    let rest = text.get(from..).unwrap_or_default();
    let (words, _) = rest.as_chunks::<8>();
    let clean = words
        .iter()
        .take_while(|w| !has_byte_below_0x21(u64::from_le_bytes(**w)))
        .count();
    let start = from + clean * 8;
    text[start..]
        .iter()
        .position(|b| *b < 0x21)
        .map_or(text.len(), |p| start + p)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether a byte of `w` is below 0x21 (the "has a byte less than" word
/// test, exact for "any byte").
fn has_byte_below_0x21(w: u64) -> bool {
    w.wrapping_sub(LO * 0x21) & !w & HI != 0
}

fn is_valchar(b: u8) -> bool {
    matches!(b, 0x21..=0x3a | 0x3c..=0x7e | 0x80..=0xff)
}

/// Whether all eight bytes of `w` are [`is_valchar`]: none below 0x21,
/// none 0x7f, none `;` (the "has a byte less than / equal to" word tests;
/// each is exact for "any byte").
fn eight_valchars(w: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI != 0;
    !(has_byte_below_0x21(w) || has_zero(w ^ (LO * 0x7f)) || has_zero(w ^ (LO * b';' as u64)))
}

impl<'a> TagList<'a> {
    /// Parses a tag list. Runs in O(n log n) in the number of tags (the
    /// duplicate check sorts), O(n) in the input length.
    pub fn parse(input: &'a [u8]) -> Result<Self, Error> {
        // a DKIM-Signature has about a dozen tags: one allocation
        let mut tags = Vec::with_capacity(16);
        let len = input.len();
        let mut pos = 0;
        let skip_fws = |mut p: usize| {
            while p < len && is_fws(input[p]) {
                p += 1;
            }
            p
        };
        loop {
            pos = skip_fws(pos);
            if pos == len {
                break;
            }
            // tag-name = ALPHA *ALNUMPUNC
            let name_start = pos;
            if !input[pos].is_ascii_alphabetic() {
                return Err(Error::TagListSyntax { offset: pos });
            }
            while pos < len && (input[pos].is_ascii_alphanumeric() || input[pos] == b'_') {
                pos += 1;
            }
            let name_end = pos;
            pos = skip_fws(pos);
            if pos == len || input[pos] != b'=' {
                return Err(Error::TagListSyntax { offset: pos });
            }
            let region_start = pos + 1;
            pos = skip_fws(pos + 1);
            let value_start = pos;
            let mut value_end = pos;
            while pos < len && input[pos] != b';' {
                // eight value characters at a time (a b= value is hundreds)
                if let Some(w) = input.get(pos..pos + 8)
                    && eight_valchars(u64::from_le_bytes([
                        w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
                    ]))
                {
                    pos += 8;
                    value_end = pos;
                    continue;
                }
                let b = input[pos];
                if is_valchar(b) {
                    value_end = pos + 1;
                } else if !is_fws(b) {
                    return Err(Error::TagListSyntax { offset: pos });
                }
                pos += 1;
            }
            // The name is ASCII by construction.
            let name = core::str::from_utf8(&input[name_start..name_end])
                .map_err(|_| Error::TagListSyntax { offset: name_start })?;
            tags.push(Tag {
                name,
                value: &input[value_start..value_end],
                value_span: value_start..value_end,
                region: region_start..pos,
            });
            if pos == len {
                break;
            }
            pos += 1; // the ';'
        }
        // Duplicates: the reported one is the second occurrence of the
        // smallest duplicated name. A usual list (a dozen tags) is checked
        // pair by pair, without allocating; a long one by sorting, without
        // quadratic cost on hostile input.
        if tags.len() <= 32 {
            let mut found: Option<&Tag<'_>> = None;
            for (j, t) in tags.iter().enumerate().skip(1) {
                if tags[..j].iter().any(|p| same_name(p.name, t.name))
                    && found.is_none_or(|f| t.name < f.name)
                {
                    found = Some(t);
                }
            }
            return match found {
                Some(t) => Err(Error::DuplicateTag {
                    offset: t.value_span.start,
                }),
                None => Ok(TagList { tags }),
            };
        }
        let mut order: Vec<usize> = (0..tags.len()).collect();
        order.sort_unstable_by(|a, b| tags[*a].name.cmp(tags[*b].name).then(a.cmp(b)));
        for pair in order.windows(2) {
            if tags[pair[0]].name == tags[pair[1]].name {
                let second = &tags[pair[1]];
                let offset = second.value_span.start;
                return Err(Error::DuplicateTag { offset });
            }
        }
        Ok(TagList { tags })
    }

    /// The tag with this exact (case-sensitive) name.
    pub fn get(&self, name: &str) -> Option<&Tag<'a>> {
        self.tags.iter().find(|t| same_name(t.name, name))
    }

    /// All tags in the order they appeared.
    pub fn iter(&self) -> core::slice::Iter<'_, Tag<'a>> {
        self.tags.iter()
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// True when the list has no tags.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

impl<'l, 'a> IntoIterator for &'l TagList<'a> {
    type Item = &'l Tag<'a>;
    type IntoIter = core::slice::Iter<'l, Tag<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.tags.iter()
    }
}

/// Writes a tag list as `name=value; name=value` (the writer side of
/// RFC 6376 3.2). Values are written as given; callers make sure they are
/// valid `tag-value`s.
pub fn write_tag_list<'t>(
    tags: impl IntoIterator<Item = (&'t str, &'t str)>,
) -> alloc::string::String {
    let mut out = alloc::string::String::new();
    for (i, (name, value)) in tags.into_iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    #[test]
    fn same_name_is_string_equality() {
        let names = [
            "",
            "a",
            "b",
            "bh",
            "ba",
            "b=",
            "From",
            "from",
            "Fro",
            "Message-ID",
        ];
        for a in names {
            for b in names {
                assert_eq!(same_name(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn eight_valchars_equals_the_byte_test() {
        // every byte value at every position, against a background of
        // each interesting byte
        for bg in [b'a', 0x21, 0x3a, 0x3c, 0x7e, 0x80, 0xff] {
            for pos in 0..8 {
                for b in 0..=255u8 {
                    let mut w = [bg; 8];
                    w[pos] = b;
                    assert_eq!(
                        eight_valchars(u64::from_le_bytes(w)),
                        w.iter().all(|x| is_valchar(*x)),
                        "{w:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn without_fws_equals_a_byte_filter_on_long_values() {
        // values past the eight-byte words: base64-like runs, every kind
        // of FWS, and control bytes below 0x21 that are not FWS (kept)
        let alphabet = b"aZ09+/=\x00\x1f \t\r\n";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for n in 0..3000 {
            let len = n % 67;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // mostly value bytes, like a folded b=
                    let i = (seed % 40) as usize;
                    alphabet[if i < 30 { i % 7 } else { 7 + i % 6 }]
                })
                .collect();
            let want: Vec<u8> = text.iter().copied().filter(|b| !is_fws(*b)).collect();
            assert_eq!(&*without_fws(&text), &want[..], "{text:?}");
            assert_eq!(
                matches!(without_fws(&text), Cow::Borrowed(_)),
                want.len() == text.len()
            );
        }
    }

    #[test]
    fn without_fws_equals_a_byte_filter() {
        let alphabet = b"ab \t\r\nc";
        for n in 0..2000u32 {
            // every string of up to 5 symbols, by its digits in base 7
            let (mut x, mut text) = (n, Vec::new());
            while x > 0 {
                text.push(alphabet[(x % 7) as usize]);
                x /= 7;
            }
            let want: Vec<u8> = text.iter().copied().filter(|b| !is_fws(*b)).collect();
            assert_eq!(&*without_fws(&text), &want[..], "{text:?}");
        }
    }

    #[test]
    fn rfc6376_3_2_basic_and_trailing_semicolon() {
        let l = TagList::parse(b" v=1; a = rsa-sha256 ;\r\n\tb=ab\r\n cd; ").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l.get("v").unwrap().value, b"1");
        assert_eq!(l.get("a").unwrap().value, b"rsa-sha256");
        assert_eq!(l.get("b").unwrap().value, b"ab\r\n cd");
        assert_eq!(l.get("b").unwrap().value_without_fws(), b"abcd");
    }

    #[test]
    fn empty_values_and_lists() {
        assert!(TagList::parse(b"").unwrap().is_empty());
        assert!(TagList::parse(b"  \r\n ").unwrap().is_empty());
        let l = TagList::parse(b"p=; b= ").unwrap();
        assert_eq!(l.get("p").unwrap().value, b"");
        let b = l.get("b").unwrap();
        assert_eq!(b.value, b"");
        assert_eq!(b.value_span, 7..7);
        assert_eq!(b.region, 6..7);
    }

    #[test]
    fn names_are_case_sensitive_and_unknown_tags_kept() {
        let l = TagList::parse(b"V=1; v=2; x_y9=z").unwrap();
        assert_eq!(l.get("V").unwrap().value, b"1");
        assert_eq!(l.get("v").unwrap().value, b"2");
        assert_eq!(l.get("x_y9").unwrap().value, b"z");
    }

    #[test]
    fn duplicates_reported_alike_in_short_and_long_lists() {
        for list in [
            "a=1; b=2; a=3; b=4",
            "b=1; a=2; b=3; a=4",
            "x=1; x=2; x=3; c=1; c=2",
        ] {
            let short = TagList::parse(list.as_bytes()).unwrap_err();
            let pad: Vec<String> = (0..40).map(|i| alloc::format!("zz{i}=1")).collect();
            let long = alloc::format!("{list}; {}", pad.join("; "));
            assert_eq!(
                TagList::parse(long.as_bytes()).unwrap_err(),
                short,
                "{list}"
            );
        }
    }

    #[test]
    fn rfc6376_3_2_duplicates_rejected() {
        assert_eq!(
            TagList::parse(b"a=1; b=2; a=3"),
            Err(Error::DuplicateTag { offset: 12 })
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [&b"=1"[..], b"1a=2", b"a", b"a=1;;b=2", b"a=\x01", b"a b=1"] {
            assert!(
                matches!(TagList::parse(bad), Err(Error::TagListSyntax { .. })),
                "{bad:?}"
            );
        }
        // inner WSP is part of a value, and '=' is a VALCHAR
        let l = TagList::parse(b"a=1 b=").unwrap();
        assert_eq!(l.get("a").unwrap().value, b"1 b=");
    }

    #[test]
    fn eight_bit_values_allowed_rfc8616() {
        let l = TagList::parse("i=jos\u{e9}@example.com".as_bytes()).unwrap();
        assert_eq!(
            l.get("i").unwrap().value_str(),
            Some("jos\u{e9}@example.com")
        );
    }

    #[test]
    fn writer() {
        assert_eq!(write_tag_list([("v", "DKIM1"), ("p", "")]), "v=DKIM1; p=");
    }
}
