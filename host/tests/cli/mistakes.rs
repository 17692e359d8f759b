//! Bad input and operator mistakes: one clear line and exit 2, never a
//! panic; closed pipes and full disks; forged From fields.

use super::*;

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    let t = Tmp::new("bad");
    let ed = keygen(&t, "ed", "ed25519");
    let keys = t.join("keys").display().to_string();
    std::fs::write(t.join("empty.eml"), "").unwrap();
    std::fs::write(
        t.join("text.eml"),
        "Hello, this is just text\nand no mail header at all\n",
    )
    .unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(t.join("garbage.eml"), &garbage).unwrap();
    std::fs::write(t.join("nofrom.eml"), "To: a@example.com\r\n\r\nbody\r\n").unwrap();
    let pem = std::fs::read_to_string(&ed).unwrap();
    std::fs::write(t.join("truncated.pem"), &pem[..pem.len() / 2]).unwrap();
    std::fs::write(t.join("public.pem"), "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA0kh3mU66nWKiuJOgIV2+9TG0Z3u/BH8ipJ5R8LWstAI=\n-----END PUBLIC KEY-----\n").unwrap();
    let cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----\n";
    std::fs::write(t.join("cert.pem"), cert).unwrap();
    std::fs::write(t.join("m.eml"), MSG).unwrap();
    let p = |n: &str| t.join(n).display().to_string();
    let sign = |key: &str, domain: &str, file: &str| owned(&sign_ed(key, domain, file));
    let verify_cmd = |file: &str, keys: &str| owned(&["verify", file, "--key-dir", keys]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            sign(&ed, "example.com", &p("empty.eml")),
            "the message is empty",
        ),
        (verify_cmd(&p("empty.eml"), &keys), "the message is empty"),
        (
            sign(&ed, "example.com", &p("text.eml")),
            "not a mail message: line 1",
        ),
        (verify_cmd(&p("text.eml"), &keys), "not a mail message"),
        (
            sign(&ed, "example.com", &p("garbage.eml")),
            "not a mail message",
        ),
        (
            sign(&ed, "example.com", &p("nofrom.eml")),
            "no From header field",
        ),
        (
            sign(&p("truncated.pem"), "example.com", &p("m.eml")),
            "cannot decode the private key",
        ),
        (
            sign(&p("public.pem"), "example.com", &p("m.eml")),
            "this is a public key",
        ),
        (
            sign(&p("cert.pem"), "example.com", &p("m.eml")),
            "cannot decode the private key",
        ),
        (
            sign(
                &vector_key("rsa512-too-small.pem"),
                "example.com",
                &p("m.eml"),
            ),
            "512 bits is not allowed",
        ),
        (
            sign(&p("missing.pem"), "example.com", &p("m.eml")),
            "cannot read key",
        ),
        (
            sign(&ed, "example.com", &p("no-such-file.eml")),
            "cannot read",
        ),
        (verify_cmd(&t.0.display().to_string(), &keys), "cannot read"),
        (verify_cmd(&p("m.eml"), &p("nowhere")), "not a folder"),
        (
            sign(&ed, "exa mple.com", &p("m.eml")),
            "invalid domain name",
        ),
        (
            owned(&[
                "sign",
                "-k",
                &ed,
                "-k",
                &ed,
                "-s",
                "ed",
                "-d",
                "example.com",
                &p("m.eml"),
            ]),
            "one --selector per --key",
        ),
    ];
    for engine in ["wasm", "native"] {
        for (args, want) in &cases {
            let mut a: Vec<&str> = vec!["--engine", engine];
            a.extend(args.iter().map(String::as_str));
            let o = waxseal(&a);
            let err = stderr(&o);
            assert_eq!(code(&o), 2, "{engine} {args:?}: {err}{}", stdout(&o));
            assert_eq!(
                err.lines().count(),
                1,
                "{engine} {args:?}: one line, got: {err}"
            );
            assert!(
                err.starts_with("waxseal: error: ") && err.contains(want),
                "{engine} {args:?}: {err}"
            );
            assert!(
                !err.contains("panicked") && !err.contains("wasm backtrace"),
                "{err}"
            );
        }
    }
}

