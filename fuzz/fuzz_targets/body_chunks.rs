//! Body canonicalization: the streaming canonicalizer gives the same body
//! hash however the input is cut into chunks (the first byte picks the cut
//! points).
#![no_main]
use libfuzzer_sys::fuzz_target;
use waxseal_core::{BodyHasher, CanonicalizationAlgorithm, HashAlgorithm};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    for alg in [
        CanonicalizationAlgorithm::Simple,
        CanonicalizationAlgorithm::Relaxed,
    ] {
        let mut whole = BodyHasher::new(alg, HashAlgorithm::Sha256, None);
        whole.update(body);
        let whole = whole.finish();
        let mut parts = BodyHasher::new(alg, HashAlgorithm::Sha256, None);
        let step = usize::from(seed % 17) + 1;
        for c in body.chunks(step) {
            parts.update(c);
        }
        assert_eq!(parts.finish(), whole);
    }
});
