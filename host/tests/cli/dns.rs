//! `waxseal dns record / policy / check`, the last against dnsmasq, a
//! real DNS server on loopback.

use super::*;

#[test]
fn dns_record_and_policy() {
    let o = waxseal(&[
        "dns",
        "record",
        "-k",
        &vector_key("rsa2048.pem"),
        "-d",
        "example.com",
        "-s",
        "sel",
        "--testing",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("sel._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; t=y; p=MIIB"));
    assert!(out.contains(";   value: v=DKIM1; k=rsa; t=y; p=MIIB"));
    // the record needs only the public half: a public key PEM, or the
    // private key as DER, give the same record (as npm's dnsRecord does)
    let tmp = Tmp::new("dns-record-forms");
    let der = tmp.join("ed25519.der");
    let pem = std::fs::read_to_string(vector_key("ed25519.pem")).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    std::fs::write(&der, waxseal_core::base64::decode(b64.as_bytes()).unwrap()).unwrap();
    let record = |key: &str| {
        let o = waxseal(&["dns", "record", "-k", key, "-d", "example.com", "-s", "ed"]);
        assert_eq!(code(&o), 0, "{key}: {}", stderr(&o));
        stdout(&o)
    };
    let want = record(&vector_key("ed25519.pem"));
    assert!(want.contains("v=DKIM1; k=ed25519; p="), "{want}");
    assert_eq!(record(&vector_key("ed25519.public.pem")), want);
    assert_eq!(record(&der.display().to_string()), want);
    let o = waxseal(&[
        "dns",
        "policy",
        "-d",
        "example.com",
        "--practice",
        "exclusive",
        "--report",
        "dmarc@example.com",
    ]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(
        out.contains("_policy._domainkey.example.com. IN TXT \"o=!; r=dmarc@example.com\""),
        "{out}"
    );
    assert!(out.contains("_dmarc.example.com. IN TXT \"v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc@example.com\""), "{out}");
    assert!(out.contains("Mailing lists"), "{out}");
}

#[test]
fn dns_check_against_a_loopback_dns_server() {
    let t = Tmp::new("check");
    let key = keygen(&t, "good", "rsa");
    let value = record_value(Path::new(&key), "good");
    let other = record_value(Path::new(&vector_key("rsa2048.pem")), "x");
    let testing = value.replace("k=rsa;", "k=rsa; t=y;");
    let dns = Dnsmasq::start(&[
        ("good._domainkey.example.com", split255(&value)),
        ("wrong._domainkey.example.com", split255(&other)),
        ("testing._domainkey.example.com", split255(&testing)),
        (
            "pasted._domainkey.example.com",
            split255(&format!("\"{value}\"")),
        ),
    ]);
    let check = |sel: &str| {
        waxseal(&[
            "dns",
            "check",
            "-d",
            "example.com",
            "-s",
            sel,
            "-k",
            &key,
            "--resolver",
            &dns.addr(),
        ])
    };
    let o = check("good");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("ok: the key matches"), "{}", stdout(&o));
    assert!(stdout(&o).contains("in 2 string(s)"), "{}", stdout(&o));
    let o = check("wrong");
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("problem: the published key is not the public half"),
        "{}",
        stdout(&o)
    );
    let o = check("testing");
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("note: test mode (t=y)"),
        "{}",
        stdout(&o)
    );
    let o = check("missing");
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("no TXT record"), "{}", stdout(&o));
    let o = check("pasted");
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("quote or backslash"), "{}", stdout(&o));
    // a DNS server that does not answer: temporary failure, exit 3
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let o = waxseal(&[
        "dns",
        "check",
        "-d",
        "example.com",
        "-s",
        "good",
        "-k",
        &key,
        "--resolver",
        &closed.to_string(),
        "--dns-timeout",
        "1",
    ]);
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
}
