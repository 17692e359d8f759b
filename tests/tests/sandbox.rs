//! The sandbox's resource limits: a message that needs more memory than
//! the store allows stops with a clear error, the host keeps working, and
//! the same message signs under the default limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;
use std::sync::Arc;

use waxseal::component::{ComponentHost, Limits, wit};
use waxseal::crypto::NativeKey;
use waxseal::engine::describe_engine_error;
use waxseal_tests::repo_root;

fn key() -> Arc<Vec<NativeKey>> {
    let pem =
        std::fs::read(repo_root().join("signer-core/tests/vectors/rfc8463/brisbane.ed25519.pem"))
            .unwrap();
    Arc::new(vec![NativeKey::parse(&pem).unwrap()])
}

fn options() -> Vec<wit::SignOptions> {
    vec![wit::SignOptions {
        domain: "example.com".into(),
        selector: "s".into(),
        key: wit::SigningKey::Host(0),
        identity: None,
        headers: None,
        oversign: None,
        canonicalization: None,
        timestamp: Some(1_700_000_000),
        expiration: None,
        body_length: false,
        copy_headers: false,
    }]
}

/// A message whose header section (about 900 KB, under the core's 1 MiB
/// cap) the signer must hold in memory.
fn big_header_message() -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nSubject: big\r\nX-Big: start".to_vec();
    for _ in 0..12_000 {
        m.extend_from_slice(b"\r\n ");
        m.extend_from_slice(&[b'a'; 72]);
    }
    m.extend_from_slice(b"\r\n\r\nbody\r\n");
    m
}

#[test]
fn memory_limit_stops_the_message_not_the_host() {
    let msg = big_header_message();
    let tight = Limits {
        max_memory: 2 << 20,
        ..Limits::default()
    };
    let host = ComponentHost::embedded(tight).unwrap();

    // a small message fits
    let small = b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
    let h = host
        .sign(&mut Cursor::new(&small[..]), &options(), key())
        .unwrap()
        .unwrap();
    assert!(h.starts_with("DKIM-Signature:"), "{h}");

    // the big one does not: an engine error that names the memory limit
    let e = host
        .sign(&mut Cursor::new(&msg), &options(), key())
        .expect_err("2 MiB is too little for a 900 KB header section");
    let text = describe_engine_error(&e, &tight);
    assert_eq!(
        text, "the sandbox needed more than 2 MiB of memory for this message",
        "{e:#}"
    );

    // the trapped instance is gone; the host still signs
    let h = host
        .sign(&mut Cursor::new(&small[..]), &options(), key())
        .unwrap()
        .unwrap();
    assert!(h.starts_with("DKIM-Signature:"), "{h}");

    // and under the default limits the big message signs
    let host = ComponentHost::embedded(Limits::default()).unwrap();
    let h = host
        .sign(&mut Cursor::new(&msg), &options(), key())
        .unwrap()
        .unwrap();
    assert!(h.starts_with("DKIM-Signature:"), "{h}");
}

/// The host keeps each instance's options prepared (`signing.prepared`)
/// for the next message: whatever changes between messages (the options,
/// the key behind a handle, even its algorithm), the sandbox still gives
/// the bytes the core linked natively gives.
#[test]
fn prepared_options_follow_every_change() {
    use waxseal::engine::{Engine, SignSpec};
    let pem = |n: &str| {
        let p = repo_root().join("signer-core/tests/vectors/keys").join(n);
        NativeKey::parse(&std::fs::read(p).unwrap()).unwrap()
    };
    let ed = Arc::new(vec![pem("ed25519.pem"), pem("rsa2048.pem")]);
    let rsa_first = Arc::new(vec![pem("rsa2048.pem"), pem("ed25519.pem")]);
    let spec = |key: usize, selector: &str, headers: Option<&[&str]>| SignSpec {
        key,
        spec: waxseal_core::SignSpec {
            domain: "example.com".into(),
            selector: selector.into(),
            headers: headers.map(|h| h.iter().map(|s| s.to_string()).collect()),
            timestamp: Some(1_700_000_000),
            ..Default::default()
        },
    };
    let a = vec![spec(0, "a", None)];
    let b = vec![spec(0, "b", Some(&["Subject", "To"]))];
    let two = vec![spec(0, "a", None), spec(1, "c", None)];
    let bad = vec![spec(0, "bad selector!", None)];
    let wasm = Engine::wasm(None, Limits::default()).unwrap();
    let native = Engine::Native;
    let steps: [(&Vec<SignSpec>, &Arc<Vec<NativeKey>>); 8] = [
        (&a, &ed),
        (&a, &ed),
        (&a, &rsa_first), // same options, another algorithm at handle 0
        (&b, &rsa_first),
        (&bad, &ed),
        (&a, &ed),
        (&two, &ed),
        (&two, &rsa_first),
    ];
    for (i, (specs, keys)) in steps.into_iter().enumerate() {
        let msg =
            format!("From: a@example.com\r\nTo: b@example.net\r\nSubject: {i}\r\n\r\nbody {i}\r\n");
        let want = native.sign(msg.as_bytes(), specs, keys.clone()).unwrap();
        let got = wasm.sign(msg.as_bytes(), specs, keys.clone()).unwrap();
        match (want, got) {
            (Ok(w), Ok(g)) => assert_eq!(g, w, "step {i}"),
            (Err(w), Err(g)) => assert_eq!(g.code, w.code, "step {i}"),
            (w, g) => panic!("step {i}: native {w:?}, sandbox {g:?}"),
        }
    }
}

