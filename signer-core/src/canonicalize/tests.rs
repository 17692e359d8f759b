//! Canonicalization tests.

use super::*;
#[allow(unused_imports)]
use crate::test_prelude::*;
use CanonicalizationAlgorithm::{Relaxed, Simple};

fn body(alg: CanonicalizationAlgorithm, b: &[u8]) -> Vec<u8> {
    canonicalize_body(alg, b)
}

fn header(alg: CanonicalizationAlgorithm, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    canonicalize_header(alg, raw, &mut out);
    out
}

#[test]
fn parse_c_tag_rfc6376_3_5() {
    assert_eq!(
        Canonicalization::parse(b"relaxed").unwrap(),
        Canonicalization::RELAXED_SIMPLE
    );
    assert_eq!(
        Canonicalization::parse(b"simple/relaxed").unwrap(),
        Canonicalization::SIMPLE_RELAXED
    );
    assert!(Canonicalization::parse(b"Relaxed/simple").is_err());
    assert!(Canonicalization::parse(b"relaxed/").is_err());
    assert!(Canonicalization::parse(b"nofws").is_err());
    assert_eq!(
        Canonicalization::RELAXED_RELAXED.to_string(),
        "relaxed/relaxed"
    );
}

#[test]
fn rfc6376_3_4_5_example() {
    // The example of RFC 6376 3.4.5 (with <SP> and <HTAB> written out).
    let msg_headers: [&[u8]; 2] = [b"A: X\r\n", b"B : Y\t\r\n\tZ  \r\n"];
    let relaxed: Vec<u8> = msg_headers
        .iter()
        .flat_map(|h| header(Relaxed, h))
        .collect();
    assert_eq!(relaxed, b"a:X\r\nb:Y Z\r\n");
    let simple: Vec<u8> = msg_headers.iter().flat_map(|h| header(Simple, h)).collect();
    assert_eq!(simple, b"A: X\r\nB : Y\t\r\n\tZ  \r\n");
    let b = b" C \r\nD \t E\r\n\r\n\r\n";
    assert_eq!(body(Relaxed, b), b" C\r\nD E\r\n");
    assert_eq!(body(Simple, b), b" C \r\nD \t E\r\n");
}

/// RFC 6376 3.4.2 byte by byte, for checking the run-copying
/// implementation: lower-case the name, drop WSP before the colon,
/// unfold, WSP runs to one SP, none at either end of the value.
fn reference_relaxed_header(raw: &[u8]) -> Vec<u8> {
    let colon = raw.iter().position(|b| *b == b':').unwrap_or(raw.len());
    let name = raw[..colon].trim_ascii_end();
    let mut out: Vec<u8> = name.to_ascii_lowercase();
    out.push(b':');
    let value = raw.get(colon + 1..).unwrap_or_default();
    let (mut pending, mut any) = (false, false);
    for (i, &b) in value.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && value.get(i + 1) == Some(&b'\n')) {
            continue;
        }
        if b == b' ' || b == b'\t' {
            pending = true;
            continue;
        }
        if pending && any {
            out.push(b' ');
        }
        (pending, any) = (false, true);
        out.push(b);
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn relaxed_header_matches_the_byte_by_byte_reference() {
    // every value of up to 6 bytes over the bytes that matter
    let alphabet = b"a \t\r\n:";
    let mut value = Vec::new();
    for len in 0..=6u32 {
        for mut n in 0..alphabet.len().pow(len) {
            value.clear();
            value.extend_from_slice(b"Name :");
            for _ in 0..len {
                value.push(alphabet[n % alphabet.len()]);
                n /= alphabet.len();
            }
            assert_eq!(
                header(Relaxed, &value),
                reference_relaxed_header(&value),
                "{:?}",
                String::from_utf8_lossy(&value)
            );
        }
    }
    // a line ending without WSP joins the text (no SP appears)
    assert_eq!(header(Relaxed, b"X: a\r\nb\r\n"), b"x:ab\r\n");
}

#[test]
fn long_relaxed_headers_match_the_reference() {
    // Values long enough for the eight-bytes-at-a-time scan, mostly
    // text with every special byte at every offset of a word, and the
    // bytes at the edges of its test (controls, 0x21, 8-bit bytes whose
    // low seven bits are SP or a control).
    let alphabet = b"aaaaaab \t\r\n:\x01\x1f\x21\x7f\x80\xa0\x8d\xff";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut value = Vec::new();
    for round in 0..20_000 {
        value.clear();
        value.extend_from_slice(b"Name:");
        for _ in 0..round % 97 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            value.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        assert_eq!(
            header(Relaxed, &value),
            reference_relaxed_header(&value),
            "{:?}",
            String::from_utf8_lossy(&value)
        );
    }
}

