//! `--canon`: what body canonicalization adds to hashing. The core's
//! streaming body hasher (canonicalization + SHA-256, as signing and
//! verification run it) against SHA-256 alone on the same bytes, and the
//! canonicalization alone, on 10 MB of prose (a double space in every
//! line) and of base64 lines, relaxed and simple (WAXSEAL_CANON_LEN: another
//! size in bytes, e.g. one that fits in the L2 cache).

use sha2::Digest as _;
use waxseal_core::canonicalize::BodyCanonicalizer;
use waxseal_core::{BodyHasher, CanonicalizationAlgorithm, HashAlgorithm};

use crate::message;
use crate::race::race;

/// `len` bytes of base64 text in lines of 76 characters (pseudo-random).
pub(crate) fn base64_body(len: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(len + 80);
    let mut x: u32 = 1;
    while out.len() < len {
        for _ in 0..76 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            out.push(ALPHABET[(x >> 26) as usize]);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// SHA-256 of `body` alone: the limit the body hash is measured against.
pub(crate) fn sha256_alone(body: &[u8]) {
    std::hint::black_box(HashAlgorithm::Sha256.digest(body));
}

/// The core's body hash of `body` (canonicalization + SHA-256), as
/// signing and verification run it.
pub(crate) fn body_hash(alg: CanonicalizationAlgorithm, body: &[u8]) {
    let mut h = BodyHasher::new(alg, HashAlgorithm::Sha256, None);
    h.update(body);
    std::hint::black_box(h.finish());
}

pub(crate) fn canon_race() {
    let len = std::env::var("WAXSEAL_CANON_LEN").map_or(10 << 20, |v| v.parse().unwrap());
    let prose = message(len);
    let base64 = base64_body(len);
    println!(
        "body canonicalization + SHA-256 (the core's BodyHasher) against SHA-256 alone, {:.2} MB:",
        len as f64 / (1 << 20) as f64
    );
    for (name, body, alg) in [
        ("prose, relaxed", &prose, CanonicalizationAlgorithm::Relaxed),
        (
            "base64, relaxed",
            &base64,
            CanonicalizationAlgorithm::Relaxed,
        ),
        ("prose, simple", &prose, CanonicalizationAlgorithm::Simple),
        ("base64, simple", &base64, CanonicalizationAlgorithm::Simple),
    ] {
        let mut hash = || sha256_alone(body);
        let mut both = || body_hash(alg, body);
        // the same work with the canonicalizer's pieces as they were
        // before interleave: runs of up to 32 KiB, scanned, then hashed,
        // and short runs gathered 8 KiB at a time
        let mut serial = || {
            let mut c = BodyCanonicalizer::new(alg);
            let mut h = sha2::Sha256::new();
            c.update(body, &mut |x: &[u8]| h.update(x));
            c.finish(&mut |x: &[u8]| h.update(x));
            std::hint::black_box(h.finalize());
        };
        let mut canon = || {
            let mut n = 0usize;
            let mut c = BodyCanonicalizer::new(alg);
            c.update(body, &mut |x: &[u8]| n += x.len());
            c.finish(&mut |x: &[u8]| n += x.len());
            std::hint::black_box(n);
        };
        let r = race(
            0.3,
            &mut [
                ("sha256", &mut hash),
                ("both", &mut both),
                ("canon", &mut canon),
                ("serial", &mut serial),
            ],
        );
        let mb = body.len() as f64 / (1 << 20) as f64;
        println!(
            "  {name:<16} {:5.0} MB/s = {:.2}x SHA-256 alone ({:5.0} MB/s; target >= 0.85); canonicalization alone {:5.0} MB/s",
            r[1] * mb,
            r.ratio(1, 0),
            r[0] * mb,
            r[2] * mb
        );
        println!(
            "  {:<16} without interleave {:5.0} MB/s = {:.2}x SHA-256 alone; interleave {:.2}x without",
            "",
            r[3] * mb,
            r.ratio(3, 0),
            r.ratio(1, 3)
        );
    }
}
