//! Interop: dkimpy, Mail::DKIM, mailauth and OpenDKIM verify what waxseal
//! signs, and waxseal agrees with what they sign.

use super::*;

fn peers_py() -> PathBuf {
    repo().join("tests/interop/peers.py")
}

#[test]
fn peers_verify_waxseal_sign_and_waxseal_verify_agrees_with_peer_signatures() {
    let t = Tmp::new("interop");
    let ed = keygen(&t, "ed", "ed25519");
    let rsa = keygen(&t, "rsa", "rsa");
    std::fs::write(t.join("m.eml"), MSG).unwrap();
    let keys = t.join("keys").display().to_string();
    // waxseal signs (dual, every canonicalization), the peers verify
    let mut files = Vec::new();
    for c in [
        "relaxed/relaxed",
        "simple/simple",
        "relaxed/simple",
        "simple/relaxed",
    ] {
        let o = waxseal(&[
            "sign",
            "-k",
            &ed,
            "-s",
            "ed",
            "-k",
            &rsa,
            "-s",
            "rsa",
            "-d",
            "example.com",
            "-c",
            c,
            t.join("m.eml").to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let f = t.join(&format!("w-{}.eml", c.replace('/', "-")));
        std::fs::write(&f, &o.stdout).unwrap();
        files.push(f.display().to_string());
    }
    let out = Command::new("python3")
        .arg(peers_py())
        .args(["verify", "--keys", &keys])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "peers.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut failures = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for (peer, r) in v["peers"].as_object().unwrap() {
            let sigs = r["sigs"].as_array().cloned().unwrap_or_default();
            if !r["error"].is_null()
                || sigs.len() != 2
                || !sigs.iter().all(|s| s["result"] == "pass")
            {
                failures.push(format!("{}: {peer}: {r}", v["file"]));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // the peers sign, waxseal verifies
    let mut checked = 0;
    for peer in ["dkimpy", "maildkim", "mailauth", "opendkim"] {
        for (sel, key, alg) in [("rsa", &rsa, "rsa-sha256"), ("ed", &ed, "ed25519-sha256")] {
            let out = t.join(&format!("{peer}-{sel}.eml"));
            let s = Command::new("python3")
                .arg(peers_py())
                .args([
                    "sign",
                    "--peer",
                    peer,
                    "--key",
                    key,
                    "--domain",
                    "example.com",
                    "--selector",
                    sel,
                    "--algorithm",
                    alg,
                    "--canon",
                    "relaxed/relaxed",
                ])
                .arg(t.join("m.eml"))
                .arg(&out)
                .output()
                .unwrap();
            assert!(
                s.status.success(),
                "{peer} {sel}: {}",
                String::from_utf8_lossy(&s.stderr)
            );
            for engine in ["wasm", "native"] {
                let o = waxseal(&[
                    "--engine",
                    engine,
                    "verify",
                    out.to_str().unwrap(),
                    "--key-dir",
                    &keys,
                ]);
                assert_eq!(code(&o), 0, "{peer} {sel} {engine}: {}", stdout(&o));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16);
}
