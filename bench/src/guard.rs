//! The regression guard: the ratios that carry the targets, in a short
//! run, against a committed baseline.

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use waxseal::component::Limits;
use waxseal::engine::{Engine, SignSpec};
use waxseal_core::{CanonicalizationAlgorithm, PrivateKey};

use crate::peer::{MailAuthVerifier, mail_auth_signed};
use crate::race::race_rounds;
use crate::{HEADERS, key_pem, message, setup, sign, spec, verify};

/// Rounds of 20 ms in the regression guard: a short run.
pub(crate) const GUARD_ROUNDS: usize = 61;
/// A ratio fails the guard below this share of its baseline: generous, for
/// a shared machine and a different one of the same kind.
pub(crate) const GUARD_MARGIN: f64 = 0.75;

/// `--guard FILE [--update]`: the ratios that carry the targets, measured
/// in a short run, against the baseline in FILE (`name<TAB>ratio` lines);
/// exits 1 when one falls below [`GUARD_MARGIN`] of its baseline. Ratios
/// only, never times: the machine's speed cancels out within a round.
pub(crate) fn guard(file: &std::path::Path, update: bool) {
    let s = setup();
    let native = Engine::Native;
    let wasm = Engine::wasm(None, Limits::default()).unwrap();
    let msg = message(2048);
    let der = |name: &str| {
        PrivateKey::parse(key_pem(name).as_bytes())
            .unwrap()
            .to_pkcs8_der()
            .unwrap()
    };
    let (rsa_der, ed_der) = (der("rsa2048.pem"), der("ed25519.pem"));
    let ma_rsa = DkimSigner::from_key(RsaKey::<Sha256>::from_pkcs8_der(&rsa_der).unwrap())
        .domain("example.com")
        .selector("rsa")
        .headers(HEADERS);
    let ma_ed = DkimSigner::from_key(Ed25519Key::from_pkcs8_maybe_unchecked_der(&ed_der).unwrap())
        .domain("example.com")
        .selector("ed")
        .headers(HEADERS);
    let same = |k: usize, sel: &str| SignSpec {
        key: k,
        spec: waxseal_core::SignSpec {
            headers: Some(HEADERS.iter().map(|h| h.to_string()).collect()),
            ..spec(k, sel).spec
        },
    };
    let ma = MailAuthVerifier::new(&s);
    let mut got: Vec<(String, f64)> = Vec::new();
    for (k, sel, name) in [(0, "rsa", "rsa"), (1, "ed", "ed25519")] {
        let five = [same(k, sel)];
        let mut n5 = || drop(native.sign(&msg, &five, s.keys.clone()).unwrap().unwrap());
        let mut n = || drop(sign(&native, &s, &msg, k, sel));
        let mut w = || drop(sign(&wasm, &s, &msg, k, sel));
        let mut m = || {
            let h = if k == 0 {
                ma_rsa.sign(&msg)
            } else {
                ma_ed.sign(&msg)
            };
            drop(h.unwrap().to_header());
        };
        let r = race_rounds(
            GUARD_ROUNDS,
            0.02,
            &mut [("n5", &mut n5), ("m", &mut m), ("n", &mut n), ("w", &mut w)],
        );
        got.push((format!("sign {name}: native / mail-auth"), r.ratio(0, 1)));
        got.push((format!("sign {name}: sandbox / native"), r.ratio(3, 2)));
        let signed = mail_auth_signed(k, &msg);
        let mut vn = || verify(&native, &s, &signed);
        let mut vw = || verify(&wasm, &s, &signed);
        let mut vm = || ma.verify(&signed);
        let r = race_rounds(
            GUARD_ROUNDS,
            0.02,
            &mut [("n", &mut vn), ("w", &mut vw), ("m", &mut vm)],
        );
        got.push((format!("verify {name}: native / mail-auth"), r.ratio(0, 2)));
        got.push((format!("verify {name}: sandbox / native"), r.ratio(1, 0)));
    }
    // big bodies (issue 16: canonicalization + SHA-256 against SHA-256
    // alone), 1 MB so that the run stays short
    let base64 = crate::canon::base64_body(1 << 20);
    let prose = message(1 << 20);
    for (name, body, alg) in [
        (
            "base64, relaxed",
            &base64,
            CanonicalizationAlgorithm::Relaxed,
        ),
        ("prose, relaxed", &prose, CanonicalizationAlgorithm::Relaxed),
        ("prose, simple", &prose, CanonicalizationAlgorithm::Simple),
    ] {
        let mut hash = || crate::canon::sha256_alone(body);
        let mut both = || crate::canon::body_hash(alg, body);
        let r = race_rounds(
            GUARD_ROUNDS,
            0.02,
            &mut [("sha256", &mut hash), ("both", &mut both)],
        );
        got.push((format!("1 MB {name}: body hash / SHA-256"), r.ratio(1, 0)));
    }
    if update {
        let text: String = got.iter().map(|(n, r)| format!("{n}\t{r:.3}\n")).collect();
        std::fs::write(file, text).unwrap();
        println!("wrote {}", file.display());
        return;
    }
    let baseline: std::collections::HashMap<String, f64> = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, r)| (n.to_string(), r.trim().parse().unwrap()))
        .collect();
    let mut failed = 0;
    println!(
        "benchmark guard: {GUARD_ROUNDS} rounds of 20 ms; a ratio fails below {GUARD_MARGIN} x its baseline"
    );
    for (name, ratio) in &got {
        let Some(base) = baseline.get(name) else {
            println!("  {name:<42} {ratio:5.2}  (no baseline)");
            continue;
        };
        let ok = *ratio >= base * GUARD_MARGIN;
        failed += usize::from(!ok);
        println!(
            "  {name:<42} {ratio:5.2}  baseline {base:5.2}  {}",
            if ok { "ok" } else { "REGRESSION" }
        );
    }
    if failed > 0 {
        eprintln!(
            "benchmark guard: {failed} ratio(s) fell more than the margin below the baseline"
        );
        std::process::exit(1);
    }
}
