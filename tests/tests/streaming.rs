//! The engine's streaming sessions, native and in the sandbox: a message
//! fed in chunks of any size gives the result of a one-chunk run; memory
//! is bounded by the header block (a 100 MB message through an instance
//! capped at 16 MiB); an over-large header block is a verdict, the same on
//! every path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use waxseal::component::Limits;
use waxseal::crypto::NativeKey;
use waxseal::engine::{Engine, Report, SignSpec};
use waxseal_core::verify::{Driver, Lookups};
use waxseal_core::{KeyAnswer, KeyRecord, VerifyPolicy};
use waxseal_tests::repo_root;

const T: u64 = 1_700_000_000;

fn keys() -> Arc<Vec<NativeKey>> {
    let pem =
        std::fs::read(repo_root().join("signer-core/tests/vectors/rfc8463/brisbane.ed25519.pem"))
            .unwrap();
    Arc::new(vec![NativeKey::parse(&pem).unwrap()])
}

fn specs(c: &str) -> Vec<SignSpec> {
    vec![SignSpec {
        key: 0,
        spec: waxseal_core::SignSpec {
            domain: "example.com".into(),
            selector: "s".into(),
            canonicalization: Some(c.into()),
            timestamp: Some(T),
            ..Default::default()
        },
    }]
}

fn sign_chunks(e: &Engine, msg: &[u8], cuts: &[usize], c: &str) -> String {
    let mut s = e.signer(&specs(c), keys()).unwrap().unwrap();
    let mut at = 0;
    for &cut in cuts.iter().chain([msg.len()].iter()) {
        s.update(&msg[at..cut]).unwrap().unwrap();
        at = cut;
    }
    s.finish().unwrap().unwrap()
}

fn record() -> String {
    KeyRecord::new(keys()[0].public_key()).to_txt()
}

fn verify_chunks(e: &Engine, msg: &[u8], cuts: &[usize], policy: &VerifyPolicy) -> Report {
    let v = e.verifier(policy, Some(T + 60)).unwrap();
    let mut d = Driver::new(v, Lookups::Keys);
    let mut lookup = |_: &str| KeyAnswer::record(record());
    let mut at = 0;
    for &cut in cuts.iter().chain([msg.len()].iter()) {
        d.feed_with(&msg[at..cut], &mut lookup).unwrap();
        at = cut;
    }
    d.end_with(&mut lookup).unwrap();
    d.into_inner().finish("mx").unwrap().unwrap()
}

fn engines() -> Vec<(&'static str, Engine)> {
    vec![
        ("native", Engine::Native),
        ("sandbox", Engine::wasm(None, Limits::default()).unwrap()),
    ]
}

const MESSAGE: &[u8] = b"From: Joe <joe@example.com>\r\nTo: a@example.net\r\nSubject: streaming  \r\n\tfolded\r\n\r\nHello  there \r\n\r\n\r\nend\r\n\r\n";

/// Split at every byte offset into two chunks: the same signature and the
/// same verdict as one chunk, on both engines.
#[test]
fn every_two_chunk_split_signs_and_verifies_alike() {
    for (name, e) in engines() {
        for c in ["relaxed/relaxed", "simple/simple"] {
            let whole = sign_chunks(&e, MESSAGE, &[], c);
            let signed = [whole.as_bytes(), MESSAGE].concat();
            for cut in 0..=MESSAGE.len() {
                assert_eq!(
                    sign_chunks(&e, MESSAGE, &[cut], c),
                    whole,
                    "{name} {c} cut {cut}"
                );
            }
            for cut in 0..=signed.len() {
                let r = verify_chunks(&e, &signed, &[cut], &VerifyPolicy::default());
                assert_eq!(r.verdicts.len(), 1);
                assert_eq!(r.verdicts[0].result, "pass", "{name} {c} cut {cut}: {r:?}");
            }
        }
    }
}

/// Random chunk sequences (a fixed seed), including empty chunks, over a
/// message larger than one sandbox call.
#[test]
fn random_chunk_sequences_sign_and_verify_alike() {
    let mut msg = b"From: a@example.com\r\nSubject: random chunks\r\n\r\n".to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    while msg.len() < 700_000 {
        let line_len = (next() % 90) as usize;
        for _ in 0..line_len {
            msg.push(b" \tabcdefghij\xc3\xa9"[(next() % 14) as usize]);
        }
        msg.extend_from_slice(b"\r\n");
    }
    for (name, e) in engines() {
        let whole = sign_chunks(&e, &msg, &[], "relaxed/relaxed");
        for round in 0..6 {
            let mut cuts = Vec::new();
            let mut at = 0usize;
            loop {
                // mostly small chunks, sometimes empty, sometimes large
                let step = match next() % 10 {
                    0 => 0,
                    1 => 300_000,
                    _ => (next() % 70_000) as usize,
                };
                at += step;
                if at >= msg.len() {
                    break;
                }
                cuts.push(at);
            }
            assert_eq!(
                sign_chunks(&e, &msg, &cuts, "relaxed/relaxed"),
                whole,
                "{name} round {round}"
            );
            let signed = [whole.as_bytes(), &msg].concat();
            let shifted: Vec<usize> = cuts.iter().map(|c| c + whole.len()).collect();
            let r = verify_chunks(&e, &signed, &shifted, &VerifyPolicy::default());
            assert_eq!(r.verdicts[0].result, "pass", "{name} round {round}: {r:?}");
        }
    }
}

