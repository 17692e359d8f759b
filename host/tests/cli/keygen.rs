//! `waxseal keygen`: the key, its record and README; unusable sizes and
//! keys; internationalized domains.

use super::*;

#[test]
fn keygen_writes_a_private_key_record_and_readme() {
    let t = Tmp::new("keygen");
    let o = waxseal(&[
        "keygen",
        "--domain",
        "example.com",
        "--selector",
        "s2026",
        "--testing",
        "-o",
        t.0.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("s2026._domainkey.example.com"));
    assert!(stderr(&o).contains("generating a 2048-bit RSA key"));
    let key = t.join("s2026/s2026.private");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // the folder it made: its owner's only
        assert_eq!(
            std::fs::metadata(t.join("s2026"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let record = std::fs::read_to_string(t.join("s2026/s2026.txt")).unwrap();
    assert!(record.starts_with("s2026._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; t=y; p="));
    let readme = std::fs::read_to_string(t.join("s2026/dns_readme.txt")).unwrap();
    assert!(readme.contains("test mode (t=y)"));
    // no overwrite without --force
    let again = waxseal(&[
        "keygen",
        "-d",
        "example.com",
        "-s",
        "s2026",
        "-o",
        t.0.to_str().unwrap(),
    ]);
    assert_eq!(code(&again), 2);
    assert!(
        stderr(&again).contains("exists; use --force"),
        "{}",
        stderr(&again)
    );
    // an Ed25519 key for the same selector, with --force or without
    let ed25519_keygen = |force: bool| {
        let dir = t.0.to_str().unwrap();
        let mut args = vec![
            "keygen",
            "-d",
            "example.com",
            "-s",
            "s2026",
            "-a",
            "ed25519",
        ];
        if force {
            args.push("--force");
        }
        args.extend(["-o", dir]);
        waxseal(&args)
    };
    let forced = ed25519_keygen(true);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    assert!(
        std::fs::read_to_string(t.join("s2026/s2026.txt"))
            .unwrap()
            .contains("k=ed25519")
    );
    // --force replaces a symlink planted at the key's path; it never
    // writes the key through it
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let victim = t.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::fs::remove_file(&key).unwrap();
        std::os::unix::fs::symlink(&victim, &key).unwrap();
        let again = ed25519_keygen(false);
        assert_eq!(code(&again), 2, "a symlink counts as existing");
        let forced = ed25519_keygen(true);
        assert_eq!(code(&forced), 0, "{}", stderr(&forced));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let meta = std::fs::symlink_metadata(&key).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    // bad options: one line, exit 2
    for args in [
        vec!["keygen", "-d", "exa mple.com", "-s", "s"],
        vec!["keygen", "-d", "example.com", "-s", "s", "-b", "512"],
        vec!["keygen", "-d", "example.com", "-s", "a;b"],
    ] {
        let mut a = args.clone();
        a.extend(["-o", t.0.to_str().unwrap()]);
        let o = waxseal(&a);
        assert_eq!(code(&o), 2, "{args:?}");
        assert_eq!(
            stderr(&o)
                .lines()
                .filter(|l| l.starts_with("waxseal: error:"))
                .count(),
            1,
            "{}",
            stderr(&o)
        );
    }
}

/// Regressions (hardening issue, item 7): keygen says the allowed RSA
/// range before it starts and leaves no folder behind; --bits with Ed25519
/// is an error, not ignored; encrypted and EC keys say what they are;
/// a U-label domain signs with its A-labels (RFC 8616).
#[test]
fn keygen_sizes_unusable_keys_and_internationalized_domains() {
    let t = Tmp::new("smaller");
    let out = t.join("keys").display().to_string();
    for (args, want) in [
        (
            vec!["-b", "3001"],
            "RSA keys are 1024 to 4096 bits, a multiple of 8",
        ),
        (
            vec!["-b", "512"],
            "RSA keys are 1024 to 4096 bits, a multiple of 8",
        ),
        (
            vec!["-a", "ed25519", "-b", "2048"],
            "--bits is for RSA keys",
        ),
    ] {
        let o = waxseal(
            &[
                &["keygen", "-d", "example.com", "-s", "x", "-o", &out][..],
                &args,
            ]
            .concat(),
        );
        assert_eq!(code(&o), 2, "{args:?}");
        let e = stderr(&o);
        assert!(
            e.contains(want) && !e.contains("generating"),
            "{args:?}: {e}"
        );
        assert!(
            !t.join("keys/x").exists(),
            "{args:?}: no folder left behind"
        );
    }
    for (key, want) in [
        ("ed25519-encrypted.pem", "the private key is encrypted"),
        ("ec-p256.pem", "this is an EC or DSA key"),
        ("ec-p256-sec1.pem", "this is an EC or DSA key"),
    ] {
        let o = waxseal(&[
            "dns",
            "record",
            "-k",
            &vector_key(key),
            "-d",
            "example.com",
            "-s",
            "s",
        ]);
        assert_eq!(code(&o), 2, "{key}");
        assert!(stderr(&o).contains(want), "{key}: {}", stderr(&o));
    }
    // internationalized domains: keygen, record and signature use A-labels
    let o = waxseal(&[
        "keygen",
        "-d",
        "bücher.example",
        "-s",
        "ed",
        "-a",
        "ed25519",
        "-o",
        &out,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ed._domainkey.xn--bcher-kva.example"),
        "{}",
        stdout(&o)
    );
    std::fs::write(t.join("m.eml"), MSG).unwrap();
    let key = t.join("keys/ed/ed.private").display().to_string();
    let o = waxseal(&[
        "sign",
        "-k",
        &key,
        "-s",
        "ed",
        "-d",
        "bücher.example",
        "--header-only",
        t.join("m.eml").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("d=xn--bcher-kva.example;"),
        "{}",
        stdout(&o)
    );
    let o = waxseal(&sign_ed(
        &key,
        "bad_name!",
        t.join("m.eml").to_str().unwrap(),
    ));
    assert!(
        stderr(&o).contains("--domain bad_name!: "),
        "{}",
        stderr(&o)
    );
}
