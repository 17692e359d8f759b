//! Criterion benchmarks of waxseal-core, with a summary of ratios measured
//! in the same run:
//!
//! - body canonicalization + SHA-256 (relaxed, simple) next to plain SHA-256
//!   over the same bytes;
//! - hostile bodies (long runs of trailing white space, many empty lines)
//!   next to ordinary text, as time per MB: linear time means a ratio near 1;
//! - whole-message signing, RSA-2048 and Ed25519, as signatures per second,
//!   and the signing work without the private-key operation.
//!
//! Run: `cargo bench -p waxseal-core --bench core` (the ratios are printed at
//! the end; `-- --quick` for a shorter run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput};
use sha2::{Digest, Sha256};
use waxseal_core::{
    BodyHasher, CanonicalizationAlgorithm, HashAlgorithm, KeyAnswer, PrivateKey, SignOptions,
    VerifyPolicy, sign,
};

const MB: usize = 1024 * 1024;

/// Ordinary text: 72-character lines of words with single spaces, the odd
/// double space and an empty line now and then.
fn ordinary(len: usize) -> Vec<u8> {
    let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog,", "and", "then",
    ];
    let mut out = Vec::with_capacity(len + 100);
    let mut line = 0usize;
    let mut col = 0usize;
    let mut i = 0usize;
    while out.len() < len {
        let w = words[i % words.len()];
        i += 1;
        if col + w.len() + 1 > 72 {
            out.extend_from_slice(b"\r\n");
            line += 1;
            col = 0;
            if line.is_multiple_of(9) {
                out.extend_from_slice(b"\r\n");
            }
        } else if col > 0 {
            out.extend_from_slice(if i.is_multiple_of(23) { b"  " } else { b" " });
            col += 1;
        }
        out.extend_from_slice(w.as_bytes());
        col += w.len();
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Lines of text followed by long runs of trailing spaces and tabs: the
/// input that makes rescanning canonicalizers quadratic.
fn hostile_trailing_wsp(len: usize) -> Vec<u8> {
    let mut line = b"x".to_vec();
    line.extend(std::iter::repeat_n(b" \t", 500).flatten());
    line.extend_from_slice(b"\r\n");
    line.iter().copied().cycle().take(len).collect()
}

/// Many empty lines, then text: held-back line endings in bulk.
fn hostile_empty_lines(len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = b"\r\n".iter().copied().cycle().take(len).collect();
    out.extend_from_slice(b"end\r\n");
    out
}

fn body_hash(alg: CanonicalizationAlgorithm, body: &[u8]) -> [u8; 32] {
    let mut h = BodyHasher::new(alg, HashAlgorithm::Sha256, None);
    for chunk in body.chunks(64 * 1024) {
        h.update(chunk);
    }
    h.finish().digest.as_bytes().try_into().unwrap()
}

fn benches(c: &mut Criterion) {
    let text = ordinary(4 * MB);
    let mut g = c.benchmark_group("body_hash");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("sha256_plain", |b| {
        b.iter(|| Sha256::digest(black_box(&text)))
    });
    g.bench_function("relaxed", |b| {
        b.iter(|| body_hash(CanonicalizationAlgorithm::Relaxed, black_box(&text)))
    });
    g.bench_function("simple", |b| {
        b.iter(|| body_hash(CanonicalizationAlgorithm::Simple, black_box(&text)))
    });
    g.finish();

    let mut g = c.benchmark_group("hostile");
    for (name, body) in [
        ("ordinary_relaxed", ordinary(4 * MB)),
        ("trailing_wsp_relaxed", hostile_trailing_wsp(4 * MB)),
        ("empty_lines_relaxed", hostile_empty_lines(4 * MB)),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| body_hash(CanonicalizationAlgorithm::Relaxed, black_box(&body)))
        });
    }
    for (name, body) in [
        ("trailing_wsp_simple", hostile_trailing_wsp(4 * MB)),
        ("ordinary_simple", ordinary(4 * MB)),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| body_hash(CanonicalizationAlgorithm::Simple, black_box(&body)))
        });
    }
    g.finish();

    let mut msg = b"From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.net>\r\n\
        Subject: Is dinner ready?\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n\
        Message-ID: <20030712040037.46341.5F8J@example.com>\r\nMIME-Version: 1.0\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\n"
        .to_vec();
    msg.extend(ordinary(2048 - msg.len()));
    let keys = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/keys");
    let rsa = PrivateKey::parse(&std::fs::read(keys.join("rsa2048.pem")).unwrap()).unwrap();
    let ed = PrivateKey::parse(&std::fs::read(keys.join("ed25519.pem")).unwrap()).unwrap();
    let mut opts = SignOptions::new("example.com".parse().unwrap(), "sel".parse().unwrap());
    opts.timestamp = Some(1_700_000_000);
    let mut g = c.benchmark_group("sign_2kb");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rsa2048", |b| {
        b.iter(|| sign(black_box(&msg), &[(&opts, &rsa)]).unwrap())
    });
    g.bench_function("ed25519", |b| {
        b.iter(|| sign(black_box(&msg), &[(&opts, &ed)]).unwrap())
    });
    // everything but the private-key operation: parse, canonicalize,
    // hash, select headers, write the field
    g.bench_function("prepare", |b| {
        b.iter(|| {
            let mut s = waxseal_core::Signer::new();
            s.add_external(opts.clone(), waxseal_core::SigningAlgorithm::Ed25519Sha256)
                .unwrap();
            s.update(black_box(&msg)).unwrap();
            s.finish_pending().unwrap()
        })
    });
    // One signer reset between messages (options checked once), on the
    // host benchmark's message: a double space on every body line.
    let mut host_msg = msg[..msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4].to_vec();
    while host_msg.len() < 2048 {
        host_msg.extend_from_slice(
            b"The quick brown fox jumps over the lazy dog, and then  again and again.\r\n",
        );
    }
    g.bench_function("prepare_reused_dirty", |b| {
        let mut s = waxseal_core::Signer::new();
        s.add_external(opts.clone(), waxseal_core::SigningAlgorithm::Ed25519Sha256)
            .unwrap();
        b.iter(|| {
            s.reset();
            s.update(black_box(&host_msg)).unwrap();
            s.finish_pending().unwrap()
        })
    });
    let parsed = waxseal_core::Message::parse(&msg).unwrap();
    g.bench_function("h_list", |b| {
        b.iter(|| opts.headers.h_list(black_box(&parsed.fields)).unwrap())
    });
    g.bench_function("select", |b| {
        let h = opts.headers.h_list(&parsed.fields).unwrap();
        b.iter(|| waxseal_core::sign::select_headers(black_box(&parsed.fields), &h).len())
    });
    g.bench_function("parse", |b| {
        b.iter(|| {
            waxseal_core::Message::parse(black_box(&msg))
                .unwrap()
                .fields
                .len()
        })
    });
    g.finish();

    // verification: 2 KB messages, a 10 MB message, and a hostile body
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    for (name, key) in [("rsa2048_2kb", &rsa), ("ed25519_2kb", &ed)] {
        let (signed, dns) = signed_message(&msg, &opts, key);
        g.bench_function(name, |b| b.iter(|| verify_ok(black_box(&signed), &dns)));
    }
    let first_line = msg.iter().position(|b| *b == b'\n').unwrap() + 1;
    let mut big = msg[..first_line].to_vec();
    big.extend_from_slice(b"Subject: big\r\n\r\n");
    big.extend(ordinary(10 * MB));
    let mut hostile = msg[..first_line].to_vec();
    hostile.extend_from_slice(b"Subject: hostile\r\n\r\n");
    hostile.extend(hostile_trailing_wsp(10 * MB));
    // a hostile header block: 20,000 fields, all signed (h= lists them all)
    let mut many = msg[..first_line].to_vec();
    for i in 0..20_000 {
        many.extend_from_slice(format!("X-H: {i}\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\nbody\r\n");
    let mut many_opts = opts.clone();
    many_opts.headers = waxseal_core::HeaderSelection::only(["from", "x-h"]);
    let sigs = sign(&many, &[(&many_opts, &ed)]).unwrap();
    let many_signed = waxseal_core::prepend_signatures(&many, &sigs);
    let mut plain = msg[..first_line].to_vec();
    plain.extend_from_slice(b"Subject: plain\r\n\r\n");
    plain.extend(ordinary(many_signed.len()));
    let (plain_signed, rec) = signed_message(&plain, &opts, &ed);
    for (name, m) in [
        ("ed25519_hostile_headers", &many_signed),
        ("ed25519_same_size_ordinary", &plain_signed),
    ] {
        g.throughput(Throughput::Bytes(m.len() as u64));
        g.bench_function(name, |b| b.iter(|| verify_ok(black_box(m), &rec)));
    }
    for (name, body) in [("ed25519_10mb", &big), ("ed25519_10mb_hostile", &hostile)] {
        let (signed, dns) = signed_message(body, &opts, &ed);
        g.throughput(Throughput::Bytes(signed.len() as u64));
        g.bench_function(name, |b| b.iter(|| verify_ok(black_box(&signed), &dns)));
    }
    g.finish();
}

fn signed_message(msg: &[u8], opts: &SignOptions, key: &PrivateKey) -> (Vec<u8>, String) {
    let sigs = sign(msg, &[(opts, key)]).unwrap();
    let record = waxseal_core::KeyRecord::new(&key.public_key()).to_txt();
    (waxseal_core::prepend_signatures(msg, &sigs), record)
}

fn verify_ok(msg: &[u8], record: &str) {
    let r = waxseal_core::verify(msg, &VerifyPolicy::default(), None, &mut |name: &str| {
        if name.starts_with("sel.") {
            KeyAnswer::record(record)
        } else {
            KeyAnswer::NxDomain
        }
    })
    .unwrap();
    assert!(r.any_pass());
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion")
}

/// Mean time in ns of one benchmark of this run, from criterion's estimates.
fn mean_ns(group: &str, id: &str) -> Option<f64> {
    let p = criterion_dir()
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(p).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn print_ratios() {
    let get = |g: &str, id: &str| mean_ns(g, id).unwrap_or(f64::NAN);
    let mb = |g: &str, id: &str, bytes: f64| bytes / get(g, id) * 1e9 / MB as f64;
    let text_len = ordinary(4 * MB).len() as f64;
    let plain = get("body_hash", "sha256_plain");
    println!("\n== waxseal-core: ratios from this run ==");
    println!(
        "SHA-256 alone:                    {:8.0} MB/s",
        mb("body_hash", "sha256_plain", text_len)
    );
    for id in ["relaxed", "simple"] {
        println!(
            "{id:<7} canonicalize + SHA-256:  {:8.0} MB/s  = {:.2}x plain SHA-256",
            mb("body_hash", id, text_len),
            plain / get("body_hash", id)
        );
    }
    let per_mb = |id: &str, len: usize| get("hostile", id) / (len as f64 / MB as f64);
    let ord_r = per_mb("ordinary_relaxed", ordinary(4 * MB).len());
    let ord_s = per_mb("ordinary_simple", ordinary(4 * MB).len());
    for (id, len, base) in [
        (
            "trailing_wsp_relaxed",
            hostile_trailing_wsp(4 * MB).len(),
            ord_r,
        ),
        (
            "empty_lines_relaxed",
            hostile_empty_lines(4 * MB).len(),
            ord_r,
        ),
        (
            "trailing_wsp_simple",
            hostile_trailing_wsp(4 * MB).len(),
            ord_s,
        ),
    ] {
        println!(
            "hostile {id:<21} time per MB = {:.2}x ordinary text (linear: about 1 or less)",
            per_mb(id, len) / base
        );
    }
    for id in ["rsa2048", "ed25519"] {
        println!(
            "sign 2 KB message, {id:<8}   {:8.0} signatures/s",
            1e9 / get("sign_2kb", id)
        );
    }
    for id in ["rsa2048_2kb", "ed25519_2kb"] {
        println!(
            "verify {id:<12}            {:8.0} messages/s",
            1e9 / get("verify", id)
        );
    }
    let ten = 10.0 * MB as f64;
    let v10 = get("verify", "ed25519_10mb");
    println!(
        "verify 10 MB message (ed25519): {:8.0} MB/s",
        ten / v10 * 1e9 / MB as f64
    );
    println!(
        "verify 10 MB hostile body:      {:.2}x the time of ordinary text (linear: about 1 or less)",
        get("verify", "ed25519_10mb_hostile") / v10
    );
    println!(
        "verify 20,000 signed header fields: {:.2}x the time of an ordinary message of the same size",
        get("verify", "ed25519_hostile_headers") / get("verify", "ed25519_same_size_ordinary")
    );
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&criterion_dir())
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
    print_ratios();
}
