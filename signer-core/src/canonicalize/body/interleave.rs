//! Interleave (x86-64): the body's canonical bytes handed on a block or
//! two at a time as the scan passes them, so that an in-thread SHA-256
//! works on one piece while the canonicalization goes on with the next
//! (see [`BodyCanonicalizer::set_interleave`]).

use alloc::vec::Vec;

use super::super::scan::{BREAKS_TEXT, LastBlock, body_run_end_passing};
use super::BodyCanonicalizer;

/// With interleave, how much output the buffer gathers before it goes out
/// (cut to the output's 64-byte blocks; see `pass_buf`).
pub(super) const PASS_BUF: usize = 64;

impl BodyCanonicalizer {
    /// Relaxed with [`interleave`](Self::set_interleave): the rest of a
    /// run of text from `e`, `run` (what is held back last) ending at `e`.
    /// About every 128 bytes the scan passes, what it has passed goes out,
    /// up to the last 64-byte block boundary of the output; what is not
    /// handed on yet when the run ends is left in `run`. Where the run
    /// ends.
    ///
    /// Design note: SHA-256 with the SHA instructions waits on the latency
    /// of its rounds and leaves execution units idle. A run scanned whole
    /// and then hashed pays for both; handed on every 128 bytes, the hash
    /// rounds of one piece and the scan of the next overlap. The pieces
    /// end on the output's 64-byte blocks, so the hasher takes them whole
    /// (one call of its block function, nothing copied aside): builds
    /// without that showed no clear gain. `waxseal-bench
    /// --canon`, 10 MB of base64 lines, relaxed, on a 2-core AMD EPYC
    /// with SHA-NI: 1.04-1.09x the same work without interleave.
    pub(super) fn pass_run(
        &mut self,
        chunk: &[u8],
        run: &mut Option<(usize, usize)>,
        mut e: usize,
        last: &mut LastBlock,
        out: &mut impl FnMut(&[u8]),
    ) -> usize {
        let len = chunk.len();
        let mut done = run.map_or(e, |(rs, _)| rs);
        let (buf, handed) = (&mut self.buf, &mut self.handed);
        let mut pass = |k| pass_piece(buf, handed, out, chunk, &mut done, k);
        loop {
            e = body_run_end_passing(chunk, e, &mut pass, last);
            // as in update_relaxed: a line ending with text on both
            // sides, or a CR without LF, does not end the run
            if let Some([b'\r', b'\n', next]) = chunk.get(e..e + 3)
                && !BREAKS_TEXT[usize::from(*next)]
            {
                e += 3;
            } else if e + 1 < len && chunk[e] == b'\r' && chunk[e + 1] != b'\n' {
                e += 1;
            } else {
                break;
            }
            // the scan starts again: where it stops often (a control byte
            // on every line), what it has passed goes out from here
            pass(e);
        }
        *run = Some((done, e));
        e
    }

    /// With [`interleave`](Self::set_interleave): hands on what the output
    /// buffer holds up to the output's last 64-byte block boundary and
    /// keeps the rest (under a block).
    ///
    /// Design note: where runs are short (prose with a double space in
    /// every line: a piece per line), the output is gathered here and
    /// used to go out 8 KiB at a time, so the hash came after the
    /// canonicalization of those 8 KiB and paid for both, as long runs did
    /// before [`pass_run`](Self::pass_run). Handed on as soon as it holds
    /// a block, the hash rounds of one piece and the canonicalization of
    /// the next lines overlap.
    pub(super) fn pass_buf(&mut self, out: &mut impl FnMut(&[u8])) {
        let len = self.buf.len();
        let at = self.handed.wrapping_add(len as u64);
        let cut = len - (at % 64) as usize;
        out(&self.buf[..cut]);
        self.handed = self.handed.wrapping_add(cut as u64);
        self.buf.copy_within(cut.., 0);
        self.buf.truncate(len - cut);
    }
}

/// With interleave: hands on `chunk[*done..k]`, all of it output of the
/// current run, after what `buf` holds, cut back to end on a 64-byte block
/// of the output (`handed` counts what went out before), so that a hash
/// takes each piece whole, with nothing to copy aside; nothing under a
/// block. Moves `done` to where the piece ends.
pub(super) fn pass_piece(
    buf: &mut Vec<u8>,
    handed: &mut u64,
    out: &mut impl FnMut(&[u8]),
    chunk: &[u8],
    done: &mut usize,
    k: usize,
) {
    if k < *done + 64 {
        return;
    }
    let at = handed.wrapping_add((buf.len() + (k - *done)) as u64);
    let k = k - (at % 64) as usize;
    if k <= *done {
        return;
    }
    if !buf.is_empty() {
        out(buf);
        *handed = handed.wrapping_add(buf.len() as u64);
        buf.clear();
    }
    out(&chunk[*done..k]);
    *handed = handed.wrapping_add((k - *done) as u64);
    *done = k;
}
