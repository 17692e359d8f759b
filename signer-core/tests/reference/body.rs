//! A plain, non-streaming reading of RFC 6376 3.4.3 (simple) and 3.4.4
//! (relaxed) body canonicalization: line by line, no fast paths. The
//! property tests (`properties.rs`) and the `body_chunks` fuzz target check
//! the streaming canonicalizer, its SIMD scans among them, against it.

use waxseal_core::CanonicalizationAlgorithm;

/// The canonical form of `body` under `alg`.
pub(crate) fn reference(alg: CanonicalizationAlgorithm, body: &[u8]) -> Vec<u8> {
    let pieces: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let last = i == pieces.len() - 1;
        if last {
            if !p.is_empty() {
                lines.push(p.to_vec()); // unterminated last line, kept as is
            }
        } else {
            lines.push(p.strip_suffix(b"\r").unwrap_or(p).to_vec());
        }
    }
    if alg == CanonicalizationAlgorithm::Relaxed {
        for l in &mut lines {
            let mut out = Vec::new();
            let mut wsp = false;
            for &b in l.iter() {
                if b == b' ' || b == b'\t' {
                    wsp = true;
                } else {
                    if wsp {
                        out.push(b' ');
                    }
                    wsp = false;
                    out.push(b);
                }
            }
            *l = out; // trailing WSP dropped
        }
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    if lines.is_empty() {
        return match alg {
            CanonicalizationAlgorithm::Simple => b"\r\n".to_vec(),
            CanonicalizationAlgorithm::Relaxed => Vec::new(),
        };
    }
    lines
        .iter()
        .flat_map(|l| l.iter().copied().chain(*b"\r\n"))
        .collect()
}
