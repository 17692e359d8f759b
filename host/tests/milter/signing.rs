//! Signing: what the milter negotiates, signatures for trusted senders
//! (RSA and Ed25519, checked by verifying the rebuilt message) message
//! after message, as Postfix and as Sendmail speak, and the pass and no-key
//! decisions.

use super::*;

#[test]
fn negotiation_asks_for_what_waxseal_needs() {
    let m = start("[verify]\nenabled = false\n");
    let mut c = Client::connect(&m);
    let (actions, protocol) = c.negotiate();
    assert_eq!(
        actions,
        action::ADD_HEADERS | action::CHANGE_HEADERS | action::SET_MACRO_LISTS
    );
    for f in [
        flag::HEADER_LEADING_SPACE,
        flag::NR_HEADER,
        flag::NR_CONNECT,
        flag::NR_MAIL,
        flag::NR_BODY,
        flag::NO_RCPT,
    ] {
        assert!(protocol & f != 0, "flag {f:#x}");
    }
    // the reply to end-of-headers accepts a message that needs no body
    assert_eq!(protocol & flag::NR_EOH, 0);

    // an MTA that speaks only version 2 gets a clear refusal: the
    // connection closes
    let mut old = Client::connect(&m);
    let mut d = Vec::new();
    for w in [2u32, 0x3f, 0x7f] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    old.send(b'O', &d);
    let mut buf = [0u8; 1];
    assert_eq!(old.s.read(&mut buf).unwrap(), 0, "closed, no reply");
}

/// An MTA that offers none of the protocol flags (no leading space, a
/// reply to every command): the milter answers each, puts back the space
/// after each colon, and the signatures verify on the fields as the MTA
/// holds them.
#[test]
fn an_mta_that_offers_no_flags_gets_the_same_signatures() {
    // simple header canonicalization: the space after the colon counts
    let m = start(
        "[trust]\nnetworks = []\n[verify]\nenabled = false\n\n[[signing]]\nfrom = \"simple.example.com\"\nkeys = [\"rsa\", \"ed\"]\ncanonicalization = \"simple/simple\"\n",
    );
    let mut c = Client::connect(&m);
    let (_, protocol) = c.negotiate_offer(0);
    assert_eq!(protocol, 0);
    c.connect_from("192.0.2.9");
    let mut fields = signed_fields();
    fields[0].1 = b" Alice <alice@simple.example.com>";
    for qid in ["P1", "P2"] {
        c.mail(Some("alice@example.com"), qid);
        assert_eq!(c.headers(&fields, qid), b'c');
        let replies = c.body(BODY);
        let mut msg = apply_inserts_as(&replies, &wire(&fields), false);
        msg.extend_from_slice(b"\r\n");
        msg.extend_from_slice(BODY);
        assert_two_passes(&msg);
        let text = String::from_utf8_lossy(&msg);
        assert!(text.starts_with("DKIM-Signature: v=1;") && text.contains("c=simple/simple"));
        c.abort();
    }
}

#[test]
fn signs_for_authenticated_senders_message_after_message() {
    let m = start("[trust]\nnetworks = []\n[verify]\nenabled = false\n");
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("192.0.2.9");
    let fields = signed_fields();
    for round in 0..3 {
        let qid = format!("Q{round}");
        c.mail(Some("alice@example.com"), &qid);
        assert_eq!(c.headers(&fields, &qid), b'c');
        let replies = c.body(BODY);
        assert_eq!(replies.last().unwrap().0, b'c');
        assert_eq!(
            replies.iter().filter(|r| r.0 == b'i').count(),
            2,
            "RSA and Ed25519"
        );
        let mut msg = apply_inserts(&replies, &wire(&fields));
        msg.extend_from_slice(b"\r\n");
        msg.extend_from_slice(BODY);
        assert_two_passes(&msg);
        // Postfix sends ABORT after every message, also a delivered one
        c.abort();
    }
    // unauthenticated: accepted at end-of-headers, no body wanted
    c.mail(None, "Q9");
    assert_eq!(c.headers(&fields, "Q9"), b'a');
    c.abort();
    // authenticated, but no key for the From domain: accepted unsigned
    c.mail(Some("bob@other.org"), "Q10");
    let other: Vec<(&str, &[u8])> = vec![("From", b" bob@other.org"), ("Subject", b" hi")];
    assert_eq!(c.headers(&other, "Q10"), b'a');
    c.abort();
    // a second From field is never signed
    c.mail(Some("alice@example.com"), "Q11");
    let two: Vec<(&str, &[u8])> = vec![
        ("From", b" Evil <ceo@evil.example>"),
        ("From", b" alice@example.com"),
        ("Subject", b" hi"),
    ];
    assert_eq!(c.headers(&two, "Q11"), b'a');
    c.abort();
    // aborted in the middle of a body, then a normal message
    c.mail(Some("alice@example.com"), "Q12");
    assert_eq!(c.headers(&fields, "Q12"), b'c');
    c.send(b'B', b"partial body\r\n");
    c.abort();
    c.mail(Some("alice@example.com"), "Q13");
    assert_eq!(c.headers(&fields, "Q13"), b'c');
    let replies = c.body(BODY);
    assert_eq!(replies.iter().filter(|r| r.0 == b'i').count(), 2);
    c.send(b'Q', b"");
}

