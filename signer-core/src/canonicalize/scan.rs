//! Finding the ends of text runs fast (eight bytes at a time, or 32 with
//! WebAssembly SIMD): what relaxed canonicalization copies whole; and the
//! lines simple canonicalization copies whole (64 bytes at a time).

/// The bytes that end a run of header text: WSP, CR, LF.
pub(super) const BREAKS_TEXT: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

/// The first index from `i` on that ends a run of text (of a header
/// value or a body line): a TAB, CR or LF, or an SP followed by WSP, CR, LF
/// or the end (one SP between text stays as it is, so most values are one
/// run); `value.len()` if none.
///
/// Design note: eight bytes are tested at a time (SWAR: a word's bytes
/// compared at once with carry-free arithmetic), two words per loop turn,
/// or 32 bytes per turn with WebAssembly SIMD (the component's build:
/// module `simd`), which is what makes relaxed canonicalization cheap in
/// WebAssembly too. The word test finds
/// candidates, a superset of the ends (any byte up to 0x20 other than SP,
/// an SP followed by one), with few operations; each candidate and the
/// last bytes are then checked one at a time. Inlined: in wasmtime every
/// call also pays an interruption check.
#[inline(always)]
pub(super) fn text_run_end(value: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    fn word(b: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    }
    // the high bit of each byte that is at most 0x20 (SP, TAB, CR, LF and
    // the other controls), exactly: no carry crosses bytes
    fn low(w: u64) -> u64 {
        !(((w & LOW7) + 0x5f * LO) | w | LOW7)
    }
    // the candidates of word `w`, given which bytes after them are low; of
    // the bytes up to 0x20 only SP has bit 5 (moved to bit 7 by the shift)
    fn candidates(w: u64, low: u64, next_low: u64) -> u64 {
        low & (!(w << 2) | next_low)
    }
    'scan: loop {
        'word: {
            // WebAssembly with SIMD: 32 bytes per loop turn first
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            if let Some(c) = simd::first_candidate(value, &mut i) {
                i = c;
                break 'word;
            }
            // two words at a time (fewer loop turns, each of which costs an
            // interruption check in wasmtime), with a 17th byte after them
            // to see what follows an SP
            while let Some(block) = value.get(i..i + 17) {
                let (w0, w1) = (word(&block[..8]), word(&block[8..16]));
                let (l0, l1) = (low(w0), low(w1));
                let c0 = candidates(w0, l0, (l0 >> 8) | (l1 << 56));
                let c1 = candidates(w1, l1, (l1 >> 8) | (u64::from(block[16] <= 0x20) << 63));
                if c0 | c1 != 0 {
                    i += if c0 != 0 {
                        (c0.trailing_zeros() / 8) as usize
                    } else {
                        8 + (c1.trailing_zeros() / 8) as usize
                    };
                    break 'word;
                }
                i += 16;
            }
            // then one word with a ninth byte after it
            if let Some(nine) = value.get(i..i + 9) {
                let w = word(nine);
                let l = low(w);
                let c = candidates(w, l, (l >> 8) | (u64::from(nine[8] <= 0x20) << 63));
                if c == 0 {
                    i += 8;
                    continue 'scan;
                }
                i += (c.trailing_zeros() / 8) as usize;
            }
        }
        // a candidate, or one of the last bytes: one byte at a time
        match value.get(i) {
            None => return i,
            Some(&b) if !BREAKS_TEXT[usize::from(b)] => i += 1,
            Some(b' ')
                if value
                    .get(i + 1)
                    .is_some_and(|&n| !BREAKS_TEXT[usize::from(n)]) =>
            {
                i += 2
            }
            Some(_) => return i,
        }
    }
}