/// Verifies `signed` in the sandbox against the key `record`: its first
/// signature must pass.
fn assert_passes_in_sandbox(
    wasm: &waxseal::engine::Engine,
    signed: &[u8],
    record: &str,
    what: &str,
) {
    let r = wasm
        .verify(
            signed,
            &waxseal_core::VerifyPolicy::default(),
            Some(1_700_000_100),
            "mx",
            &mut |_| waxseal_core::KeyAnswer::record(record),
        )
        .unwrap()
        .unwrap();
    assert_eq!(r.verdicts[0].result, "pass", "{what}: {r:?}");
}

/// The component holds the first 16 KiB of each hash and sends it to the
/// host in one call, and starts a host hash resource beyond that: bodies
/// on both sides of that size, and across the 256 KiB streaming size, sign
/// to the native bytes and verify in the sandbox.
#[test]
fn bodies_around_the_hold_and_stream_sizes_sign_alike() {
    use waxseal::engine::{Engine, SignSpec};
    let keys = key();
    let specs = vec![SignSpec {
        key: 0,
        spec: waxseal_core::SignSpec {
            domain: "example.com".into(),
            selector: "s".into(),
            timestamp: Some(1_700_000_000),
            ..Default::default()
        },
    }];
    let wasm = Engine::wasm(None, Limits::default()).unwrap();
    let head = b"From: a@example.com\r\nSubject: sizes\r\n\r\n";
    for body_len in [
        0,
        1,
        16 * 1024 - 2,
        16 * 1024,
        16 * 1024 + 1,
        40_000,
        300_000,
    ] {
        let mut msg = head.to_vec();
        // canonical bytes = input bytes here: lines of 62 text bytes + CRLF
        while msg.len() < head.len() + body_len {
            let line = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n";
            let take = (head.len() + body_len - msg.len()).min(line.len());
            msg.extend_from_slice(&line[..take]);
        }
        let want = Engine::Native.sign(&msg, &specs, keys.clone()).unwrap();
        let got = wasm.sign(&msg, &specs, keys.clone()).unwrap();
        assert_eq!(
            got.as_ref().unwrap(),
            want.as_ref().unwrap(),
            "body {body_len}"
        );
        let signed = [want.unwrap().as_bytes(), &msg].concat();
        let record = waxseal_core::KeyRecord::new(keys[0].public_key()).to_txt();
        assert_passes_in_sandbox(&wasm, &signed, &record, &format!("body {body_len}"));
    }
}