/// Regression (hardening issue, item 2): a closed standard output (`|
/// head`) ends the command quietly with 141, as Unix tools end on SIGPIPE,
/// never with a panic and a backtrace; a full device is one line and exit 2.
#[test]
fn broken_pipe_and_full_disk_end_quietly() {
    let t = Tmp::new("pipe");
    let ed = keygen(&t, "ed", "ed25519");
    let keys = t.join("keys").display().to_string();
    std::fs::write(t.join("m.eml"), MSG).unwrap();
    let m = t.join("m.eml").display().to_string();
    let o = waxseal(&sign_ed(&ed, "example.com", &m));
    std::fs::write(t.join("signed.eml"), &o.stdout).unwrap();
    let signed = t.join("signed.eml").display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["verify", &signed, "--key-dir", &keys],
        sign_ed(&ed, "example.com", &m).to_vec(),
        vec!["dns", "record", "-k", &ed, "-d", "example.com", "-s", "ed"],
        vec!["dns", "policy", "-d", "example.com"],
    ];
    for args in &cases {
        let mut c = Command::new(env!("CARGO_BIN_EXE_waxseal"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // the reader goes away before the command writes
        drop(c.stdout.take());
        let o = c.wait_with_output().unwrap();
        assert_eq!(code(&o), 141, "{args:?}: {}", stderr(&o));
        assert!(o.stderr.is_empty(), "{args:?}: {}", stderr(&o));
    }
    if Path::new("/dev/full").exists() {
        for args in &cases {
            let o = Command::new(env!("CARGO_BIN_EXE_waxseal"))
                .args(args)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create("/dev/full").unwrap())
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
            let e = stderr(&o);
            assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
            assert!(
                e.starts_with("waxseal: error:") && !e.contains("panicked"),
                "{args:?}: {e}"
            );
        }
    }
    // `waxseal sign >&-`: a closed standard output is an error for the
    // commands whose one product is what they print (it was exit 0 with
    // the result lost), while `>/dev/null` is the user's choice; `verify`
    // (its exit status is an answer) and `keygen` (it writes files) run
    if Path::new("/proc/self/fdinfo").exists() && Path::new("/bin/sh").exists() {
        let closed = |args: &[&str]| {
            Command::new("/bin/sh")
                .arg("-c")
                .arg(r#"exec "$0" "$@" >&-"#)
                .arg(env!("CARGO_BIN_EXE_waxseal"))
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        for args in &cases[1..] {
            let o = closed(args);
            assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
            assert_eq!(
                stderr(&o),
                "waxseal: error: standard output is closed: there is nowhere to write the result\n",
                "{args:?}"
            );
            let o = Command::new(env!("CARGO_BIN_EXE_waxseal"))
                .args(args)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create("/dev/null").unwrap())
                .output()
                .unwrap();
            assert_eq!(code(&o), 0, "{args:?} >/dev/null: {}", stderr(&o));
        }
        let o = closed(&cases[0]);
        assert_eq!(code(&o), 0, "verify: {}", stderr(&o));
        let keygen_out = t.join("closed").display().to_string();
        let o = closed(&[
            "keygen",
            "-d",
            "example.com",
            "-s",
            "k",
            "-a",
            "ed25519",
            "-o",
            &keygen_out,
        ]);
        assert_eq!(code(&o), 0, "keygen: {}", stderr(&o));
        assert!(Path::new(&keygen_out).join("k").join("k.private").exists());
    }
}

/// Regressions (hardening issue, items 3 and 5): a second From field put
/// on top of a signed message is `policy` (exit 1) by default and `pass`
/// only with --allow-from-count; the signer refuses a message with two
/// From fields; CR-only line ends are refused with a clear error; with
/// both engines.
#[test]
fn second_from_field_and_cr_only_line_ends() {
    let t = Tmp::new("from");
    let ed = keygen(&t, "ed", "ed25519");
    let keys = t.join("keys").display().to_string();
    std::fs::write(t.join("m.eml"), MSG).unwrap();
    for engine in ["wasm", "native"] {
        let o = sign_ed_with(
            engine,
            &ed,
            &["--headers", "From,To,Subject,Date"],
            t.join("m.eml").to_str().unwrap(),
        );
        assert_eq!(code(&o), 0, "{engine}: {}", stderr(&o));
        let mut evil = b"From: Evil <ceo@evil.example>\r\n".to_vec();
        evil.extend_from_slice(&o.stdout);
        std::fs::write(t.join("evil.eml"), &evil).unwrap();
        let evil_path = t.join("evil.eml").display().to_string();
        let o = waxseal(&["--engine", engine, "verify", &evil_path, "--key-dir", &keys]);
        assert_eq!(code(&o), 1, "{engine}: {}", stdout(&o));
        assert!(
            stdout(&o).contains(
                "policy d=example.com s=ed a=ed25519-sha256 (the message has 2 From fields"
            ),
            "{engine}: {}",
            stdout(&o)
        );
        let o = waxseal(&[
            "--engine",
            engine,
            "verify",
            &evil_path,
            "--key-dir",
            &keys,
            "--allow-from-count",
        ]);
        assert_eq!(code(&o), 0, "{engine}: {}", stdout(&o));
        // the signer refuses such a message
        let o = sign_ed_with(engine, &ed, &[], &evil_path);
        assert_eq!(code(&o), 2, "{engine}");
        assert!(
            stderr(&o).contains("2 From header fields"),
            "{engine}: {}",
            stderr(&o)
        );
        // an old Mac file
        std::fs::write(t.join("mac.eml"), MSG.replace("\r\n", "\r")).unwrap();
        let mac = t.join("mac.eml").display().to_string();
        for args in [
            [
                &["--engine", engine][..],
                &sign_ed(&ed, "example.com", &mac),
            ]
            .concat(),
            vec!["--engine", engine, "verify", &mac, "--key-dir", &keys],
        ] {
            let o = waxseal(&args);
            assert_eq!(code(&o), 2, "{args:?}");
            assert!(
                stderr(&o).contains("line ends are CR only"),
                "{args:?}: {}",
                stderr(&o)
            );
        }
    }
}

/// What operators type wrong, refused before anything is written or
/// signed (the review of 2026-12-06): a selector whose record name is too
/// long for DNS; a second domain's key into the first domain's folder;
/// report addresses that would break the policy records; a header name
/// with `;`. And an internationalized identity is signed with A-labels.
#[test]
fn operator_mistakes_get_clear_errors() {
    let t = Tmp::new("mistakes");
    let out = t.0.to_str().unwrap();
    let long_domain = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "example".into(),
    ]
    .join(".");
    let o = waxseal(&[
        "keygen",
        "-d",
        &long_domain,
        "-s",
        &"s".repeat(43),
        "-a",
        "ed25519",
        "-o",
        out,
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("would be 254 characters"),
        "{}",
        stderr(&o)
    );
    let keygen_for = |domain: &str| {
        waxseal(&[
            "keygen", "-d", domain, "-s", "mail", "-a", "ed25519", "-o", out,
        ])
    };
    assert_eq!(code(&keygen_for("a.example")), 0);
    let o = keygen_for("b.example");
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(
            "holds the key published at mail._domainkey.a.example., not mail._domainkey.b.example"
        ),
        "{}",
        stderr(&o)
    );
    for report in ["a@b.example; p=none", "a\"b@x.example", "not an address"] {
        let o = waxseal(&["dns", "policy", "-d", "example.com", "--report", report]);
        assert_eq!(code(&o), 2, "{report}");
        assert!(stderr(&o).contains("not an address"), "{}", stderr(&o));
    }
    let o = waxseal(&[
        "dns",
        "policy",
        "-d",
        "example.com",
        "--report",
        "a@x.example,b@y.example",
    ]);
    assert!(
        stdout(&o).contains("rua=mailto:a@x.example,mailto:b@y.example"),
        "{}",
        stdout(&o)
    );
    let msg = t.join("m.eml");
    std::fs::write(
        &msg,
        "From: joe@b\u{fc}cher.example\r\nx;y: z\r\n\r\nhi\r\n",
    )
    .unwrap();
    let key = format!("{out}/mail/mail.private");
    let m = msg.to_str().unwrap();
    let sign = |extra: &[&str]| {
        let mut args = vec!["sign", "-d", "b\u{fc}cher.example", "-s", "s", "-k", &key];
        args.extend_from_slice(extra);
        args.push(m);
        waxseal(&args)
    };
    let o = sign(&["--headers", "from,x;y"]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    let o = sign(&["-i", "joe@b\u{fc}cher.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("i=joe@xn--bcher-kva.example;"),
        "{}",
        stdout(&o)
    );
}