/// [`text_run_end`] for a body (RFC 6376 3.4.4) from `i >= 1`: the same
/// ends, except that a CRLF with text on both sides may be passed over (it
/// is its own canonical form, and the caller joins such lines into one run
/// anyway).
///
/// Design note: a body of long lines without WSP (base64 above all) is
/// nearly all text, so the cost is the scan. It looks at many bytes at a
/// time with vector compares: 64 on x86-64 (SSE2, module `sse2`), 32 on
/// aarch64 in portable code that the compiler turns into NEON compares.
/// Each byte is tested with the byte before and the two after, so a
/// line's CRLF is no candidate when text follows it, and a base64
/// attachment goes through without stopping at every line. The candidates
/// are a superset of the ends (as in [`text_run_end`], which checks them
/// one by one).
///
/// WebAssembly with SIMD (the component) takes the x86-64 path's 64-byte
/// window, its masks made by `i8x16.bitmask` (module `simd`), once the
/// caller has seen the run pass two line endings (`long_run`): such a run
/// usually goes on (a base64 attachment, a paragraph), where in a run
/// that stops on every line (at a double space, an indent) the window
/// costs more than the text scan it replaces. Only where vector compares
/// are there: on baseline WebAssembly (the npm package) and small cores
/// the same code would test one byte at a time, slower than
/// [`text_run_end`]'s words.
#[inline(always)]
pub(super) fn body_run_end(
    value: &[u8],
    #[allow(unused_mut)] mut i: usize,
    long_run: bool,
    last: &mut LastBlock,
) -> usize {
    if i == 0 {
        // no byte before: the caller always has one (the run's first)
        return text_run_end(value, i);
    }
    // WebAssembly: a window costs several times a turn of the text scan,
    // which pays only where the run goes on past line endings (out of
    // line: the short runs' code stays as small as it was)
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if long_run {
        return simd::body_run_end_wide(value, i);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let _ = long_run;
    #[cfg(not(target_arch = "x86_64"))]
    let _ = last;
    #[cfg(target_arch = "x86_64")]
    {
        i = wide_window(value, i, sse2::body_masks, &mut |_| {}, last);
    }
    // the window: the byte before the block, 32 bytes, the two after
    #[cfg(target_arch = "aarch64")]
    {
        while let Some(w) = value.get(i - 1..i + 34).and_then(|w| w.first_chunk::<35>()) {
            let c = body_candidates(w);
            if c != 0 {
                i += c.trailing_zeros() as usize;
                break;
            }
            i += 32;
        }
        // a block may end between the CR and the LF of a line ending it
        // passed over: the line ending is looked at whole
        if value[i - 1] == b'\r' && value.get(i) == Some(&b'\n') {
            i -= 1;
        }
    }
    text_run_end(value, i)
}

/// [`body_run_end`] on x86-64 for a run whose bytes go out as the scan
/// passes them: `passed(k)` every [`PASSED_STEP`] bytes or so says that
/// `value[i..k]` is text of the run (the caller hands it on, and its hasher
/// works on it while the scan goes on).
#[cfg(target_arch = "x86_64")]
pub(super) fn body_run_end_passing(
    value: &[u8],
    i: usize,
    passed: &mut impl FnMut(usize),
    last: &mut LastBlock,
) -> usize {
    text_run_end(value, wide_window(value, i, sse2::body_masks, passed, last))
}

/// The candidates of the block the 64-byte window scan (x86-64) found one
/// in last: `(start, candidates)`, bit `k` for `value[start + k]`. One per
/// chunk (the indices are the chunk's).
///
/// Design note: a run that stops often (prose with a double space in
/// every line) asks for the next candidate a few bytes after the last one,
/// usually in the same block. The candidates of a byte depend only on the
/// bytes around it, so the block's mask answers without testing its bytes
/// again, and the scan goes on block after block: about one window per
/// 64 bytes rather than two or three per line.
pub(super) type LastBlock = Option<(usize, u64)>;

/// How many bytes [`body_run_end_passing`] scans between two calls of its
/// `passed`.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
const PASSED_STEP: usize = 128;

/// The 64-byte window scan (x86-64, and WebAssembly SIMD for long runs)
/// from `i >= 1`, with `masks` the target's [`Masks`] of a window: the
/// first candidate, or where fewer than 67 bytes are left, put back on the
/// CR of a line ending the last block passed over half. `passed` as in
/// [`body_run_end_passing`] (the other callers give one that does nothing).
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
#[inline(always)]
fn wide_window(
    value: &[u8],
    mut i: usize,
    masks: impl Fn(&[u8; 67]) -> Masks,
    passed: &mut impl FnMut(usize),
    last: &mut LastBlock,
) -> usize {
    let i = 'found: {
        // in the block found last (whose window `value` holds whole: a
        // slice that ends earlier would see other candidates at its end),
        // the candidates from `i` on; none: the scan goes on after it
        if let Some((start, cands)) = *last
            && start <= i
            && i < start + 64
            && start + 66 <= value.len()
        {
            let c = cands & (u64::MAX << (i - start));
            if c != 0 {
                break 'found start + c.trailing_zeros() as usize;
            }
            i = start + 64;
        }
        let mut next = i + PASSED_STEP;
        // the window: the byte before the block, 64 bytes, the two after
        while let Some(w) = value.get(i - 1..i + 66).and_then(|w| w.first_chunk::<67>()) {
            // (WebAssembly has no prefetch)
            #[cfg(target_arch = "x86_64")]
            if let Some(ahead) = value.get(i + PREFETCH) {
                safe_arch::prefetch_t0(ahead);
            }
            let c = candidates_of(masks(w), w);
            if c != 0 {
                *last = Some((i, c));
                break 'found i + c.trailing_zeros() as usize;
            }
            i += 64;
            if i >= next {
                // all before the last byte is text of the run (the last
                // one may be the CR of a line ending the caller looks at
                // again: left to the next piece)
                passed(i - 1);
                next = i + PASSED_STEP;
            }
        }
        i
    };
    // a block may end between the CR and the LF of a line ending it passed
    // over: the line ending is looked at whole
    if value[i - 1] == b'\r' && value.get(i) == Some(&b'\n') {
        i - 1
    } else {
        i
    }
}

