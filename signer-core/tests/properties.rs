//! Property tests: chunk invariance of the streaming canonicalizer and
//! body hasher, canonical forms, parser round trips, and no panics on
//! arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use waxseal_core::canonicalize::canonicalize_body;
use waxseal_core::tag_list::{TagList, write_tag_list};
use waxseal_core::{
    BodyCanonicalizer, BodyHasher, CanonicalizationAlgorithm, DkimSignature, HashAlgorithm,
    KeyRecord, Message,
};

// the plain reading of RFC 6376 3.4.3 and 3.4.4 the canonicalizer is
// checked against (shared with the body_chunks fuzz target)
#[path = "reference/body.rs"]
mod reference_body;
use reference_body::reference;

const ALGS: [CanonicalizationAlgorithm; 2] = [
    CanonicalizationAlgorithm::Simple,
    CanonicalizationAlgorithm::Relaxed,
];

/// Bodies made mostly of the bytes that matter to canonicalization.
fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => Just(b' '),
            2 => Just(b'\t'),
            4 => Just(b'\r'),
            4 => Just(b'\n'),
            4 => Just(b'a'),
            1 => Just(0xc3u8),
            1 => any::<u8>(),
        ],
        0..96,
    )
}

fn hash_in_chunks(alg: CanonicalizationAlgorithm, chunks: &[&[u8]]) -> waxseal_core::BodyHash {
    let mut h = BodyHasher::new(alg, HashAlgorithm::Sha256, None);
    for c in chunks {
        h.update(c);
    }
    h.finish()
}

/// Long bodies, mostly text, with every byte that matters to relaxed
/// canonicalization (and the bytes at the edges of its eight-at-a-time
/// scan: controls, 0x21, 8-bit bytes whose low seven bits are SP or CR)
/// at every offset of a word.
fn long_body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            24 => Just(b'a'),
            6 => Just(b' '),
            1 => Just(b'\t'),
            2 => Just(b'\r'),
            2 => Just(b'\n'),
            1 => prop_oneof![
                Just(0x01u8),
                Just(0x1f),
                Just(0x21),
                Just(0x7f),
                Just(0xa0),
                Just(0x8d),
                Just(0xff)
            ],
        ],
        0..600,
    )
}

/// Long bodies of lines of text (base64 and prose) of any length, most
/// ending in CRLF, now and then a bare LF or CR, WSP or a control byte:
/// the line endings fall at every offset of the 32-byte blocks the body
/// scan looks at, and at its edges.
fn crlf_body() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        40 => Just(b'Q'),
        4 => Just(b' '),
        1 => Just(b'\t'),
        1 => Just(0x01u8),
        1 => Just(0xa0u8),
    ];
    // empty lines, which simple canonicalization's scan stops at, often
    let line = prop_oneof![
        1 => Just(Vec::new()),
        8 => proptest::collection::vec(byte, 1..90),
    ];
    let ending = prop_oneof![
        12 => Just(&b"\r\n"[..]),
        1 => Just(&b"\n"[..]),
        1 => Just(&b"\r"[..]),
        1 => Just(&b" \r\n"[..]),
        1 => Just(&b"\r\r\n"[..]),
    ];
    proptest::collection::vec((line, ending), 0..40).prop_map(|v| {
        v.into_iter()
            .flat_map(|(l, e)| l.into_iter().chain(e.iter().copied()))
            .collect()
    })
}

/// Bodies of whole lines, some clean, some not: exercises the fast path
/// that copies runs of unchanged lines.
fn line_body() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        4 => Just(&b"plain text line"[..]),
        2 => Just(&b" leading space"[..]),
        2 => Just(&b"double  space"[..]),
        2 => Just(&b"tab\there"[..]),
        2 => Just(&b"trailing "[..]),
        3 => Just(&b""[..]),
        1 => Just(&b" "[..]),
        1 => Just(&b"cr\rinside"[..]),
    ];
    let ending = prop_oneof![4 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b""[..])];
    proptest::collection::vec((line, ending), 0..24).prop_map(|v| {
        v.into_iter()
            .flat_map(|(l, e)| l.iter().chain(e).copied())
            .collect()
    })
}

