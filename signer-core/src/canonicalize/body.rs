//! Body canonicalization (RFC 6376 3.4.3 and 3.4.4), streaming, linear.

use alloc::vec::Vec;

use super::scan::*;
use super::*;

#[cfg(target_arch = "x86_64")]
mod interleave;
#[cfg(target_arch = "x86_64")]
use interleave::{PASS_BUF, pass_piece};

/// Size of the internal output buffer of [`BodyCanonicalizer`]: output is
/// handed on in pieces of about this size, which is what hashers like.
const OUT_BUF: usize = 8 * 1024;
/// The longest run of unchanged input handed on as one slice.
///
/// Design note: a run is hashed after it is scanned. Left to grow, a run
/// is a whole base64 attachment or a whole body given in one chunk, and
/// then the scan and the hash each read all of it from memory; capped,
/// the hash reads what the scan just brought into the cache. The 10 MB
/// MIME message of `bench/peers/run.py`, signed natively in one chunk on
/// a 2-core machine: 605 and 633 MB/s before, 744 and 797 after
/// (`--sizes 10m`, the two builds run alternately).
const RUN_MAX: usize = 32 * 1024;
/// With [`interleave`](BodyCanonicalizer::set_interleave), how long a run
/// of text is scanned before it goes out as the scan passes it.
const PASS_AFTER: usize = 1024;

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
    /// relaxed, x86-64: long runs go out as they are scanned (see
    /// [`set_interleave`](Self::set_interleave)).
    interleave: bool,
    /// How many bytes went to `out` so far (modulo 2^64), for
    /// [`pass_run`](Self::pass_run)'s pieces.
    handed: u64,
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
            interleave: false,
            handed: 0,
            buf: Vec::new(),
        }
    }

    /// Hands the long runs of text of relaxed canonicalization and the
    /// stretches of whole lines of simple canonicalization on a few blocks
    /// at a time as they are scanned, rather than up to 32 KiB at once,
    /// and what the output buffer gathers (short runs) a block at a time
    /// rather than 8 KiB. For an `out` that hashes in the same thread (the
    /// core's own SHA-256): the hash rounds of one piece and the
    /// canonicalization of the next then overlap in the CPU. Costs more
    /// calls of `out`, so not for a hash that is a call away (a
    /// WebAssembly host's). Only x86-64 has it; elsewhere this does
    /// nothing. The output is the same either way.
    pub fn set_interleave(&mut self, on: bool) {
        self.interleave = on && cfg!(target_arch = "x86_64");
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
        // lines the run has taken one at a time since it started
        let mut joined = 0u32;
        let mut pos = 0;
        while let Some(i) = memchr::memchr(b'\n', &chunk[pos..]) {
            let lf = pos + i;
            let crlf = lf > pos && chunk[lf - 1] == b'\r';
            let content_end = if crlf { lf - 1 } else { lf };
            if content_end == pos && self.at_line_start {
                // Empty lines: count them (they may be trailing).
                joined = 0;
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
                    Some((s, e))
                        if *e + 2 == pos
                            && content_end - *s <= RUN_MAX
                            && self.pending_crlf == 1
                            && &chunk[*e..pos] == b"\r\n" =>
                    {
                        *e = content_end;
                        self.pending_crlf = 0;
                        joined += 1;
                    }
                    _ => {
                        if let Some((s, e)) = run.take() {
                            self.emit(&chunk[s..e], out);
                        }
                        self.flush_crlf(out);
                        run = Some((pos, content_end));
                        self.emitted = true;
                        joined = 1;
                    }
                }
            } else {
                joined = 0;
                if let Some((s, e)) = run.take() {
                    self.emit(&chunk[s..e], out);
                }
                self.content(&chunk[pos..content_end], out);
            }
            self.line_end();
            pos = lf + 1;
            // once a run has taken two lines (it usually goes on: an
            // attachment, a paragraph), the lines after them that are their
            // own canonical form join it many at a time, up to RUN_MAX (the
            // same state as line by line: the run ends before the last
            // line's CRLF, which is held back); a window is not tried after
            // every line where runs are short (text between empty lines)
            if joined >= 2
                && let Some((s, e)) = &mut run
            {
                let end = match () {
                    // no cap: what the scan passes goes out as it goes
                    #[cfg(target_arch = "x86_64")]
                    () if self.interleave => {
                        let mut done = *s;
                        let (buf, handed) = (&mut self.buf, &mut self.handed);
                        let mut pass = |k| pass_piece(buf, handed, out, chunk, &mut done, k);
                        let end = simple_lines_end_passing(chunk, pos, &mut pass);
                        *s = done;
                        end
                    }
                    () => simple_lines_end(&chunk[..chunk.len().min(*s + RUN_MAX + 2)], pos),
                };
                if end > pos {
                    *e = end - 2;
                    pos = end;
                }
            }
        }
        if let Some((s, e)) = run.take() {
            self.emit(&chunk[s..e], out);
        }
        self.rest_of_chunk(&chunk[pos..], out);
    }

    /// Relaxed (3.4.4), in one pass over the chunk: from one run of text
    /// to the next (found many bytes at a time by [`body_run_end`]), with
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
        let mut last: LastBlock = None;
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
                    // line endings passed here: from the second on, the run
                    // is likely to go on (an attachment, a paragraph), and
                    // WebAssembly's scan takes its wide window
                    let mut line_ends = 0u32;
                    // with interleave, a run that goes on past PASS_AFTER
                    // is handed on as it is scanned (pass_run)
                    let run_max = if self.interleave { PASS_AFTER } else { RUN_MAX };
                    loop {
                        // a run is scanned at most RUN_MAX at a time (the
                        // scan passes over a paragraph's line endings)
                        let cap = len.min(s + run_max).max(e);
                        e = body_run_end(&chunk[..cap], e, line_ends >= 2, &mut last);
                        // a line ending with text on both sides is its own
                        // canonical form: the run goes on (one run for a
                        // paragraph, not one per line)
                        if let Some([b'\r', b'\n', next]) = chunk.get(e..e + 3)
                            && !BREAKS_TEXT[usize::from(*next)]
                            && e - s < run_max
                        {
                            e += 3;
                            line_ends += 1;
                            continue;
                        }
                        // a CR that does not start a line ending is text
                        if e + 1 < len
                            && chunk[e] == b'\r'
                            && chunk[e + 1] != b'\n'
                            && e - s < run_max
                        {
                            e += 1;
                            continue;
                        }
                        break;
                    }
                    self.run_text(chunk, &mut run, s, e, out);
                    #[cfg(target_arch = "x86_64")]
                    if self.interleave && e - s >= PASS_AFTER {
                        e = self.pass_run(chunk, &mut run, e, &mut last, out);
                    }
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
        self.handed = 0;
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
                self.handed = self.handed.wrapping_add(self.buf.len() as u64);
                self.buf.clear();
            }
            if bytes.len() >= OUT_BUF {
                out(bytes);
                self.handed = self.handed.wrapping_add(bytes.len() as u64);
                return;
            }
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(OUT_BUF);
        }
        self.buf.extend_from_slice(bytes);
        #[cfg(target_arch = "x86_64")]
        if self.interleave && self.buf.len() >= PASS_BUF {
            self.pass_buf(out);
        }
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
                Some((rs, re)) if *re == from && e - *rs <= RUN_MAX => *re = e,
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