/// The component's canonicalization (WebAssembly SIMD in its text scan
/// and in the body's 64-byte windows, which the native tests never run)
/// against the native core: messages whose header values and bodies put
/// white space, line endings, control and 8-bit bytes at every offset of
/// the 16-, 32- and 64-byte blocks sign to the same bytes with both
/// engines, relaxed and simple, and verify in the sandbox. Half the bodies
/// are dense with such bytes, half are lines of text (as a base64
/// attachment or prose is) with a rare one, so that the body scan passes
/// over line endings and meets the bytes at every place of its window;
/// some of them with empty lines inside and at the end.
#[test]
fn whitespace_and_control_bytes_canonicalize_alike_in_the_sandbox() {
    use waxseal::engine::{Engine, SignSpec};
    let keys = key();
    let spec = |c: &str| SignSpec {
        key: 0,
        spec: waxseal_core::SignSpec {
            domain: "example.com".into(),
            selector: "s".into(),
            canonicalization: Some(c.into()),
            timestamp: Some(1_700_000_000),
            headers: Some(vec!["From".into(), "Subject".into(), "X-Text".into()]),
            ..Default::default()
        },
    };
    let specs = [spec("relaxed/relaxed"), spec("simple/simple")];
    let wasm = Engine::wasm(None, Limits::default()).unwrap();
    let record = waxseal_core::KeyRecord::new(keys[0].public_key()).to_txt();

    // xorshift: the same messages on every run
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // mostly text, with the bytes the scan treats specially
    const SPECIAL: &[u8] = b"  \t\r\n\x00\x1f\x21\x7f\x80\xff";
    let mut text = |len: usize, line_breaks: bool, one_in: u64| -> Vec<u8> {
        (0..len)
            .map(|_| {
                let r = next();
                if r % one_in == 0 {
                    let b = SPECIAL[(r >> 8) as usize % SPECIAL.len()];
                    if !line_breaks && (b == b'\r' || b == b'\n') {
                        b' '
                    } else {
                        b
                    }
                } else {
                    b'a' + (r >> 16) as u8 % 26
                }
            })
            .collect()
    };
    for case in 0..240usize {
        let mut msg = b"From: a@example.com\r\nSubject: ".to_vec();
        msg.extend(text(case % 70, false, 5));
        msg.extend_from_slice(b"\r\nX-Text:");
        msg.extend(text(case % 37, false, 5));
        msg.extend_from_slice(b"\r\n ");
        msg.extend(text(case % 45, false, 5));
        msg.extend_from_slice(b"\r\n\r\n");
        if case % 2 == 0 {
            msg.extend(text(case * 5, true, 5));
        } else {
            // lines of 0 to 99 bytes, a special byte one in 80
            while msg.len() < 60 + case * 12 {
                let len = case * 7 % 100;
                msg.extend(text((len + msg.len()) % 100, false, 80));
                msg.extend_from_slice(match msg.len() % 23 {
                    0 => b"\n",
                    1 => b"\r",
                    2 => b" \r\n",
                    3 => b"\r\n\r\n",
                    _ => b"\r\n",
                });
            }
            // empty lines at the end, which both algorithms remove
            if case % 4 == 1 {
                msg.extend(b"\r\n".repeat(case % 40));
            }
        }
        for s in &specs {
            let specs = std::slice::from_ref(s);
            let want = Engine::Native.sign(&msg, specs, keys.clone()).unwrap();
            let got = wasm.sign(&msg, specs, keys.clone()).unwrap();
            let want = want.unwrap();
            assert_eq!(
                got.unwrap(),
                want,
                "case {case}: {:?}",
                String::from_utf8_lossy(&msg)
            );
            let signed = [want.as_bytes(), &msg].concat();
            assert_passes_in_sandbox(&wasm, &signed, &record, &format!("case {case}"));
        }
    }
}

/// A signature's `d=`, `s=` and `i=` are the sender's bytes, salvaged even
/// from signatures that do not parse: one longer than any DNS name, or
/// with a C1 control character, must still give a report (the host
/// refuses an oversized or control-laden one from the sandbox, which a
/// milter would answer with a temporary failure on every retry), and the
/// same one in both engines.
#[test]
fn hostile_signature_labels_still_give_a_report() {
    let wasm = waxseal::engine::Engine::wasm(None, Limits::default()).unwrap();
    let long = "a".repeat(5000);
    let fields: [&[u8]; 3] = [
        &[
            b"DKIM-Signature: v=1; a=rsa-sha256; s=x; d=",
            long.as_bytes(),
            b"; b=AA; bh=AA; h=from",
        ]
        .concat(),
        b"DKIM-Signature: v=1; a=rsa-sha256; s=x; d=\xC2\x85x.com; b=AA; bh=AA; h=from",
        b"DKIM-Signature: v=1; a=rsa-sha256; s=x; d=x.com; i=a=0D=0A@x.com; b=AA; bh=AA; h=from",
    ];
    for field in fields {
        let msg = [field, b"\r\nFrom: a@x.com\r\n\r\nbody\r\n"].concat();
        let mut reports = Vec::new();
        for engine in [&waxseal::engine::Engine::Native, &wasm] {
            let r = engine
                .verify(
                    &msg,
                    &waxseal_core::VerifyPolicy::default(),
                    Some(1_700_000_100),
                    "mx",
                    &mut |_| waxseal_core::KeyAnswer::NxDomain,
                )
                .unwrap()
                .unwrap();
            assert_eq!(r.verdicts.len(), 1);
            assert_ne!(r.verdicts[0].result, "pass");
            let summary = &r.verdicts[0].summary;
            assert!(summary.len() < 1024, "{} bytes", summary.len());
            let ar = &r.authentication_results;
            assert!(
                ar.len() < 1024 && !ar.chars().any(char::is_control),
                "{ar:.200}"
            );
            reports.push(r);
        }
        assert_eq!(reports[0], reports[1]);
    }
}
