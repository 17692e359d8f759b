//! Limits and bad input: the sandbox deadline, header blocks over the
//! limit or over 64 KiB, malformed and oversized packets, a connection
//! dropped mid-message, more messages than the limit.

use super::*;

/// A quiet spell longer than the sandbox deadline: the next message gets
/// an instance that waited in the pool all that time and drops the last
/// message's prepared options in it (its timestamp differs), which needs a
/// fresh deadline like every other call (it was a tempfail, "wasm trap:
/// interrupt", for the first message after each pause).
#[test]
fn a_pause_longer_than_the_sandbox_deadline() {
    let m = start(
        "[trust]\nnetworks = []\n[verify]\nenabled = false\n[limits]\nsandbox_deadline = 1\n",
    );
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("192.0.2.9");
    for (i, pause) in [0u64, 1_600].into_iter().enumerate() {
        std::thread::sleep(Duration::from_millis(pause));
        let qid = format!("P{i}");
        c.mail(Some("alice@example.com"), &qid);
        assert_eq!(c.headers(&signed_fields(), &qid), b'c');
        let replies = c.body(BODY);
        let last = replies.last().unwrap();
        assert_eq!(
            (last.0, replies.iter().filter(|r| r.0 == b'i').count()),
            (b'c', 2),
            "message {i}: {}",
            String::from_utf8_lossy(&last.1)
        );
        c.abort();
    }
}

/// With `max_header_bytes` below the signer's own limit, a header block
/// over it is not signed (the fields past the limit were not kept and
/// would be left out of `h=`): the signing_error action, tempfail.
#[test]
fn a_header_block_over_max_header_bytes_is_not_signed() {
    let m = start(
        "[trust]\nnetworks = []\n[verify]\nenabled = false\n[limits]\nmax_header_bytes = 16384\n",
    );
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("192.0.2.1");
    c.mail(Some("alice@example.com"), "H1");
    let long = vec![b'x'; 17_000];
    let mut fields = signed_fields();
    fields.insert(1, ("X-Long", &long));
    let (code, text) = c.headers_reply(&fields, "H1");
    assert_eq!(code, b'y');
    assert!(
        text.starts_with(b"451 4.7.0"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    c.abort();
    // under the limit: signed
    c.mail(Some("alice@example.com"), "H2");
    assert_eq!(c.headers(&signed_fields(), "H2"), b'c');
    assert_eq!(c.body(BODY).iter().filter(|r| r.0 == b'i').count(), 2);
}

#[test]
fn bad_packets_close_the_connection_and_the_server_goes_on() {
    let m = start("[trust]\nnetworks = []\n[verify]\nenabled = false\n");
    // an unknown command
    let mut c = Client::connect(&m);
    c.negotiate();
    c.send(b'Z', b"whatever");
    let mut buf = [0u8; 1];
    assert_eq!(c.s.read(&mut buf).unwrap(), 0);
    // a packet announced far over the limit
    let mut c = Client::connect(&m);
    c.negotiate();
    c.s.write_all(&0x7fff_ffffu32.to_be_bytes()).unwrap();
    assert_eq!(c.s.read(&mut buf).unwrap(), 0);
    // a zero-length packet, a truncated header packet
    let mut c = Client::connect(&m);
    c.negotiate();
    c.s.write_all(&0u32.to_be_bytes()).unwrap();
    assert_eq!(c.s.read(&mut buf).unwrap(), 0);
    let mut c = Client::connect(&m);
    c.negotiate();
    c.send(b'L', b"Subject\0no end");
    assert_eq!(c.s.read(&mut buf).unwrap(), 0);
    // commands before negotiation
    let mut c = Client::connect(&m);
    c.send(b'M', b"<a@example.com>\0");
    assert_eq!(c.s.read(&mut buf).unwrap(), 0);
    // dropped in the middle of a message, many times
    for i in 0..20 {
        let mut c = Client::connect(&m);
        c.negotiate();
        c.connect_from("192.0.2.1");
        c.mail(Some("alice@example.com"), &format!("D{i}"));
        assert_eq!(c.headers(&signed_fields(), "D"), b'c');
        c.send(b'B', b"half a bo");
        drop(c);
    }
    // the next connection is served normally
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("192.0.2.1");
    c.mail(Some("alice@example.com"), "OK");
    assert_eq!(c.headers(&signed_fields(), "OK"), b'c');
    let replies = c.body(BODY);
    assert_eq!(replies.iter().filter(|r| r.0 == b'i').count(), 2);
}

#[test]
fn headers_over_64_kib_and_large_bodies() {
    let m = start("[trust]\nnetworks = []\n[verify]\nenabled = false\n");
    let mut c = Client::connect(&m);
    c.negotiate();
    c.connect_from("192.0.2.1");
    c.mail(Some("alice@example.com"), "B1");
    // one header field of 100 KiB (Postfix's header_size_limit), folded
    let mut long = Vec::new();
    while long.len() < 100 * 1024 {
        long.extend_from_slice(b" word word word word word word word word word word word\n\t");
    }
    long.extend_from_slice(b"end");
    let mut fields = signed_fields();
    fields.push(("X-Long", &long));
    assert_eq!(c.headers(&fields, "B1"), b'c');
    let mut body = Vec::new();
    while body.len() < 3 << 20 {
        body.extend_from_slice(b"a line of the body, with  two spaces and a tab\t\r\n");
    }
    let replies = c.body(&body);
    let mut msg = apply_inserts(&replies, &wire(&fields));
    msg.extend_from_slice(b"\r\n");
    msg.extend_from_slice(&body);
    assert_two_passes(&msg);
}

#[test]
fn more_messages_than_the_limit_get_the_overload_action() {
    let m =
        start("[trust]\nnetworks = []\n[verify]\nenabled = false\n[limits]\nmax_messages = 1\n");
    let mut first = Client::connect(&m);
    first.negotiate();
    first.connect_from("192.0.2.1");
    first.mail(Some("alice@example.com"), "O1");
    assert_eq!(first.headers(&signed_fields(), "O1"), b'c');
    let mut second = Client::connect(&m);
    second.negotiate();
    second.connect_from("192.0.2.2");
    second.mail(Some("alice@example.com"), "O2");
    let (code, text) = second.headers_reply(&signed_fields(), "O2");
    assert_eq!(code, b'y');
    assert!(
        text.starts_with(b"451 4.3.2"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    // the first finishes; then there is room again
    assert_eq!(first.body(BODY).iter().filter(|r| r.0 == b'i').count(), 2);
    first.abort();
    second.abort();
    second.mail(Some("alice@example.com"), "O3");
    assert_eq!(second.headers(&signed_fields(), "O3"), b'c');
    // a connection dropped in the middle of its message gives its place
    // back (the milter sees the close when it next reads)
    drop(second);
    for round in 0..3 {
        let mut c = Client::connect(&m);
        c.negotiate();
        c.connect_from("192.0.2.3");
        let mut got = false;
        for attempt in 0..200 {
            let qid = format!("D{round}-{attempt}");
            c.mail(Some("alice@example.com"), &qid);
            if c.headers(&signed_fields(), &qid) == b'c' {
                got = true;
                break;
            }
            c.abort();
            std::thread::sleep(Duration::from_millis(25));
        }
        assert!(got, "the dropped message's place is free again");
        // dropped in the middle of the body
        c.send(b'B', &BODY[..10]);
        drop(c);
    }
}
