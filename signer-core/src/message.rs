//! Splitting a message into header fields and body (RFC 5322 2.1, 2.2).
//!
//! # What is normalized
//!
//! Messages are taken as raw bytes. Both CRLF and bare LF line endings are
//! accepted, also mixed in one message:
//!
//! * A bare LF (one not preceded by CR) is read as CRLF, exactly as if the
//!   message had been converted to the SMTP wire form. This applies to the
//!   header block, to the empty line that ends it, and to the body.
//! * A bare CR (one not followed by LF) is *data*: it is neither a line
//!   ending nor removed. (RFC 5322 forbids it; some libraries drop it
//!   silently, which makes them disagree with signers that keep it.)
//! * Nothing else is changed: header field bytes are kept exactly (8-bit
//!   bytes included) and hashed from the original slices.
//!
//! The header block ends at the first empty line. A message that has no
//! empty line is all header and has an empty body (RFC 5322 3.5 makes the
//! body optional). A line in the header block that is neither `name:` nor a
//! continuation (starting with SP or HTAB) is an error, as is a
//! continuation line before the first field.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Error;

/// A header field name as the signer lists it (in a header selection, or
/// a signature's `h=`): the defaults are static strings, so options are
/// cheap to build and clone.
pub type HeaderName = alloc::borrow::Cow<'static, str>;

/// True for an RFC 5322 `field-name` (1*ftext).
pub fn is_field_name(name: &str) -> bool {
    // no early exit: short names check faster without branches
    !name.is_empty()
        && name
            .bytes()
            .fold(true, |ok, b| ok & (b.wrapping_sub(33) < 94) & (b != b':'))
}

/// One header field, borrowing the original bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// The whole field: name, colon, value and continuation lines, with
    /// the line ending(s) as they were in the input (CRLF or bare LF).
    /// The last field of a message without body may lack a line ending.
    pub raw: &'a [u8],
    /// The field name, without white space before the colon.
    pub name: &'a [u8],
    /// Everything after the colon, line endings included.
    pub value: &'a [u8],
}

impl HeaderField<'_> {
    /// ASCII case-insensitive name comparison (RFC 5322 1.2.2).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// A message split into its header fields and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The header fields, top to bottom.
    pub fields: Vec<HeaderField<'a>>,
    /// The body: everything after the empty line that ends the header
    /// block (empty when there is none).
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Splits `message` into header fields and body.
    pub fn parse(message: &'a [u8]) -> Result<Self, Error> {
        let (header_len, body_start) = match find_header_end(message, 0) {
            Some(end) => end,
            None => (message.len(), message.len()),
        };
        let fields = parse_header_block(&message[..header_len])?;
        Ok(Message {
            fields,
            body: &message[body_start..],
        })
    }
}

/// Searches for the empty line that ends the header block, starting the
/// search at `from` (which must be 0 or just after an LF already scanned).
///
/// Returns `(header_block_len, body_start)`: the header block is
/// `[..header_block_len]` (its last field's line ending included) and the
/// body starts at `body_start`, after the empty line.
pub(crate) fn find_header_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    // An empty line at the very start: no header fields at all.
    if from == 0 {
        if buf.starts_with(b"\r\n") {
            return Some((0, 2));
        }
        if buf.starts_with(b"\n") {
            return Some((0, 1));
        }
    }
    let mut pos = from;
    while let Some(i) = memchr::memchr(b'\n', &buf[pos..]) {
        let lf = pos + i;
        let next = &buf[lf + 1..];
        if next.starts_with(b"\n") {
            return Some((lf + 1, lf + 2));
        }
        if next.starts_with(b"\r\n") {
            return Some((lf + 1, lf + 3));
        }
        pos = lf + 1;
    }
    None
}

/// Where a streaming search may resume after `buf` was scanned without
/// finding the end: just after the last LF whose following line could
/// still turn out to be empty.
pub(crate) fn resume_point(buf: &[u8], from: usize) -> usize {
    // Every earlier LF is followed by a complete, non-empty line; only the
    // line after the last LF ("", or "\r") may still turn out to be empty.
    memchr::memrchr(b'\n', &buf[from..]).map_or(from, |i| from + i)
}

/// The line-ending style of a message read in chunks, from its first LF
/// (which may be the first byte of a chunk, its CR ending the previous
/// one): a signature field goes on top in the same style. Every face that
/// streams a message to sign keeps one.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineEnds {
    bare_lf: Option<bool>,
    last: Option<u8>,
}

