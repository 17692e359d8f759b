//! Inbound verification against a real DNS server (dnsmasq): results,
//! progress replies while key lookups are slow, forged
//! Authentication-Results fields removed.

use super::*;

/// Key lookups nobody answers: end-of-message waits `dns_timeout` for
/// them, telling the MTA every 4 s that it is still at it (a progress
/// reply: Sendmail waits only 10 s for each reply by default), then the
/// message gets `dkim=temperror` (the DNS-error action, accept).
#[test]
fn slow_key_lookups_get_progress_replies() {
    // a DNS server that never answers
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let m = start(&format!(
        "[trust]\nnetworks = []\n[verify]\nresolver = \"{}\"\ndns_timeout = 5\n",
        silent.local_addr().unwrap()
    ));
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("198.51.100.7");
    c.mail(None, "W1");
    let fields: Vec<(&str, &[u8])> = vec![
        (
            "DKIM-Signature",
            b" v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=slow;\n\th=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==",
        ),
        ("From", b" alice@example.com"),
        ("Subject", b" slow"),
    ];
    assert_eq!(c.headers(&fields, "W1"), b'c', "verified");
    let started = std::time::Instant::now();
    let replies = c.body(BODY);
    let codes: Vec<u8> = replies.iter().map(|r| r.0).collect();
    assert!(started.elapsed() >= Duration::from_secs(4), "{codes:?}");
    assert_eq!(codes.first(), Some(&b'p'), "progress first: {codes:?}");
    assert_eq!(codes.last(), Some(&b'c'), "{codes:?}");
    let field = replies.iter().find(|r| r.0 == b'i').expect("our result");
    let text = String::from_utf8_lossy(&field.1);
    assert!(text.contains("dkim=temperror"), "{text}");
    drop(silent);
}

#[test]
fn verifies_inbound_mail_and_replaces_forged_results() {
    let rsa = public_record("rsa2048.pem");
    let ed = public_record("ed25519.pem");
    let dns = Dnsmasq::start(&[
        ("rsa2026._domainkey.example.com", split255(&rsa)),
        ("ed2026._domainkey.example.com", split255(&ed)),
    ]);
    let m = start(&format!(
        "[trust]\nnetworks = []\n[verify]\nresolver = \"{}\"\ndns_timeout = 3\n",
        dns.addr()
    ));
    // sign a message through the milter first (authenticated), then send
    // it in from outside with a forged Authentication-Results on top
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("198.51.100.7");
    c.mail(Some("alice@example.com"), "S1");
    let fields = signed_fields();
    assert_eq!(c.headers(&fields, "S1"), b'c');
    let replies = c.body(BODY);
    let signed_header = apply_inserts(&replies, &wire(&fields));
    c.abort();

    // the signed fields as header packets again
    let text = String::from_utf8(signed_header.clone()).unwrap();
    let mut inbound: Vec<(String, Vec<u8>)> = vec![
        (
            "Authentication-Results".into(),
            b" mx.example.net; dkim=pass header.d=example.com".to_vec(),
        ),
        (
            "Authentication-Results".into(),
            b" other.example; dkim=fail".to_vec(),
        ),
    ];
    let mut rest = text.as_str();
    while let Some(end) = rest.find("\r\n").map(|mut e| {
        while rest[e + 2..].starts_with([' ', '\t']) {
            e += 2 + rest[e + 2..].find("\r\n").unwrap();
        }
        e
    }) {
        let field = &rest[..end];
        let (n, v) = field.split_once(':').unwrap();
        inbound.push((n.into(), v.replace("\r\n", "\n").into_bytes()));
        rest = &rest[end + 2..];
    }
    let packets: Vec<(&str, &[u8])> = inbound
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    c.mail(None, "V1");
    assert_eq!(c.headers(&packets, "V1"), b'c');
    let replies = c.body(BODY);
    let codes: Vec<u8> = replies.iter().map(|r| r.0).collect();
    assert_eq!(
        codes,
        vec![b'm', b'i', b'c'],
        "delete the forged field, add ours"
    );
    // the forged one is the first A-R field: occurrence 1, emptied
    assert_eq!(&replies[0].1, b"\0\0\0\x01Authentication-Results\0\0");
    let ar = String::from_utf8_lossy(&replies[1].1).into_owned();
    assert!(
        ar.contains("Authentication-Results\0 mx.example.net;"),
        "{ar}"
    );
    assert_eq!(ar.matches("dkim=pass").count(), 2, "{ar}");
    c.abort();

    // a changed body fails, unsigned mail gets dkim=none
    c.mail(None, "V2");
    assert_eq!(c.headers(&packets, "V2"), b'c');
    let replies = c.body(b"Hello Bob,\r\n\r\nthe numbers are out.\r\n");
    let ar = String::from_utf8_lossy(&replies.iter().find(|r| r.0 == b'i').unwrap().1).into_owned();
    assert_eq!(ar.matches("dkim=fail").count(), 2, "{ar}");
    c.abort();
    c.mail(None, "V3");
    let plain: Vec<(&str, &[u8])> = vec![("From", b" x@example.org"), ("Subject", b" hi")];
    assert_eq!(c.headers(&plain, "V3"), b'c');
    let replies = c.body(b"hi\r\n");
    let ar = String::from_utf8_lossy(&replies.iter().find(|r| r.0 == b'i').unwrap().1).into_owned();
    assert!(ar.contains("dkim=none"), "{ar}");
    c.abort();
    // a header block the verifier cannot read (a field name with a space,
    // which Postfix does not pass but another MTA might): delivered
    // without a result, and still without the forged field
    c.mail(None, "V4");
    let bad: Vec<(&str, &[u8])> = vec![
        (
            "Authentication-Results",
            b" mx.example.net; dkim=pass header.d=example.com",
        ),
        ("Bad Name", b" x"),
        ("From", b" x@example.org"),
    ];
    assert_eq!(c.headers(&bad, "V4"), b'c', "continue: a field to remove");
    let replies = c.body(b"hi\r\n");
    let codes: Vec<u8> = replies.iter().map(|r| r.0).collect();
    assert_eq!(codes, vec![b'm', b'c']);
    assert_eq!(&replies[0].1, b"\0\0\0\x01Authentication-Results\0\0");
    drop(dns);
}