/// Simple canonicalization's fast path (RFC 6376 3.4.3): from `i >= 2`, a
/// line start after a CRLF, the end of the longest stretch of whole lines
/// that are their own canonical form, each ending in CRLF and none empty
/// (a bare LF is a line ending to rewrite, and an empty line may be
/// trailing: both go line by line). The index just after the last such
/// line's LF, or `i` if there is none.
///
/// Design note: simple canonicalization changes nothing inside a body but
/// its line endings, so its cost is finding them. Line by line (a memchr
/// per line) that ran at 8.7-9.4 GB/s on 10 MB of short lines, and with
/// SHA-256 at 0.82-0.84x hashing alone; here 64 bytes a turn are tested
/// for CR and LF only, on x86-64 (SSE2) and in WebAssembly with SIMD, and
/// each LF is checked with the two bytes before it as shifts of the
/// masks: 11.2-12.4 GB/s and 0.86-0.87x (`waxseal-bench --canon`, see the
/// README); 0.93-0.95x with the stretch handed on as the scan passes it
/// ([`simple_lines_end_passing`], x86-64's interleave). Elsewhere it
/// returns `i` and the line-by-line path does all.
#[inline(always)]
pub(super) fn simple_lines_end(value: &[u8], i: usize) -> usize {
    simple_lines_end_passing(value, i, &mut |_| {})
}

