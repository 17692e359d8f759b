//! Header and body canonicalization, "simple" and "relaxed" (RFC 6376 3.4).
//!
//! Body canonicalization is one streaming state machine
//! ([`BodyCanonicalizer`]): it reads each input byte once, keeps O(1) state
//! between chunks (a count of held-back line endings, a pending CR, a
//! pending white-space flag), and its output does not depend on how the body
//! is split into chunks. The one-shot [`canonicalize_body`] wraps it.
//!
//! Line endings follow the [`message`](crate::message) rules: CRLF and bare
//! LF end a line (both canonicalize to CRLF), a bare CR is data.

use alloc::vec::Vec;
use core::fmt;

use crate::error::Error;

/// One canonicalization algorithm (RFC 6376 3.4.1 to 3.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CanonicalizationAlgorithm {
    /// "simple": tolerates almost no modification.
    Simple,
    /// "relaxed": tolerates white-space changes and header re-folding.
    Relaxed,
}

impl CanonicalizationAlgorithm {
    /// The name used in `c=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Relaxed => "relaxed",
        }
    }

    fn parse(s: &[u8]) -> Result<Self, Error> {
        match s {
            b"simple" => Ok(Self::Simple),
            b"relaxed" => Ok(Self::Relaxed),
            _ => Err(Error::UnsupportedCanonicalization),
        }
    }
}

/// Header and body canonicalization, the `c=` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Canonicalization {
    /// How header fields are canonicalized.
    pub header: CanonicalizationAlgorithm,
    /// How the body is canonicalized.
    pub body: CanonicalizationAlgorithm,
}

impl Canonicalization {
    /// `simple/simple`, the RFC default when `c=` is absent.
    pub const SIMPLE_SIMPLE: Self = Self::new(
        CanonicalizationAlgorithm::Simple,
        CanonicalizationAlgorithm::Simple,
    );
    /// `relaxed/relaxed`, waxseal's default for signing: it survives the
    /// re-folding and white-space changes that mail systems make.
    pub const RELAXED_RELAXED: Self = Self::new(
        CanonicalizationAlgorithm::Relaxed,
        CanonicalizationAlgorithm::Relaxed,
    );
    /// `relaxed/simple`.
    pub const RELAXED_SIMPLE: Self = Self::new(
        CanonicalizationAlgorithm::Relaxed,
        CanonicalizationAlgorithm::Simple,
    );
    /// `simple/relaxed`.
    pub const SIMPLE_RELAXED: Self = Self::new(
        CanonicalizationAlgorithm::Simple,
        CanonicalizationAlgorithm::Relaxed,
    );

    /// The `c=` value, both halves: `relaxed/simple`, ...
    pub fn as_str(&self) -> &'static str {
        use CanonicalizationAlgorithm::{Relaxed, Simple};
        match (self.header, self.body) {
            (Simple, Simple) => "simple/simple",
            (Simple, Relaxed) => "simple/relaxed",
            (Relaxed, Simple) => "relaxed/simple",
            (Relaxed, Relaxed) => "relaxed/relaxed",
        }
    }

    /// Builds a canonicalization from its two halves.
    pub const fn new(header: CanonicalizationAlgorithm, body: CanonicalizationAlgorithm) -> Self {
        Self { header, body }
    }

    /// Parses a `c=` value. RFC 6376 3.5: "If only one algorithm is named,
    /// that algorithm is used for the header and 'simple' is used for the
    /// body."
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        match value.iter().position(|b| *b == b'/') {
            Some(i) => Ok(Self::new(
                CanonicalizationAlgorithm::parse(&value[..i])?,
                CanonicalizationAlgorithm::parse(&value[i + 1..])?,
            )),
            None => Ok(Self::new(
                CanonicalizationAlgorithm::parse(value)?,
                CanonicalizationAlgorithm::Simple,
            )),
        }
    }
}