/// RFC 8601 5: fields claiming our authserv-id go, also from mail that is
/// neither signed nor verified (then the milter asks for end-of-message,
/// where header changes are allowed), whether the id is a token, a quoted
/// string, or follows a comment with a quoted-pair; other fields stay,
/// and mail without such fields is accepted at end-of-headers.
#[test]
fn forged_results_go_from_mail_that_is_only_let_through() {
    let m = start("[trust]\nnetworks = []\n[verify]\nenabled = false\n");
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("198.51.100.7");
    let forged: Vec<(&str, &[u8])> = vec![
        (
            "Authentication-Results",
            b" \"mx.example.net\"; dkim=pass header.d=bank.example",
        ),
        ("Authentication-Results", b" other.example; dkim=fail"),
        (
            "Authentication-Results",
            b" (\\() MX.example.net; dkim=pass",
        ),
        ("From", b" x@example.org"),
        ("Subject", b" hi"),
    ];
    c.mail(None, "F1");
    assert_eq!(
        c.headers(&forged, "F1"),
        b'c',
        "continue: forged fields to remove"
    );
    let replies = c.body(b"hi\r\n");
    let codes: Vec<u8> = replies.iter().map(|r| r.0).collect();
    assert_eq!(codes, vec![b'm', b'm', b'c']);
    // the third A-R field first, then the first: the indexes hold
    assert_eq!(&replies[0].1, b"\0\0\0\x03Authentication-Results\0\0");
    assert_eq!(&replies[1].1, b"\0\0\0\x01Authentication-Results\0\0");
    c.abort();
    c.mail(None, "F2");
    assert_eq!(
        c.headers(&forged[1..2], "F2"),
        b'a',
        "nothing to remove: accepted"
    );
}

/// Up to 100 forged fields are removed; a message with more is refused at
/// end-of-headers (Postfix would pay O(n²) for the removals and give up
/// past 10,000), whether it would be signed or only let through.
#[test]
fn too_many_forged_results_are_refused() {
    let m = start("[trust]\nnetworks = [\"192.0.2.0/24\"]\n[verify]\nenabled = false\n");
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("198.51.100.7");
    let fields = |n: usize| {
        let mut f: Vec<(&str, &[u8])> = vec![
            (
                "Authentication-Results",
                b" mx.example.net; dkim=pass header.d=bank.example",
            );
            n
        ];
        f.push(("Authentication-Results", b" other.example; dkim=fail"));
        f.extend(signed_fields());
        f
    };
    c.mail(None, "T1");
    assert_eq!(c.headers(&fields(100), "T1"), b'c');
    let replies = c.body(BODY);
    assert_eq!(replies.iter().filter(|r| r.0 == b'm').count(), 100);
    assert_eq!(replies.last().unwrap().0, b'c');
    c.abort();
    for (qid, login) in [("T2", None), ("T3", Some("alice@example.com"))] {
        c.mail(login, qid);
        let (code, text) = c.headers_reply(&fields(101), qid);
        assert_eq!(code, b'y', "{qid}");
        assert_eq!(
            text,
            b"550 5.7.1 too many Authentication-Results fields claiming this host\0"
        );
        c.abort();
    }
    // the connection goes on: trusted mail is signed
    let mut t = Client::connect(&m);
    t.negotiate();
    t.connect_from("192.0.2.9");
    t.mail(None, "T4");
    assert_eq!(t.headers(&signed_fields(), "T4"), b'c');
    assert_eq!(t.body(BODY).iter().filter(|r| r.0 == b'i').count(), 2);
}
