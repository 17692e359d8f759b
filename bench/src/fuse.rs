//! `--fuse`: whether relaxed canonicalization could hide under SHA-256.
//!
//! SHA-256 with SHA-NI is bound by the latency of its rounds, which leaves
//! execution units idle; the core scans a run of the body (up to 32 KiB)
//! and then hashes it, so the scan's cost adds to the hash's. This
//! measures, on 10 MB of base64 lines, a model of the core's 64-byte
//! relaxed window (four SSE2 tests a byte, the neighbours as shifts of the
//! masks; not the core's code, which is private) and SHA-256's block
//! function (`sha2::block_api::compress256`, the one the core's hasher
//! runs), four ways: the hash alone, the scan alone, scan 32 KiB then hash
//! it (the core's order), and the two interleaved a few blocks at a time.
//! Each line prints MB/s and the ratio to the hash alone.

use safe_arch::{
    cmp_eq_mask_i8_m128i, load_unaligned_m128i, m128i, min_u8_m128i, move_mask_i8_m128i,
    set_splat_i8_m128i,
};

use crate::canon::base64_body;
use crate::race::race;

/// SHA-256's initial state (FIPS 180-4 5.3.3).
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The relaxed candidates of one 64-byte block (edges left out): a byte up
/// to 0x20, except an SP followed by text, and either byte of a CRLF
/// followed by text.
#[inline(always)]
fn candidates(block: &[u8; 64]) -> u64 {
    let (sp, cr, lf) = (
        set_splat_i8_m128i(b' ' as i8),
        set_splat_i8_m128i(b'\r' as i8),
        set_splat_i8_m128i(b'\n' as i8),
    );
    let (mut low, mut sps, mut crs, mut lfs) = (0u64, 0u64, 0u64, 0u64);
    for (k, bytes) in block.as_chunks::<16>().0.iter().enumerate() {
        let v = load_unaligned_m128i(bytes);
        let bits = |x: m128i| u64::from(move_mask_i8_m128i(x) as u16) << (16 * k);
        low |= bits(cmp_eq_mask_i8_m128i(min_u8_m128i(v, sp), v));
        sps |= bits(cmp_eq_mask_i8_m128i(v, sp));
        crs |= bits(cmp_eq_mask_i8_m128i(v, cr));
        lfs |= bits(cmp_eq_mask_i8_m128i(v, lf));
    }
    let (text_1, text_2) = (!low >> 1, !low >> 2);
    low & !(sps & text_1) & !(crs & (lfs >> 1) & text_2) & !(lfs & (crs << 1) & text_1)
}

fn scan(blocks: &[[u8; 64]]) -> u64 {
    blocks.iter().fold(0, |acc, b| acc | candidates(b))
}

/// Scans `per` blocks, then hashes them, to the end.
fn scan_then_hash(blocks: &[[u8; 64]], per: usize) {
    let (mut st, mut found) = (H0, 0);
    for group in blocks.chunks(per) {
        found |= scan(group);
        sha2::block_api::compress256(&mut st, group);
    }
    std::hint::black_box((st, found));
}

pub(crate) fn fuse_race() {
    let body = base64_body(10 << 20);
    let blocks = body.as_chunks::<64>().0;
    let mb = std::mem::size_of_val(blocks) as f64 / (1 << 20) as f64;
    let mut hash = || {
        let mut st = H0;
        sha2::block_api::compress256(&mut st, blocks);
        std::hint::black_box(st);
    };
    let mut scan_only = || {
        std::hint::black_box(scan(blocks));
    };
    // the core's order: a run of 32 KiB scanned, then hashed
    let mut serial = || scan_then_hash(blocks, 512);
    // two blocks scanned, then hashed: the scan runs while the previous
    // blocks' rounds are still in flight
    let mut fused = || scan_then_hash(blocks, 2);
    let r = race(
        0.3,
        &mut [
            ("hash", &mut hash),
            ("scan", &mut scan_only),
            ("serial", &mut serial),
            ("fused", &mut fused),
        ],
    );
    println!("relaxed window model and SHA-256 blocks, 10 MB of base64 lines:");
    for (i, name) in [
        "SHA-256 alone",
        "the scan alone",
        "scan 32 KiB, then hash it",
        "scan 2 blocks, hash them",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "  {name:<26} {:6.0} MB/s = {:.2}x SHA-256 alone",
            r[i] * mb,
            r.ratio(i, 0)
        );
    }
}
