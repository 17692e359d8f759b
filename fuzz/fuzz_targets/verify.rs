//! The whole verifier: an arbitrary message (with any DKIM-Signature
//! fields) and an arbitrary key record answering every key query. Never
//! panics; streaming in two chunks gives the same report as one call.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waxseal_core::{KeyAnswer, Verifier, VerifyPolicy, verify};

const ED: &[u8] = b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

fuzz_target!(|data: &[u8]| {
    // message, then an optional key record after a NUL byte
    let (msg, record) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, ED),
    };
    let answer = |name: &str| {
        if name.starts_with('_') {
            KeyAnswer::record("v=DMARC1; p=none")
        } else if record.is_empty() {
            KeyAnswer::NxDomain
        } else {
            KeyAnswer::Records(vec![vec![record.to_vec(), ED.to_vec()]])
        }
    };
    let policy = VerifyPolicy::default();
    let one = verify(msg, &policy, Some(1_600_000_000), &mut |n: &str| answer(n));
    let mut v = Verifier::new(policy, Some(1_600_000_000));
    v.diagnostics(1024);
    let cut = msg.len() / 2;
    let two = v
        .update(&msg[..cut])
        .and_then(|()| v.update(&msg[cut..]))
        .and_then(|()| v.finish_headers())
        .and_then(|()| {
            for q in v.queries() {
                v.answer(&q.name, answer(&q.name));
            }
            v.finish()
        });
    match (one, two) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.results.len(), b.results.len());
            for (x, y) in a.results.iter().zip(&b.results) {
                assert_eq!((x.result, x.reason), (y.result, y.reason));
            }
            let _ = a.authentication_results("fuzz.example");
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("one-shot {a:?} vs streaming {b:?}"),
    }
});