/// [`simple_lines_end`] for a run whose bytes go out as the scan passes
/// them: `passed(k)` every [`PASSED_STEP`] bytes or so says that
/// `value[i..k]` is part of the stretch (`k` is before the CRLF of the
/// last whole line found, which the caller holds back).
#[inline(always)]
pub(super) fn simple_lines_end_passing(
    value: &[u8],
    i: usize,
    #[allow(unused_variables)] passed: &mut impl FnMut(usize),
) -> usize {
    #[cfg(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    ))]
    {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        use simd::line_masks;
        #[cfg(target_arch = "x86_64")]
        use sse2::line_masks;
        let (mut j, mut end) = (i, i);
        let mut next = i + PASSED_STEP;
        // the window: the two bytes before the block, and 64 bytes
        while let Some(w) = value
            .get(j.wrapping_sub(2)..j + 64)
            .and_then(|w| w.first_chunk::<66>())
        {
            #[cfg(target_arch = "x86_64")]
            if let Some(ahead) = value.get(j + PREFETCH) {
                safe_arch::prefetch_t0(ahead);
            }
            let (cr, lf) = line_masks(w);
            let cr_before = (cr << 1) | u64::from(w[1] == b'\r');
            let lf_two_before =
                (lf << 2) | u64::from(w[0] == b'\n') | u64::from(w[1] == b'\n') << 1;
            // an LF not after a CR (bare), or ending an empty line
            let stop = lf & (!cr_before | lf_two_before);
            let clean = match stop {
                0 => lf,
                s => lf & ((1u64 << s.trailing_zeros()) - 1),
            };
            if clean != 0 {
                end = j + 64 - clean.leading_zeros() as usize;
            }
            if stop != 0 {
                return end;
            }
            j += 64;
            if end >= next {
                passed(end - 2);
                next = end + PASSED_STEP;
            }
        }
        end
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    {
        let _ = value;
        i
    }
}

/// aarch64: the first candidate in the block `w[1..33]` (`w[0]` is the byte
/// before it, `w[33..]` the two after) as a one-bit mask, or 0 if none: a byte up
/// to 0x20, except an SP followed by a byte above 0x20, and either byte of
/// a CRLF followed by a byte above 0x20.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn body_candidates(w: &[u8; 35]) -> u32 {
    // byte by byte into an array: a shape the compiler vectorizes
    let mut m = [0u8; 32];
    for (k, m) in m.iter_mut().enumerate() {
        let (p, b, n1, n2) = (w[k], w[k + 1], w[k + 2], w[k + 3]);
        let sp_text = (b == b' ') & (n1 > b' ');
        let cr_text = (b == b'\r') & (n1 == b'\n') & (n2 > b' ');
        let lf_text = (b == b'\n') & (p == b'\r') & (n1 > b' ');
        *m = u8::from((b <= b' ') & !sp_text & !cr_text & !lf_text);
    }
    let lo = u128::from_le_bytes(m[..16].try_into().unwrap_or_default());
    let hi = u128::from_le_bytes(m[16..].try_into().unwrap_or_default());
    if lo | hi == 0 {
        return 0;
    }
    // one bit per byte, at the byte's position: only the lowest is wanted
    let first = if lo != 0 {
        lo.trailing_zeros() / 8
    } else {
        16 + hi.trailing_zeros() / 8
    };
    1 << first
}

/// Four tests of the 64 bytes `w[1..65]` of a window, one bit per byte
/// (bit `k` for `w[1 + k]`): up to 0x20, SP, CR, LF.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
#[derive(Default, Clone, Copy)]
struct Masks {
    low: u64,
    sp: u64,
    cr: u64,
    lf: u64,
}

