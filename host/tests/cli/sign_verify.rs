//! `waxseal sign` and `verify` with both engines: files, standard input,
//! a loopback DNS server, the header-block limit.

use super::*;

#[test]
fn sign_and_verify_with_both_engines() {
    let t = Tmp::new("sign");
    let ed = keygen(&t, "ed", "ed25519");
    let rsa = keygen(&t, "rsa", "rsa");
    std::fs::write(t.join("m.eml"), MSG).unwrap();
    let m = t.join("m.eml").display().to_string();
    let sign = |engine: &str| {
        let o = waxseal(&[
            "--engine",
            engine,
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
            "--timestamp",
            "1700000000",
            &m,
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        o.stdout
    };
    let wasm = sign("wasm");
    assert_eq!(wasm, sign("native"), "both engines give the same bytes");
    assert!(wasm.starts_with(b"DKIM-Signature: v=1; a=ed25519-sha256;"));
    assert!(wasm.ends_with(MSG.as_bytes()));
    std::fs::write(t.join("signed.eml"), &wasm).unwrap();
    let keys = t.join("keys").display().to_string();
    let signed = t.join("signed.eml").display().to_string();
    for engine in ["wasm", "native"] {
        let o = waxseal(&[
            "--engine",
            engine,
            "verify",
            &signed,
            "--key-dir",
            &keys,
            "--now",
            "1700000100",
            "--authserv-id",
            "mx.example.org",
        ]);
        assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("pass d=example.com s=ed a=ed25519-sha256"),
            "{out}"
        );
        assert!(
            out.contains("pass d=example.com s=rsa a=rsa-sha256"),
            "{out}"
        );
        assert!(
            out.contains(
                "Authentication-Results: mx.example.org; dkim=pass header.d=example.com header.s=ed"
            ),
            "{out}"
        );
    }
    // tampered body: exit 1 with the reason
    std::fs::write(
        t.join("bad.eml"),
        String::from_utf8(wasm.clone())
            .unwrap()
            .replace("hungry", "angry"),
    )
    .unwrap();
    let o = waxseal(&[
        "verify",
        t.join("bad.eml").to_str().unwrap(),
        "--key-dir",
        &keys,
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("fail d=example.com s=ed a=ed25519-sha256 (body hash mismatch)"),
        "{}",
        stdout(&o)
    );
    // unsigned: exit 1, dkim=none
    let o = waxseal(&["verify", &m, "--key-dir", &keys]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("dkim=none"));
    // header only, LF input, standard input
    let lf = MSG.replace("\r\n", "\n");
    std::fs::write(t.join("lf.eml"), &lf).unwrap();
    let o = waxseal(&[
        "sign",
        "-k",
        &ed,
        "-s",
        "ed",
        "-d",
        "example.com",
        "--header-only",
        t.join("lf.eml").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let header = stdout(&o);
    assert!(
        header.starts_with("DKIM-Signature:")
            && !header.contains('\r')
            && !header.contains("Subject:")
    );
    std::fs::write(t.join("lf-signed.eml"), format!("{header}{lf}")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_waxseal"))
        .args(["verify", "-", "--key-dir", &keys])
        .stdin(std::fs::File::open(t.join("lf-signed.eml")).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&child), 0, "{}", stdout(&child));
}

#[test]
fn verify_through_a_loopback_dns_server() {
    let t = Tmp::new("verify-dns");
    let ed = keygen(&t, "ed", "ed25519");
    std::fs::write(t.join("m.eml"), MSG).unwrap();
    let o = waxseal(&sign_ed(
        &ed,
        "example.com",
        t.join("m.eml").to_str().unwrap(),
    ));
    std::fs::write(t.join("signed.eml"), &o.stdout).unwrap();
    let value = std::fs::read_to_string(t.join("keys/ed._domainkey.example.com.txt")).unwrap();
    let dns = Dnsmasq::start(&[("ed._domainkey.example.com", split255(&value))]);
    let signed = t.join("signed.eml").display().to_string();
    let o = waxseal(&["verify", &signed, "--resolver", &dns.addr()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    drop(dns);
    // no server: temperror, exit 3
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let o = waxseal(&[
        "verify",
        &signed,
        "--resolver",
        &closed.to_string(),
        "--dns-timeout",
        "1",
    ]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stdout(&o).contains("temperror"), "{}", stdout(&o));
}

/// Standard input streams too: `verify` reads it straight through, `sign
/// --header-only` in one pass, and `sign` spools a large message to a
/// temporary file, giving the bytes a file gives.
#[test]
fn standard_input_streams() {
    use std::io::Write;
    let t = Tmp::new("stdin");
    let ed = keygen(&t, "ed", "ed25519");
    let keys = t.join("keys").display().to_string();
    let mut big = MSG.as_bytes().to_vec();
    while big.len() < 3 << 20 {
        big.extend_from_slice(b"a line of body text that goes on\r\n");
    }
    std::fs::write(t.join("big.eml"), &big).unwrap();
    let piped = |args: &[&str], input: &[u8]| -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_waxseal"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let o = c.wait_with_output().unwrap();
        writer.join().unwrap();
        o
    };
    let sign = [
        "sign",
        "-k",
        &ed,
        "-s",
        "ed",
        "-d",
        "example.com",
        "--timestamp",
        "1700000000",
    ];
    let from_file = waxseal(&[&sign[..], &[t.join("big.eml").to_str().unwrap()]].concat());
    assert_eq!(code(&from_file), 0, "{}", stderr(&from_file));
    let from_stdin = piped(&sign, &big);
    assert_eq!(code(&from_stdin), 0, "{}", stderr(&from_stdin));
    assert_eq!(
        from_stdin.stdout, from_file.stdout,
        "stdin spooled to a file gives the same bytes"
    );
    let header = piped(&[&sign[..], &["--header-only"]].concat(), &big);
    assert!(from_file.stdout.starts_with(&header.stdout) && header.stdout.len() < 1000);
    let o = piped(
        &["verify", "--key-dir", &keys, "--now", "1700000100"],
        &from_file.stdout,
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("pass d=example.com s=ed"));
}

/// A header block over `--max-header-bytes` gets a verification result
/// with its reason (exit 1), not an input error (exit 2), with both
/// engines.
#[test]
fn max_header_bytes_is_a_verdict() {
    let t = Tmp::new("maxheader");
    let ed = keygen(&t, "ed", "ed25519");
    let keys = t.join("keys").display().to_string();
    std::fs::write(t.join("m.eml"), MSG).unwrap();
    let o = waxseal(&sign_ed(
        &ed,
        "example.com",
        t.join("m.eml").to_str().unwrap(),
    ));
    std::fs::write(t.join("signed.eml"), &o.stdout).unwrap();
    for engine in ["wasm", "native"] {
        let signed = t.join("signed.eml");
        let o = waxseal(&[
            "--engine",
            engine,
            "verify",
            signed.to_str().unwrap(),
            "--key-dir",
            &keys,
            "--max-header-bytes",
            "200",
        ]);
        assert_eq!(code(&o), 1, "{engine}: {}{}", stdout(&o), stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("permerror") && out.contains("header block is larger than 200 bytes"),
            "{engine}: {out}"
        );
        assert!(
            out.contains("Authentication-Results: localhost; dkim=permerror"),
            "{engine}: {out}"
        );
        let o = waxseal(&[
            "--engine",
            engine,
            "verify",
            signed.to_str().unwrap(),
            "--key-dir",
            &keys,
        ]);
        assert_eq!(code(&o), 0, "{engine}: {}", stdout(&o));
    }
}