impl fmt::Display for Canonicalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bytes that end a run of header text: WSP, CR, LF.
const BREAKS_TEXT: [bool; 256] = {
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
/// compared at once with carry-free arithmetic), or 16 with WebAssembly
/// SIMD (the component's build: module `simd`), which is what makes relaxed
/// canonicalization cheap in WebAssembly too. The word test finds
/// candidates, a superset of the ends (any byte up to 0x20 other than SP,
/// an SP followed by one), with few operations; each candidate and the
/// last bytes are then checked one at a time. Inlined: in wasmtime every
/// call also pays an interruption check.
#[inline(always)]
fn text_run_end(value: &[u8], mut i: usize) -> usize {
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

/// [`text_run_end`]'s candidate search with WebAssembly SIMD (wasmtime
/// runs it as SSE/AVX): 16 bytes per vector, two vectors per loop turn.
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

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Appends the canonical form of one header field (`raw` = name, colon,
/// value, continuation lines, line endings as in the input) to `out`,
/// terminated by CRLF.
///
/// * simple (3.4.1): the field unchanged, except that a bare LF line
///   ending becomes CRLF, and a missing final line ending is added.
/// * relaxed (3.4.2): name lower-cased; line endings removed (unfolding);
///   each run of WSP becomes one SP; WSP at the end of the value and
///   around the colon removed.
pub fn canonicalize_header(alg: CanonicalizationAlgorithm, raw: &[u8], out: &mut Vec<u8>) {
    match alg {
        CanonicalizationAlgorithm::Simple => {
            let mut prev = 0u8;
            for &b in raw {
                if b == b'\n' && prev != b'\r' {
                    out.push(b'\r');
                }
                out.push(b);
                prev = b;
            }
            if prev != b'\n' {
                out.extend_from_slice(b"\r\n");
            }
        }
        CanonicalizationAlgorithm::Relaxed => {
            let colon = raw.iter().position(|b| *b == b':').unwrap_or(raw.len());
            let mut name = &raw[..colon];
            while let [rest @ .., b' ' | b'\t'] = name {
                name = rest;
            }
            out.extend(name.iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            let value = raw.get(colon + 1..).unwrap_or_default();
            // Runs of bytes other than WSP and line endings are copied
            // whole. Line endings vanish (unfolding); the WSP that starts a
            // continuation line is white space like any other: a WSP run
            // between two runs of text becomes one SP, and none is kept
            // before the first or after the last. A CR not followed by LF
            // is text.
            let mut i = 0;
            let mut any = false;
            while i < value.len() {
                let mut wsp = false;
                while i < value.len() {
                    let b = value[i];
                    if is_wsp(b) {
                        wsp = true;
                    } else if !(b == b'\n' || (b == b'\r' && value.get(i + 1) == Some(&b'\n'))) {
                        break;
                    }
                    i += 1;
                }
                let run_start = i;
                loop {
                    i = text_run_end(value, i);
                    // a CR that does not start a line ending is text
                    if value.get(i) == Some(&b'\r') && value.get(i + 1) != Some(&b'\n') {
                        i += 1;
                        continue;
                    }
                    break;
                }
                if run_start < i {
                    if any && wsp {
                        out.push(b' ');
                    }
                    out.extend_from_slice(&value[run_start..i]);
                    any = true;
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Size of the internal output buffer of [`BodyCanonicalizer`]: output is
/// handed on in pieces of about this size, which is what hashers like.
const OUT_BUF: usize = 8 * 1024;
/// 256 CRLFs, for emitting held-back line endings in bulk.
const CRLFS: [u8; 512] = {
    let mut a = [0u8; 512];
    let mut i = 0;
    while i < a.len() {
        a[i] = if i % 2 == 0 { b'\r' } else { b'\n' };
        i += 1;
    }
    a
};

/// Streaming body canonicalizer (RFC 6376 3.4.3 simple, 3.4.4 relaxed).
///
/// Feed the body with [`update`](Self::update) in chunks of any size and
/// call [`finish`](Self::finish) once; canonical bytes are passed to the
/// `out` callback in order. Both take time linear in their input.
///
/// * simple: empty lines at the end of the body are removed; the body ends
///   with exactly one CRLF (an empty body becomes CRLF).
/// * relaxed: WSP at line ends removed; other WSP runs become one SP;
///   empty lines at the end removed; a non-empty body ends with CRLF and
///   an empty (or all-white-space) body stays empty.
#[derive(Debug, Clone)]
pub struct BodyCanonicalizer {
    alg: CanonicalizationAlgorithm,
    /// Line endings seen but not yet emitted: they are only emitted when
    /// more content follows, so trailing empty lines vanish.
    pending_crlf: u64,
    /// The last chunk ended in CR; whether it is a line ending depends on
    /// the next byte.
    pending_cr: bool,
    /// relaxed: WSP seen since the last emitted byte on this line.
    pending_wsp: bool,
    /// relaxed: some non-WSP content has been emitted.
    emitted: bool,
    /// simple: nothing of the current line has been seen yet.
    at_line_start: bool,
    buf: Vec<u8>,
}

impl BodyCanonicalizer {
    /// A canonicalizer for `alg`.
    pub fn new(alg: CanonicalizationAlgorithm) -> Self {
        BodyCanonicalizer {
            alg,
            pending_crlf: 0,
            pending_cr: false,
            pending_wsp: false,
            emitted: false,
            at_line_start: true,
            buf: Vec::new(),
        }
    }

    /// The algorithm this canonicalizer implements.
    pub fn algorithm(&self) -> CanonicalizationAlgorithm {
        self.alg
    }

    /// Canonicalizes the next chunk of the body. Output may be held back
    /// (at most a few KiB plus a count of line endings) until later calls.
    ///
    /// Design note: most of a body comes out of canonicalization unchanged
    /// (simple: every non-empty line; relaxed: all but TABs, double spaces
    /// and trailing spaces). Such input is passed on as long slices of the
    /// chunk, and runs of empty lines are counted, not copied. Each byte
    /// is looked at a bounded number of times, so the cost stays linear for
    /// any input.
    pub fn update(&mut self, mut chunk: &[u8], out: &mut impl FnMut(&[u8])) {
        if chunk.is_empty() {
            return;
        }
        if self.pending_cr {
            self.pending_cr = false;
            if chunk[0] == b'\n' {
                self.line_end();
                chunk = &chunk[1..];
            } else {
                self.content(b"\r", out);
            }
        }
        match self.alg {
            CanonicalizationAlgorithm::Simple => self.update_simple(chunk, out),
            CanonicalizationAlgorithm::Relaxed => self.update_relaxed(chunk, out),
        }
    }

    /// Simple (3.4.3), line by line: the lines ending in CRLF are copied
    /// whole, in runs.
    fn update_simple(&mut self, chunk: &[u8], out: &mut impl FnMut(&[u8])) {
        // A run of input that is its own canonical form: chunk[run.0..run.1].
        let mut run: Option<(usize, usize)> = None;
        let mut pos = 0;
        while let Some(i) = memchr::memchr(b'\n', &chunk[pos..]) {
            let lf = pos + i;
            let crlf = lf > pos && chunk[lf - 1] == b'\r';
            let content_end = if crlf { lf - 1 } else { lf };
            if content_end == pos && self.at_line_start {
                // Empty lines: count them (they may be trailing).
                if let Some((s, e)) = run.take() {
                    self.emit(&chunk[s..e], out);
                }
                self.line_end();
                pos = lf + 1;
                loop {
                    let rest = &chunk[pos..];
                    if rest.first() == Some(&b'\n') {
                        pos += 1;
                    } else if rest.starts_with(b"\r\n") {
                        pos += 2;
                    } else {
                        break;
                    }
                    self.pending_crlf += 1;
                }
                continue;
            }
            if crlf && self.at_line_start {
                match &mut run {
                    // the previous line's CRLF is in the input: extend the run
                    Some((_, e))
                        if *e + 2 == pos
                            && self.pending_crlf == 1
                            && &chunk[*e..pos] == b"\r\n" =>
                    {
                        *e = content_end;
                        self.pending_crlf = 0;
                    }
                    _ => {
                        if let Some((s, e)) = run.take() {
                            self.emit(&chunk[s..e], out);
                        }
                        self.flush_crlf(out);
                        run = Some((pos, content_end));
                        self.emitted = true;
                    }
                }
            } else {
                if let Some((s, e)) = run.take() {
                    self.emit(&chunk[s..e], out);
                }
                self.content(&chunk[pos..content_end], out);
            }
            self.line_end();
            pos = lf + 1;
        }
        if let Some((s, e)) = run.take() {
            self.emit(&chunk[s..e], out);
        }
        self.rest_of_chunk(&chunk[pos..], out);
    }

    /// Relaxed (3.4.4), in one pass over the chunk: from one run of text
    /// to the next (found eight bytes at a time by [`text_run_end`]), with
    /// the WSP runs and line endings between them. A run of text is copied
    /// together with the single SP or the one CRLF before it where the
    /// input has exactly those (see [`run_text`](Self::run_text)), so most
    /// of a body goes out in a few long slices.
    ///
    /// Design note: this replaced a line-by-line loop that searched each
    /// line for TABs and double spaces (memchr, memmem): per line, the
    /// calls cost more than the scan, in WebAssembly most of all.
    fn update_relaxed(&mut self, chunk: &[u8], out: &mut impl FnMut(&[u8])) {
        let len = chunk.len();
        let mut run: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < len {
            match chunk[i] {
                b'\n' => {
                    // a bare LF ends a line too
                    self.line_end();
                    i += 1;
                }
                b'\r' if i + 1 == len => {
                    // a line ending, or text: the next chunk tells
                    self.pending_cr = true;
                    i += 1;
                }
                b'\r' if chunk[i + 1] == b'\n' => {
                    self.line_end();
                    i += 2;
                    // empty lines after it: counted (they may be trailing)
                    while chunk.get(i..i + 2) == Some(b"\r\n") {
                        self.pending_crlf += 1;
                        i += 2;
                    }
                }
                b' ' | b'\t' => {
                    // one SP, or nothing when the line ends next
                    i += 1;
                    while i < len && is_wsp(chunk[i]) {
                        i += 1;
                    }
                    self.pending_wsp = true;
                }
                _ => {
                    // text (a CR that does not start a line ending is text)
                    let s = i;
                    let mut e = i + 1;
                    loop {
                        e = text_run_end(chunk, e);
                        // a line ending with text on both sides is its own
                        // canonical form: the run goes on (one run for a
                        // paragraph, not one per line)
                        if let Some([b'\r', b'\n', next]) = chunk.get(e..e + 3)
                            && !BREAKS_TEXT[usize::from(*next)]
                        {
                            e += 3;
                            continue;
                        }
                        // a CR that does not start a line ending is text
                        if e + 1 < len && chunk[e] == b'\r' && chunk[e + 1] != b'\n' {
                            e += 1;
                            continue;
                        }
                        break;
                    }
                    self.run_text(chunk, &mut run, s, e, out);
                    i = e;
                }
            }
        }
        if let Some((s, e)) = run.take() {
            self.emit(&chunk[s..e], out);
        }
    }

    /// The end of a chunk after its last line ending.
    fn rest_of_chunk(&mut self, rest: &[u8], out: &mut impl FnMut(&[u8])) {
        match rest.strip_suffix(b"\r") {
            Some(r) => {
                self.content(r, out);
                self.pending_cr = true;
            }
            None => self.content(rest, out),
        }
    }

    /// Ends the body and emits what is still held back. The canonicalizer
    /// is reset and may be reused for another body.
    pub fn finish(&mut self, out: &mut impl FnMut(&[u8])) {
        if self.pending_cr {
            self.pending_cr = false;
            self.content(b"\r", out);
        }
        let final_crlf = match self.alg {
            // 3.4.3: "If there is no body or no trailing CRLF on the
            // message body, a CRLF is added."
            CanonicalizationAlgorithm::Simple => true,
            // 3.4.4: "If the body is non-empty but does not end with a
            // CRLF, a CRLF is added." (errata 1384: empty stays empty)
            CanonicalizationAlgorithm::Relaxed => self.emitted,
        };
        if final_crlf {
            self.emit(b"\r\n", out);
        }
        if !self.buf.is_empty() {
            out(&self.buf);
        }
        self.buf.clear();
        self.pending_crlf = 0;
        self.pending_wsp = false;
        self.emitted = false;
        self.at_line_start = true;
    }

    fn line_end(&mut self) {
        self.pending_wsp = false; // 3.4.4: WSP at the end of a line is ignored
        self.pending_crlf += 1;
        self.at_line_start = true;
    }

    fn emit(&mut self, bytes: &[u8], out: &mut impl FnMut(&[u8])) {
        if self.buf.len() + bytes.len() > OUT_BUF {
            if !self.buf.is_empty() {
                out(&self.buf);
                self.buf.clear();
            }
            if bytes.len() >= OUT_BUF {
                out(bytes);
                return;
            }
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(OUT_BUF);
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Emits the held-back line endings: content follows them, so they were
    /// not trailing after all.
    fn flush_crlf(&mut self, out: &mut impl FnMut(&[u8])) {
        while self.pending_crlf > 0 {
            let n = self.pending_crlf.min((CRLFS.len() / 2) as u64) as usize;
            self.emit(&CRLFS[..2 * n], out);
            self.pending_crlf -= n as u64;
        }
    }

    /// Emits non-WSP text of the current line.
    fn text(&mut self, t: &[u8], out: &mut impl FnMut(&[u8])) {
        if self.pending_crlf > 0 {
            self.flush_crlf(out);
        }
        if self.pending_wsp {
            self.pending_wsp = false;
            self.emit(b" ", out);
        }
        self.emit(t, out);
        self.emitted = true;
    }

    /// Outputs the text `chunk[s..e]` of the current line (non-empty, no
    /// WSP at either end) after what is held back, as part of `run` where
    /// the input allows.
    ///
    /// Design note: what precedes the text in the output (one held-back
    /// CRLF, one SP for a WSP run) is usually the very bytes before it in
    /// the input (a line's CRLF, the last SP of a double space); then the
    /// output is a slice of the input and joins the run. A new piece starts
    /// only where the output drops bytes of the input.
    fn run_text(
        &mut self,
        chunk: &[u8],
        run: &mut Option<(usize, usize)>,
        s: usize,
        e: usize,
        out: &mut impl FnMut(&[u8]),
    ) {
        let mut from = Some(s);
        if self.pending_wsp {
            from = from
                .filter(|&f| f > 0 && chunk[f - 1] == b' ')
                .map(|f| f - 1);
        }
        match self.pending_crlf {
            0 => {}
            1 => {
                from = from
                    .filter(|&f| f >= 2 && &chunk[f - 2..f] == b"\r\n")
                    .map(|f| f - 2);
            }
            _ => from = None,
        }
        self.emitted = true;
        if let Some(from) = from {
            self.pending_crlf = 0;
            self.pending_wsp = false;
            match run {
                Some((_, re)) if *re == from => *re = e,
                _ => {
                    if let Some((rs, re)) = run.take() {
                        self.emit(&chunk[rs..re], out);
                    }
                    *run = Some((from, e));
                }
            }
            return;
        }
        if let Some((rs, re)) = run.take() {
            self.emit(&chunk[rs..re], out);
        }
        if self.pending_crlf > 0 {
            self.flush_crlf(out);
        }
        if self.pending_wsp {
            self.pending_wsp = false;
            self.emit(b" ", out);
        }
        *run = Some((s, e));
    }

    /// Processes part of a line (never containing a line ending).
    fn content(&mut self, piece: &[u8], out: &mut impl FnMut(&[u8])) {
        if piece.is_empty() {
            return;
        }
        self.at_line_start = false;
        match self.alg {
            CanonicalizationAlgorithm::Simple => self.text(piece, out),
            CanonicalizationAlgorithm::Relaxed => {
                // Copy runs of unchanged bytes in one go: a single SP
                // between two non-WSP bytes is unchanged by 3.4.4.
                let mut run_start = 0;
                let mut i = 0;
                let len = piece.len();
                while i < len {
                    let b = piece[i];
                    if !is_wsp(b) {
                        i += 1;
                        continue;
                    }
                    let mut j = i + 1;
                    while j < len && is_wsp(piece[j]) {
                        j += 1;
                    }
                    if b == b' ' && j == i + 1 && j < len && i > run_start {
                        i = j; // single SP inside a run of text: unchanged
                        continue;
                    }
                    if i > run_start {
                        self.text(&piece[run_start..i], out);
                    }
                    self.pending_wsp = true;
                    run_start = j;
                    i = j;
                }
                if run_start < len {
                    self.text(&piece[run_start..], out);
                }
            }
        }
    }
}

/// Canonicalizes a whole body at once (a wrapper of [`BodyCanonicalizer`]).
pub fn canonicalize_body(alg: CanonicalizationAlgorithm, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    let mut c = BodyCanonicalizer::new(alg);
    let mut sink = |b: &[u8]| out.extend_from_slice(b);
    c.update(body, &mut sink);
    c.finish(&mut sink);
    out
}

#[cfg(test)]
mod tests {
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
}