/// The candidates in `w[1..65]` (`w[0]` is the byte before, `w[65..]` the
/// two after), one bit per byte, from the block's [`Masks`]: a byte up to
/// 0x20, except an SP followed by a byte above 0x20, and either byte of a
/// CRLF followed by a byte above 0x20. What follows or precedes a byte is
/// a shift of a mask, with the window's edge bytes shifted in.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
#[inline(always)]
fn candidates_of(m: Masks, w: &[u8; 67]) -> u64 {
    let bit = |c: bool, at: u32| u64::from(c) << at;
    // of the byte after each one, of the one two after, of the one before
    let text_1 = (!m.low >> 1) | bit(w[65] > b' ', 63);
    let text_2 = (!m.low >> 2) | bit(w[65] > b' ', 62) | bit(w[66] > b' ', 63);
    let lf_1 = (m.lf >> 1) | bit(w[65] == b'\n', 63);
    let cr_before = (m.cr << 1) | u64::from(w[0] == b'\r');
    m.low & !(m.sp & text_1) & !(m.cr & lf_1 & text_2) & !(m.lf & cr_before & text_1)
}

/// How far ahead of the scan x86-64 asks for the body to be brought into
/// the cache.
#[cfg(target_arch = "x86_64")]
const PREFETCH: usize = 1024;

/// [`body_run_end`]'s candidate search on x86-64, with SSE2 (part of
/// the base instruction set): 64 bytes per loop turn.
///
/// Design note: each byte is tested four times (up to 0x20, SP, CR, LF)
/// and each test becomes a 64-bit mask (a compare and a byte-mask move
/// per 16 bytes); what follows or precedes a byte is then a shift of a
/// mask rather than another compare on shifted bytes ([`candidates_of`],
/// shared with WebAssembly SIMD). Half the vector work of the portable
/// test (aarch64's), and relaxed canonicalization of base64 went from
/// about 8.3 to 12.8 GB/s (`waxseal-bench --canon`).
/// safe_arch makes the intrinsics safe functions: this crate forbids
/// unsafe code, and SSE2 is part of every x86-64.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };

    /// The four masks of `w[1..65]` (see [`Masks`](super::Masks)).
    #[inline(always)]
    pub(super) fn body_masks(w: &[u8; 67]) -> super::Masks {
        let (sp, cr, lf) = (
            set_splat_i8_m128i(b' ' as i8),
            set_splat_i8_m128i(b'\r' as i8),
            set_splat_i8_m128i(b'\n' as i8),
        );
        let mut m = super::Masks::default();
        for k in 0..4 {
            let bytes = w[1 + 16 * k..]
                .first_chunk::<16>()
                .copied()
                .unwrap_or_default();
            let v = load_unaligned_m128i(&bytes);
            let bits = |x: m128i| u64::from(move_mask_i8_m128i(x) as u16) << (16 * k);
            // unsigned v <= 0x20: min(v, 0x20) == v
            m.low |= bits(cmp_eq_mask_i8_m128i(min_u8_m128i(v, sp), v));
            m.sp |= bits(cmp_eq_mask_i8_m128i(v, sp));
            m.cr |= bits(cmp_eq_mask_i8_m128i(v, cr));
            m.lf |= bits(cmp_eq_mask_i8_m128i(v, lf));
        }
        m
    }

    /// The CR and LF masks of `w[2..66]` (bit `k` for `w[2 + k]`), for
    /// [`simple_lines_end`](super::simple_lines_end).
    #[inline(always)]
    pub(super) fn line_masks(w: &[u8; 66]) -> (u64, u64) {
        let (cr, lf) = (
            set_splat_i8_m128i(b'\r' as i8),
            set_splat_i8_m128i(b'\n' as i8),
        );
        let (mut crs, mut lfs) = (0, 0);
        for k in 0..4 {
            let bytes = w[2 + 16 * k..]
                .first_chunk::<16>()
                .copied()
                .unwrap_or_default();
            let v = load_unaligned_m128i(&bytes);
            let bits = |x: m128i| u64::from(move_mask_i8_m128i(x) as u16) << (16 * k);
            crs |= bits(cmp_eq_mask_i8_m128i(v, cr));
            lfs |= bits(cmp_eq_mask_i8_m128i(v, lf));
        }
        (crs, lfs)
    }
}