impl LineEnds {
    /// Looks at the next chunk.
    pub fn see(&mut self, chunk: &[u8]) {
        if self.bare_lf.is_none()
            && let Some(i) = memchr::memchr(b'\n', chunk)
        {
            let before = if i == 0 {
                self.last
            } else {
                Some(chunk[i - 1])
            };
            self.bare_lf = Some(before != Some(b'\r'));
        }
        if let Some(&b) = chunk.last() {
            self.last = Some(b);
        }
    }

    /// True when the first line ends in a bare LF.
    pub fn bare_lf(&self) -> bool {
        self.bare_lf == Some(true)
    }

    /// `text` (CRLF line ends, as the signer writes them) in the message's
    /// style.
    pub fn adapt(&self, text: String) -> String {
        if self.bare_lf() {
            text.replace("\r\n", "\n")
        } else {
            text
        }
    }
}

/// True when `data` has CRs and not one LF: line ends that are CR only,
/// which DKIM does not read as line ends (RFC 6376 uses CRLF; a bare LF is
/// accepted as one, a bare CR is data).
pub fn cr_only(data: &[u8]) -> bool {
    memchr::memchr(b'\r', data).is_some() && memchr::memchr(b'\n', data).is_none()
}

/// Whether the message is stored with bare LF line endings (its first
/// line ends in LF without CR). A caller that prepends a signature field
/// (which the signer writes with CRLF) to such a message should convert
/// the field's line endings to match.
pub fn uses_bare_lf(message: &[u8]) -> bool {
    match memchr::memchr(b'\n', message) {
        Some(i) => i == 0 || message[i - 1] != b'\r',
        None => false,
    }
}

/// Parses a header block (without the empty line that ends it) into fields.
pub fn parse_header_block(block: &[u8]) -> Result<Vec<HeaderField<'_>>, Error> {
    Ok(parse_header_spans(block)?
        .iter()
        .map(|s| s.field(block))
        .collect())
}

/// Where a header field is in its header block: what
/// [`parse_header_block`] finds, as offsets, for keeping across calls
/// (the signer parses the block once, when it is complete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    start: usize,
    end: usize,
    /// Offsets from `start`.
    name_end: usize,
    colon: usize,
}

impl FieldSpan {
    /// The field, in the block the span was found in.
    pub(crate) fn field<'a>(&self, block: &'a [u8]) -> HeaderField<'a> {
        let raw = &block[self.start..self.end];
        HeaderField {
            raw,
            name: &raw[..self.name_end],
            value: &raw[self.colon + 1..],
        }
    }
}

/// [`parse_header_block`] as spans.
pub(crate) fn parse_header_spans(block: &[u8]) -> Result<Vec<FieldSpan>, Error> {
    // room for the usual header block without growing
    let mut fields: Vec<FieldSpan> = Vec::with_capacity(16);
    // the current field: where it starts and where its first line ends
    let mut start: Option<(usize, usize)> = None;
    let mut pos = 0;
    while pos < block.len() {
        let line_end = match memchr::memchr(b'\n', &block[pos..]) {
            Some(i) => pos + i + 1,
            None => block.len(),
        };
        let first = block[pos];
        if first == b' ' || first == b'\t' {
            if start.is_none() {
                return Err(malformed(block, pos));
            }
        } else {
            if let Some((s, first_line)) = start {
                fields.push(make_field(block, s, first_line, pos)?);
            }
            start = Some((pos, line_end));
        }
        pos = line_end;
    }
    if let Some((s, first_line)) = start {
        fields.push(make_field(block, s, first_line, block.len())?);
    }
    Ok(fields)
}

fn malformed(block: &[u8], offset: usize) -> Error {
    let line = 1 + block[..offset].iter().filter(|b| **b == b'\n').count();
    Error::MalformedHeaderField { offset, line }
}