/// Bodies whose runs of unchanged text are longer than the canonicalizer
/// scans and hands on at once (32 KiB): a base64 attachment, 76-byte lines,
/// with a few spaces, tabs, CRs and LFs put anywhere.
fn attachment_body() -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<proptest::sample::Index>(),
        prop_oneof![Just(b' '), Just(b'\t'), Just(b'\r'), Just(b'\n')],
    );
    (40_000usize..150_000, proptest::collection::vec(edit, 0..6)).prop_map(|(len, edits)| {
        let mut b = Vec::with_capacity(len + 78);
        while b.len() < len {
            b.extend_from_slice(&[b'Q'; 76]);
            b.extend_from_slice(b"\r\n");
        }
        for (at, byte) in edits {
            let i = at.index(b.len());
            b[i] = byte;
        }
        b
    })
}

/// [`crlf_body`] then empty lines, which both algorithms remove at the end
/// of a body: the scans that pass over many lines at once must stop at an
/// empty line, wherever it falls in their window.
fn trailing_empty_lines() -> impl Strategy<Value = Vec<u8>> {
    let ending = prop_oneof![3 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..])];
    (crlf_body(), proptest::collection::vec(ending, 0..80)).prop_map(|(mut b, endings)| {
        for e in endings {
            b.extend_from_slice(e);
        }
        b
    })
}

/// `b` canonicalizes as the reference does, whole and in chunks of `size`,
/// with long runs handed on as they are scanned (interleave) and without.
fn matches_reference(b: &[u8], size: usize) -> Result<(), TestCaseError> {
    for alg in ALGS {
        let want = reference(alg, b);
        prop_assert_eq!(canonicalize_body(alg, b), want.clone());
        for interleave in [false, true] {
            let mut got = Vec::new();
            let mut c = BodyCanonicalizer::new(alg);
            c.set_interleave(interleave);
            for piece in b.chunks(size) {
                c.update(piece, &mut |o: &[u8]| got.extend_from_slice(o));
            }
            c.finish(&mut |o: &[u8]| got.extend_from_slice(o));
            prop_assert_eq!(&got, &want, "interleave {}", interleave);
        }
    }
    Ok(())
}