/// Sendmail's way (8.17): the queue id with MAIL only, no macros with the
/// header stages, no ABORT after a message answered at end-of-headers or
/// after a signed one, 1 MiB packets when offered, QUIT_NC followed by
/// CONNECT under the same negotiation, IPv6 client addresses with their
/// `IPv6:` prefix.
#[test]
fn a_sendmail_session() {
    let mut m = start("[trust]\nnetworks = [\"2001:db8::/32\"]\n[verify]\nenabled = false\n");
    let mut c = Client::connect(&m);
    c.sendmail = true;
    let (_, protocol) = c.negotiate_offer(0x1f_ffff | flag::MDS_1M);
    assert!(protocol & flag::MDS_1M != 0, "1 MiB packets taken");
    c.connect_from("192.0.2.9");
    let fields = signed_fields();
    // signed, with a body chunk of Sendmail's largest size, no ABORT after
    c.mail(Some("alice@example.com"), "S1");
    assert_eq!(c.headers(&fields, "S1"), b'c');
    let mut body = BODY.to_vec();
    body.resize(1024 * 1024 - 1, b'x');
    let replies = c.body(&body);
    let codes: Vec<u8> = replies.iter().map(|r| r.0).collect();
    assert_eq!(codes, vec![b'i', b'i', b'c'], "two signatures");
    // authenticated, no key for the From domain: accepted at end-of-headers
    c.mail(Some("bob@other.org"), "S2");
    let other: Vec<(&str, &[u8])> = vec![("From", b" bob@other.org"), ("Subject", b" hi")];
    assert_eq!(c.headers(&other, "S2"), b'a');
    // the next MAIL, without a login and without an ABORT before it: the
    // last message's login does not carry over, so it is not signed
    c.mail(None, "S3");
    assert_eq!(
        c.headers(&fields, "S3"),
        b'a',
        "unauthenticated: not signed"
    );
    // a new SMTP connection on the same milter connection, from a trusted
    // IPv6 network (Sendmail writes the address with an `IPv6:` prefix)
    c.send(b'K', b"");
    c.connect_from("IPv6:2001:db8::25");
    c.mail(None, "S4");
    assert_eq!(c.headers(&fields, "S4"), b'c');
    let replies = c.body(BODY);
    assert_eq!(replies.iter().filter(|r| r.0 == b'i').count(), 2);
    // a message answered at end-of-headers is over: a stop closes the
    // connection at once, not after the grace period
    c.mail(Some("bob@other.org"), "S5");
    assert_eq!(c.headers(&other, "S5"), b'a');
    m.stop.send(true).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(c.s.read(&mut buf).unwrap(), 0, "closed for the stop");
    m.thread.take().unwrap().join().unwrap();
}

/// QUIT_NC ends the SMTP connection: the next one on the same milter
/// connection does not inherit its macros (here the `{daemon_name}` that
/// made its mail trusted).
#[test]
fn quit_nc_forgets_the_connection_macros() {
    let m = start("[trust]\nnetworks = []\ndaemon_names = [\"MSA\"]\n[verify]\nenabled = false\n");
    let mut c = Client::connect(&m);
    c.negotiate();
    let connect = |c: &mut Client| {
        let mut d = b"client.example\0".to_vec();
        d.push(b'4');
        d.extend_from_slice(&25u16.to_be_bytes());
        d.extend_from_slice(b"198.51.100.7\0");
        c.send(b'C', &d);
    };
    c.macros(b'C', &[("j", "mx.example.net"), ("{daemon_name}", "MSA")]);
    connect(&mut c);
    let fields = signed_fields();
    c.mail(None, "K1");
    assert_eq!(c.headers(&fields, "K1"), b'c', "trusted by its daemon name");
    assert_eq!(c.body(BODY).iter().filter(|r| r.0 == b'i').count(), 2);
    c.abort();
    // the next SMTP connection sends no connection macros at all
    c.send(b'K', b"");
    connect(&mut c);
    c.mail(None, "K2");
    assert_eq!(c.headers(&fields, "K2"), b'a', "not trusted: not signed");
}

#[test]
fn trusted_networks_and_no_key_tempfail() {
    let m = start(
        "[trust]\nnetworks = [\"192.0.2.0/24\"]\n[verify]\nenabled = false\n[actions]\nno_key = \"tempfail\"\n",
    );
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("192.0.2.50");
    c.mail(None, "N1");
    assert_eq!(
        c.headers(&signed_fields(), "N1"),
        b'c',
        "a trusted network signs"
    );
    let replies = c.body(BODY);
    assert_eq!(replies.iter().filter(|r| r.0 == b'i').count(), 2);
    c.abort();
    c.mail(None, "N2");
    let other: Vec<(&str, &[u8])> = vec![("From", b" bob@other.org")];
    let (code, data) = c.headers_reply(&other, "N2");
    assert_eq!(code, b'y');
    assert!(
        data.starts_with(b"451 4.7.0"),
        "{}",
        String::from_utf8_lossy(&data)
    );
}
