//! Body canonicalization against a plain reading of the RFC: the streaming
//! canonicalizer, whole (where its SIMD scans run) and in chunks (the first
//! byte picks the cut points and whether long runs go out as they are
//! scanned), gives the bytes of the line-by-line
//! reference in `signer-core/tests/reference/body.rs` (RFC 6376 3.4.3 and
//! 3.4.4), and the body hasher the same hash however the input is cut.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waxseal_core::canonicalize::canonicalize_body;
use waxseal_core::{BodyCanonicalizer, BodyHasher, CanonicalizationAlgorithm, HashAlgorithm};

#[path = "../../signer-core/tests/reference/body.rs"]
mod reference_body;
use reference_body::reference;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    // interleave hands on runs longer than 1 KiB of one chunk: chunks of
    // 300 bytes and more where it is on
    let interleave = seed >= 0x80;
    let step = (usize::from(seed % 17) + 1) * if interleave { 300 } else { 1 };
    for alg in [
        CanonicalizationAlgorithm::Simple,
        CanonicalizationAlgorithm::Relaxed,
    ] {
        let want = reference(alg, body);
        assert_eq!(canonicalize_body(alg, body), want, "{alg:?} whole");
        let mut cut = Vec::new();
        let mut c = BodyCanonicalizer::new(alg);
        c.set_interleave(interleave);
        let mut sink = |b: &[u8]| cut.extend_from_slice(b);
        for piece in body.chunks(step) {
            c.update(piece, &mut sink);
        }
        c.finish(&mut sink);
        assert_eq!(cut, want, "{alg:?} in chunks of {step}");

        let mut whole = BodyHasher::new(alg, HashAlgorithm::Sha256, None);
        whole.update(body);
        let whole = whole.finish();
        assert_eq!(whole.digest, HashAlgorithm::Sha256.digest(&want));
        let mut parts = BodyHasher::new(alg, HashAlgorithm::Sha256, None);
        for piece in body.chunks(step) {
            parts.update(piece);
        }
        assert_eq!(parts.finish(), whole);
    }
});
