//! Header field canonicalization (RFC 6376 3.4.1 and 3.4.2).

use alloc::vec::Vec;

use super::scan::*;
use super::*;

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