#[test]
fn empty_body() {
    assert_eq!(body(Simple, b""), b"\r\n");
    assert_eq!(body(Relaxed, b""), b"");
    assert_eq!(body(Simple, b"\r\n\r\n"), b"\r\n");
    assert_eq!(body(Relaxed, b"\r\n\r\n"), b"");
}

#[test]
fn whitespace_only_trailing_lines() {
    // The trap: relaxed must drop lines that become empty.
    assert_eq!(body(Relaxed, b"a\r\n \r\n"), b"a\r\n");
    assert_eq!(body(Relaxed, b"a\r\n \t \r\n\t\r\n\r\n"), b"a\r\n");
    assert_eq!(body(Relaxed, b" \r\n\t\r\n"), b"");
    // simple keeps them: they are not empty lines
    assert_eq!(body(Simple, b"a\r\n \r\n"), b"a\r\n \r\n");
    // inside the body they stay as empty lines
    assert_eq!(body(Relaxed, b"a\r\n \r\nb"), b"a\r\n\r\nb\r\n");
}

#[test]
fn body_without_final_crlf() {
    assert_eq!(body(Simple, b"a\r\nb"), b"a\r\nb\r\n");
    assert_eq!(body(Relaxed, b"a\r\nb  "), b"a\r\nb\r\n");
    assert_eq!(body(Relaxed, b"  "), b"");
}

#[test]
fn bare_lf_is_a_line_ending_bare_cr_is_data() {
    assert_eq!(body(Simple, b"a\nb\n\n"), b"a\r\nb\r\n");
    assert_eq!(body(Relaxed, b"a \n\n"), b"a\r\n");
    assert_eq!(body(Simple, b"a\rb\r\n"), b"a\rb\r\n");
    assert_eq!(body(Simple, b"a\r"), b"a\r\r\n");
    assert_eq!(body(Relaxed, b"a \r b\r\n"), b"a \r b\r\n");
    assert_eq!(body(Relaxed, b"\r"), b"\r\r\n");
    assert_eq!(body(Simple, b"a\r\r\n"), b"a\r\r\n");
    assert_eq!(header(Simple, b"Subject: a\n b\n"), b"Subject: a\r\n b\r\n");
    assert_eq!(header(Relaxed, b"Subject: a\n b\n"), b"subject:a b\r\n");
    assert_eq!(header(Relaxed, b"Subject: a\rb\r\n"), b"subject:a\rb\r\n");
}

#[test]
fn long_lines_and_leading_whitespace() {
    let mut long = vec![b'x'; 100_000];
    long.extend_from_slice(b"  \t y\r\n");
    let mut want = vec![b'x'; 100_000];
    want.extend_from_slice(b" y\r\n");
    assert_eq!(body(Relaxed, &long), want);
    assert_eq!(body(Relaxed, b"\t\ta  b\r\n"), b" a b\r\n");
    assert_eq!(body(Relaxed, b" a\r\n"), b" a\r\n");
}

#[test]
fn folded_headers_with_tabs_and_eight_bit() {
    assert_eq!(
        header(
            Relaxed,
            b"SUBJect\t :\t caf\xc3\xa9 \r\n\t\tna\xefve\t \r\n"
        ),
        b"subject:caf\xc3\xa9 na\xefve\r\n"
    );
    assert_eq!(header(Relaxed, b"X-Empty:\r\n"), b"x-empty:\r\n");
    assert_eq!(header(Relaxed, b"X-Empty:   \r\n \r\n"), b"x-empty:\r\n");
    assert_eq!(header(Simple, b"To: b"), b"To: b\r\n");
}

#[test]
fn many_trailing_empty_lines_then_text() {
    let mut b = vec![b'a'];
    b.extend(b"\r\n".repeat(2000));
    b.push(b'z');
    let mut want = vec![b'a'];
    want.extend(b"\r\n".repeat(2000));
    want.extend(b"z\r\n");
    assert_eq!(body(Simple, &b), want);
    assert_eq!(body(Relaxed, &b), want);
}