/// Bodies of base64 lines (1 to 6 KiB), with what ends or changes a run
/// of relaxed canonicalization (double spaces, a TAB, WSP before a line
/// ending, a bare CR or LF, an empty line, a control byte) put anywhere:
/// the runs that interleave hands on as they are scanned (after 1 KiB)
/// end at every offset of the scan's 64-byte window and of its steps.
fn interleaved_body() -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<proptest::sample::Index>(),
        prop_oneof![
            Just(&b"  "[..]),
            Just(&b"\t"[..]),
            Just(&b" \r\n"[..]),
            Just(&b"\r"[..]),
            Just(&b"\n"[..]),
            Just(&b"\r\n\r\n"[..]),
            Just(&b"\x01"[..]),
            Just(&b"\r\r\n"[..]),
        ],
    );
    (1024usize..6144, proptest::collection::vec(edit, 0..8)).prop_map(|(len, edits)| {
        let mut b = Vec::with_capacity(len + 78);
        let mut x = len as u32;
        while b.len() < len {
            for _ in 0..76 {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                b.push(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [(x >> 26) as usize],
                );
            }
            b.extend_from_slice(b"\r\n");
        }
        for (at, bytes) in edits {
            let i = at.index(b.len());
            b.splice(i..i, bytes.iter().copied());
        }
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Runs longer than one scan canonicalize as the reference does,
    /// whole and in chunks.
    #[test]
    fn runs_longer_than_one_scan_match_reference(b in attachment_body(), size in 1000usize..100_000) {
        matches_reference(&b, size)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The streaming canonicalizer agrees with the plain reading of the RFC.
    #[test]
    fn canonicalization_matches_reference(b in body(), lb in line_body()) {
        for alg in ALGS {
            prop_assert_eq!(canonicalize_body(alg, &b), reference(alg, &b));
            prop_assert_eq!(canonicalize_body(alg, &lb), reference(alg, &lb));
            let mut h = BodyHasher::new(alg, HashAlgorithm::Sha256, None);
            for c in lb.chunks(7) {
                h.update(c);
            }
            prop_assert_eq!(h.finish().digest, HashAlgorithm::Sha256.digest(&reference(alg, &lb)));
        }
    }

    /// Long bodies canonicalize as the reference does, whole and in
    /// chunks of any size.
    #[test]
    fn long_bodies_match_reference(b in long_body(), size in 1usize..200) {
        matches_reference(&b, size)?;
    }

    /// Bodies of long lines (where the scan passes over line endings)
    /// canonicalize as the reference does, whole and in chunks.
    #[test]
    fn line_endings_at_every_offset_match_reference(b in crlf_body(), size in 1usize..300) {
        matches_reference(&b, size)?;
    }

    /// Bodies of long runs with something in them that ends a run, at any
    /// offset, canonicalize as the reference does, whole and in chunks,
    /// handed on as scanned or not.
    #[test]
    fn interleaved_runs_match_reference(b in interleaved_body(), size in 1usize..7000) {
        matches_reference(&b, size)?;
    }

    /// Bodies that end in empty lines canonicalize as the reference does,
    /// whole and in chunks.
    #[test]
    fn trailing_empty_lines_match_reference(b in trailing_empty_lines(), size in 1usize..300) {
        matches_reference(&b, size)?;
    }

    /// Splitting the body at every offset gives the same body hash.
    #[test]
    fn body_hash_is_independent_of_chunking(b in body()) {
        for alg in ALGS {
            let whole = hash_in_chunks(alg, &[&b]);
            for i in 0..=b.len() {
                prop_assert_eq!(hash_in_chunks(alg, &[&b[..i], &b[i..]]), whole);
            }
            // and byte by byte
            let bytes: Vec<&[u8]> = b.chunks(1).collect();
            prop_assert_eq!(hash_in_chunks(alg, &bytes), whole);
        }
    }

    /// Three-way splits with empty chunks in between.
    #[test]
    fn body_hash_three_way_splits(b in body(), i in 0usize..96, j in 0usize..96) {
        let (i, j) = (i.min(b.len()), j.min(b.len()));
        let (i, j) = (i.min(j), i.max(j));
        for alg in ALGS {
            prop_assert_eq!(
                hash_in_chunks(alg, &[&b[..i], &[], &b[i..j], &b[j..], &[]]),
                hash_in_chunks(alg, &[&b])
            );
        }
    }

    /// Canonical forms are fixed points, and have the RFC 6376 3.4 shape.
    #[test]
    fn canonical_form_properties(b in body()) {
        let simple = canonicalize_body(CanonicalizationAlgorithm::Simple, &b);
        prop_assert_eq!(&canonicalize_body(CanonicalizationAlgorithm::Simple, &simple), &simple);
        prop_assert!(simple.ends_with(b"\r\n"));
        prop_assert!(simple == b"\r\n" || !simple.ends_with(b"\r\n\r\n"));

        let relaxed = canonicalize_body(CanonicalizationAlgorithm::Relaxed, &b);
        prop_assert_eq!(&canonicalize_body(CanonicalizationAlgorithm::Relaxed, &relaxed), &relaxed);
        prop_assert!(relaxed.is_empty() || relaxed.ends_with(b"\r\n"));
        prop_assert!(!relaxed.ends_with(b"\r\n\r\n"));
        prop_assert!(!relaxed.contains(&b'\t'));
        prop_assert!(!relaxed.windows(2).any(|w| w == b"  "));
        prop_assert!(!relaxed.windows(3).any(|w| w == b" \r\n"));
        // every LF in canonical output is part of a CRLF
        for out in [&simple, &relaxed] {
            for (i, &c) in out.iter().enumerate() {
                if c == b'\n' {
                    prop_assert!(i > 0 && out[i - 1] == b'\r');
                }
            }
        }
        // the hash covers exactly the canonical bytes
        prop_assert_eq!(
            hash_in_chunks(CanonicalizationAlgorithm::Relaxed, &[&b]).canonical_len,
            relaxed.len() as u64
        );
    }

    /// Written tag lists parse back to the same tags.
    #[test]
    fn tag_list_round_trip(
        tags in proptest::collection::btree_map("[a-z][a-z0-9_]{0,4}", "[!-:<-~]{0,12}", 0..8)
    ) {
        let text = write_tag_list(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let parsed = TagList::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(parsed.len(), tags.len());
        for (k, v) in &tags {
            prop_assert_eq!(parsed.get(k).unwrap().value, v.as_bytes());
        }
    }

    /// Parsers never panic, whatever the input.
    #[test]
    fn parsers_do_not_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = TagList::parse(&data);
        let _ = DkimSignature::parse(&data);
        let _ = KeyRecord::parse(&data);
        let _ = Message::parse(&data);
        let _ = waxseal_core::PrivateKey::parse(&data);
    }
}