/// A 100 MB message signs and verifies through the sandbox with the
/// instance's memory capped at 16 MiB, and natively; both give the same
/// header as a one-chunk native run, so memory per message is bounded by
/// the header block, not by the body.
#[test]
fn hundred_megabytes_through_a_sandbox_capped_at_16_mib() {
    let mut msg = b"From: a@example.com\r\nSubject: 100 MB\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again.  \r\n";
    while msg.len() < 100 << 20 {
        msg.extend_from_slice(line);
    }
    let want = Engine::Native
        .sign(&msg, &specs("relaxed/relaxed"), keys())
        .unwrap()
        .unwrap();
    let tight = Engine::wasm(
        None,
        Limits {
            max_memory: 16 << 20,
            ..Limits::default()
        },
    )
    .unwrap();
    let cuts: Vec<usize> = (1..msg.len() / 65_535).map(|i| i * 65_535).collect();
    for (name, e) in [("sandbox 16 MiB", &tight), ("native", &Engine::Native)] {
        assert_eq!(
            sign_chunks(e, &msg, &cuts, "relaxed/relaxed"),
            want,
            "{name}"
        );
        let signed = [want.as_bytes(), &msg].concat();
        let shifted: Vec<usize> = cuts.iter().map(|c| c + want.len()).collect();
        let r = verify_chunks(e, &signed, &shifted, &VerifyPolicy::default());
        assert_eq!(r.verdicts[0].result, "pass", "{name}: {r:?}");
    }
}

/// A header block over the policy's limit is refused with the same
/// verdict and reason code natively and in the sandbox, in one chunk or
/// many, instead of an input error.
#[test]
fn over_large_header_block_is_the_same_verdict_on_every_engine() {
    let signed = [
        sign_chunks(&Engine::Native, MESSAGE, &[], "relaxed/relaxed").as_bytes(),
        MESSAGE,
    ]
    .concat();
    let policy = VerifyPolicy {
        max_header_bytes: 100,
        ..VerifyPolicy::default()
    };
    for (name, e) in engines() {
        for cuts in [vec![], vec![7], vec![50, 99, 100, 101, 150]] {
            let r = verify_chunks(&e, &signed, &cuts, &policy);
            assert_eq!(r.verdicts.len(), 1, "{name}");
            assert_eq!(r.verdicts[0].result, "permerror", "{name}");
            assert_eq!(
                r.verdicts[0].reason_code.as_deref(),
                Some("header_too_large"),
                "{name}"
            );
            assert!(
                r.authentication_results.contains("dkim=permerror"),
                "{name}: {}",
                r.authentication_results
            );
        }
        // the same message passes under the default limit
        let r = verify_chunks(&e, &signed, &[], &VerifyPolicy::default());
        assert_eq!(r.verdicts[0].result, "pass", "{name}");
    }
}

/// A session dropped in the middle of a message (the milter's ABORT)
/// gives its instance back, and the next message signs normally.
#[test]
fn abandoned_sessions_leave_the_engine_usable() {
    for (name, e) in engines() {
        for _ in 0..3 {
            let mut s = e
                .signer(&specs("relaxed/relaxed"), keys())
                .unwrap()
                .unwrap();
            s.update(&MESSAGE[..20]).unwrap().unwrap();
            drop(s);
            let mut v = e.verifier(&VerifyPolicy::default(), Some(T)).unwrap();
            v.update(&MESSAGE[..30]).unwrap().unwrap();
            drop(v);
        }
        let whole = sign_chunks(&e, MESSAGE, &[], "relaxed/relaxed");
        assert_eq!(
            whole,
            sign_chunks(&Engine::Native, MESSAGE, &[], "relaxed/relaxed"),
            "{name}"
        );
        if let Engine::Wasm(host) = &e {
            assert!(host.pooled() >= 1, "instances go back to the pool");
        }
    }
}

/// Sessions can move between threads (a server's tasks do).
#[test]
fn sessions_are_send() {
    fn send<T: Send>() {}
    send::<waxseal::engine::SignSession>();
    send::<waxseal::engine::VerifySession>();
    send::<Engine>();
}