/// [`text_run_end`]'s candidate search with WebAssembly SIMD (wasmtime
/// runs it as SSE/AVX): 16 bytes per vector, two vectors per loop turn;
/// and the masks of [`body_run_end`]'s 64-byte window.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::{
        u8x16_bitmask, u8x16_eq, u8x16_le, u8x16_splat, u64x2, v128, v128_and, v128_not, v128_or,
    };

    /// The 16 bytes of `block` from `at` (zeros past its end, which the
    /// caller never asks for); compiled to one `v128.load`.
    fn load(block: &[u8], at: usize) -> v128 {
        let word = |o: usize| {
            let w = block.get(at + o..).and_then(|b| b.first_chunk::<8>());
            u64::from_le_bytes(w.copied().unwrap_or_default())
        };
        u64x2(word(0), word(8))
    }

    /// The candidates among `v`, whose bytes are followed by those of `n`
    /// (the same 16 bytes moved by one): bytes up to 0x20 but an SP that
    /// is not followed by one.
    fn candidates(v: v128, n: v128) -> u32 {
        let sp = u8x16_splat(b' ');
        let low = u8x16_le(v, sp);
        let next_low = u8x16_le(n, sp);
        u32::from(u8x16_bitmask(v128_and(
            low,
            v128_or(v128_not(u8x16_eq(v, sp)), next_low),
        )))
    }

    /// The four masks of `w[1..65]` (see [`Masks`](super::Masks)): four
    /// compares and an `i8x16.bitmask` per test and 16 bytes.
    #[inline(always)]
    pub(super) fn body_masks(w: &[u8; 67]) -> super::Masks {
        let (sp, cr, lf) = (u8x16_splat(b' '), u8x16_splat(b'\r'), u8x16_splat(b'\n'));
        let mut m = super::Masks::default();
        for k in 0..4 {
            let v = load(&w[1..65], 16 * k);
            let bits = |x: v128| u64::from(u8x16_bitmask(x)) << (16 * k);
            m.low |= bits(u8x16_le(v, sp));
            m.sp |= bits(u8x16_eq(v, sp));
            m.cr |= bits(u8x16_eq(v, cr));
            m.lf |= bits(u8x16_eq(v, lf));
        }
        m
    }

    /// The CR and LF masks of `w[2..66]` (bit `k` for `w[2 + k]`), for
    /// [`simple_lines_end`](super::simple_lines_end).
    #[inline(always)]
    pub(super) fn line_masks(w: &[u8; 66]) -> (u64, u64) {
        let (cr, lf) = (u8x16_splat(b'\r'), u8x16_splat(b'\n'));
        let (mut crs, mut lfs) = (0, 0);
        for k in 0..4 {
            let v = load(&w[2..], 16 * k);
            let bits = |x: v128| u64::from(u8x16_bitmask(x)) << (16 * k);
            crs |= bits(u8x16_eq(v, cr));
            lfs |= bits(u8x16_eq(v, lf));
        }
        (crs, lfs)
    }

    /// [`body_run_end`](super::body_run_end) with the 64-byte window
    /// (from `i >= 1`), for runs that go on past line endings.
    #[inline(never)]
    pub(super) fn body_run_end_wide(value: &[u8], i: usize) -> usize {
        super::text_run_end(
            value,
            super::wide_window(value, i, body_masks, &mut |_| {}, &mut None),
        )
    }

    /// From `*i` on, 32 bytes at a time while 33 are left: the index of
    /// the first candidate, or `None` with `*i` where the search stopped.
    pub(super) fn first_candidate(value: &[u8], i: &mut usize) -> Option<usize> {
        while let Some(block) = value.get(*i..*i + 33) {
            let m = candidates(load(block, 0), load(block, 1))
                | candidates(load(block, 16), load(block, 17)) << 16;
            if m != 0 {
                return Some(*i + m.trailing_zeros() as usize);
            }
            *i += 32;
        }
        None
    }
}

pub(super) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}