/// The field `block[start..end]`, whose first line ends at `first_line`
/// (after its LF, as the caller found it).
fn make_field(
    block: &[u8],
    start: usize,
    first_line: usize,
    end: usize,
) -> Result<FieldSpan, Error> {
    let raw = &block[start..end];
    let colon =
        memchr::memchr(b':', &block[start..first_line]).ok_or_else(|| malformed(block, start))?;
    let mut name = &raw[..colon];
    while let [rest @ .., b' ' | b'\t'] = name {
        name = rest;
    }
    // field-name = 1*ftext; ftext = %d33-57 / %d59-126 (RFC 5322 3.6.8)
    if name.is_empty() || !name.iter().all(|b| matches!(b, 33..=57 | 59..=126)) {
        return Err(malformed(block, start));
    }
    Ok(FieldSpan {
        start,
        end,
        name_end: name.len(),
        colon,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    #[test]
    fn line_ends_from_the_first_lf_however_the_message_is_cut() {
        for (msg, bare) in [
            (&b"From: a\r\nTo: b\n\r\nbody\n"[..], false),
            (&b"From: a\nTo: b\r\n\nbody\r\n"[..], true),
            (&b"\nFrom: a\r\n"[..], true),
        ] {
            for at in 0..=msg.len() {
                let mut ends = LineEnds::default();
                ends.see(&msg[..at]);
                ends.see(&msg[at..]);
                assert_eq!(ends.bare_lf(), bare, "cut at {at}");
            }
        }
        let mut crlf = LineEnds::default();
        crlf.see(b"a\r\n");
        assert_eq!(crlf.adapt("X: 1\r\n\t2\r\n".into()), "X: 1\r\n\t2\r\n");
        let mut lf = LineEnds::default();
        lf.see(b"a\n");
        assert_eq!(lf.adapt("X: 1\r\n\t2\r\n".into()), "X: 1\n\t2\n");
    }

    #[test]
    fn crlf_and_lf_messages_split_alike() {
        let crlf = Message::parse(b"From: a\r\nSubject: x\r\n  y\r\n\r\nbody\r\n").unwrap();
        let lf = Message::parse(b"From: a\nSubject: x\n  y\n\nbody\n").unwrap();
        assert_eq!(crlf.fields.len(), 2);
        assert_eq!(lf.fields.len(), 2);
        assert_eq!(crlf.fields[1].raw, b"Subject: x\r\n  y\r\n");
        assert_eq!(lf.fields[1].value, b" x\n  y\n");
        assert_eq!(crlf.body, b"body\r\n");
        assert_eq!(lf.body, b"body\n");
    }

    #[test]
    fn name_without_trailing_wsp_and_eight_bit_values() {
        let m = Message::parse(b"Subject \t: caf\xc3\xa9\r\n\r\n").unwrap();
        assert_eq!(m.fields[0].name, b"Subject");
        assert!(m.fields[0].is("subject"));
        assert_eq!(m.fields[0].value, b" caf\xc3\xa9\r\n");
        assert_eq!(m.body, b"");
    }

    #[test]
    fn headers_only_and_empty_header_block() {
        let m = Message::parse(b"From: a\r\nTo: b").unwrap();
        assert_eq!(m.fields.len(), 2);
        assert_eq!(m.fields[1].raw, b"To: b");
        assert_eq!(m.body, b"");
        let m = Message::parse(b"\r\nbody").unwrap();
        assert!(m.fields.is_empty());
        assert_eq!(m.body, b"body");
        assert_eq!(Message::parse(b"").unwrap().fields.len(), 0);
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert_eq!(
            Message::parse(b"From: a\r\nno colon here\r\n\r\n"),
            Err(Error::MalformedHeaderField { offset: 9, line: 2 })
        );
        assert_eq!(
            Message::parse(b" leading continuation\r\n\r\n"),
            Err(Error::MalformedHeaderField { offset: 0, line: 1 })
        );
        assert!(Message::parse(b": empty name\r\n\r\n").is_err());
        assert!(Message::parse(b"Bad Name: x\r\n\r\n").is_err());
        // the colon must be on the field's first line
        assert!(Message::parse(b"Subject\r\n : x\r\n\r\n").is_err());
    }

    #[test]
    fn bare_cr_is_data_not_a_line_ending() {
        let m = Message::parse(b"A: 1\r\rB: 2\r\n\r\n").unwrap();
        assert_eq!(m.fields.len(), 1);
        assert_eq!(m.fields[0].value, b" 1\r\rB: 2\r\n");
    }

    #[test]
    fn header_end_search_resumes() {
        let buf = b"A: 1\r\nB: 2\r\n\r\nx";
        assert_eq!(find_header_end(buf, 0), Some((12, 14)));
        let r = resume_point(&buf[..7], 0);
        assert_eq!(find_header_end(buf, r), Some((12, 14)));
        assert_eq!(find_header_end(b"A: 1\n\nx", 0), Some((5, 6)));
        assert_eq!(find_header_end(b"A: 1\n\r\nx", 0), Some((5, 7)));
    }

    #[test]
    fn bare_lf_detection() {
        assert!(uses_bare_lf(b"From: a\n\nbody\r\n"));
        assert!(uses_bare_lf(b"\nx"));
        assert!(!uses_bare_lf(b"From: a\r\n\nbody\n"));
        assert!(!uses_bare_lf(b"From: a"));
        assert!(!uses_bare_lf(b""));
    }
}