/// `n` bytes of base64 lines.
#[cfg(target_arch = "x86_64")]
fn base64_lines(n: usize) -> Vec<u8> {
    let mut b = Vec::new();
    let mut x = 7u32;
    while b.len() < n {
        for _ in 0..76 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            b.push(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(x >> 26) as usize],
            );
        }
        b.extend_from_slice(b"\r\n");
    }
    b
}

/// Canonicalizes `b` with interleave on `c`: the output and where each
/// piece handed on ends in it.
#[cfg(target_arch = "x86_64")]
fn pieces(c: &mut BodyCanonicalizer, b: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut ends = Vec::new();
    let mut out = Vec::new();
    let mut sink = |o: &[u8]| {
        out.extend_from_slice(o);
        ends.push(out.len());
    };
    c.update(b, &mut sink);
    c.finish(&mut sink);
    (out, ends)
}

/// With interleave, a long run goes out in pieces as it is scanned, and
/// short runs a block or two at a time as the output buffer gathers them,
/// each piece ending on a 64-byte block of the output (a hash then takes
/// each whole); the output is the same as without. Also after more than
/// the output buffer of short runs before it, and for a second body.
#[cfg(target_arch = "x86_64")]
#[test]
fn interleave_hands_on_block_pieces() {
    let mut c = BodyCanonicalizer::new(Relaxed);
    c.set_interleave(true);
    // short runs (a double space in every line) of more than the 8 KiB
    // output buffer, which leave the output off a block boundary, then
    // 20 KiB of base64 lines
    let mut b = b"Hi  there, hi  there.\r\n".repeat(500);
    b.extend_from_slice(&base64_lines(20_000));
    for _ in 0..2 {
        let (out, ends) = pieces(&mut c, &b);
        assert_eq!(out, body(Relaxed, &b));
        // the short runs are gathered and go out a block or two at a
        // time, on blocks (out of 10,500 bytes of output)
        let short: Vec<_> = ends.iter().filter(|&&e| e < 10_000).collect();
        assert!(short.len() > 100, "{} pieces", short.len());
        assert!(short.iter().all(|&&e| e % 64 == 0), "{ends:?}");
        // about 19 KiB after the first KiB, in steps of 128 bytes
        let long: Vec<_> = ends.iter().filter(|&&e| e > 13_000).collect();
        assert!(long.len() > 100, "{} pieces", long.len());
        // all but what the run and the end of the body leave over
        let aligned = long.iter().filter(|&&&e| e % 64 == 0).count();
        assert!(aligned >= long.len() - 3, "{ends:?}");
    }
    // a control byte in every line (an escape sequence) stops the scan on
    // every line without ending the run: the pieces stay small all the same
    let mut b = Vec::new();
    for _ in 0..2_000 {
        b.extend_from_slice(b"\x1b$B");
        b.extend_from_slice(&[b'A'; 70]);
        b.extend_from_slice(b"\r\n");
    }
    let (out, ends) = pieces(&mut c, &b);
    assert_eq!(out, body(Relaxed, &b));
    let starts = core::iter::once(0).chain(ends.iter().copied());
    let longest = ends.iter().zip(starts).map(|(e, s)| e - s).max();
    assert!(longest <= Some(2048), "a piece of {longest:?} bytes");
}

/// Simple with interleave: the stretches of whole lines go out in pieces
/// as they are scanned, on blocks, the last line's CRLF held back (the
/// empty lines after it are trailing, and removed).
#[cfg(target_arch = "x86_64")]
#[test]
fn interleave_hands_on_simple_lines_in_block_pieces() {
    let mut c = BodyCanonicalizer::new(Simple);
    c.set_interleave(true);
    let mut b = b"Hi.\r\n\r\n".to_vec();
    b.extend_from_slice(&base64_lines(20_000));
    b.extend_from_slice(b"\r\n\r\n");
    for _ in 0..2 {
        let (out, ends) = pieces(&mut c, &b);
        assert_eq!(out, body(Simple, &b));
        // the first piece is the buffer ("Hi." and the empty line), then
        // the stretch, then what is left at the end
        let inner = &ends[1..ends.len() - 1];
        assert_eq!(ends[0], 7);
        assert!(inner.len() > 100, "{} pieces", inner.len());
        assert!(inner.iter().all(|&e| e % 64 == 0), "{ends:?}");
        let starts = core::iter::once(0).chain(ends.iter().copied());
        let longest = ends.iter().zip(starts).map(|(e, s)| e - s).max();
        assert!(longest <= Some(256), "a piece of {longest:?} bytes");
    }
}
