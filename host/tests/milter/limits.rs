//! Limits and bad input: the sandbox deadline, header blocks over the
//! limit or over 64 KiB, malformed and oversized packets, a connection
//! dropped mid-message, more messages than the limit; random
//! conversations.

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

/// Panics so far on the runtime threads of the milters this test binary
/// started. A panic there ends one connection's task and the server goes
/// on, so nothing but a hook sees it.
fn worker_panics() -> usize {
    use std::sync::Once;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(WORKER) {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    COUNT.load(Ordering::SeqCst)
}

/// xorshift64: random conversations that replay from their seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// `n` random bytes, none of them NUL (which ends a string field).
    fn text(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() as u8).max(1)).collect()
    }

    /// Fewer than `max` random bytes, none of them NUL.
    fn text_upto(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        self.text(n)
    }
}

/// The packets of one random step of a conversation; `None` for a step
/// that cuts the conversation short (a packet announced longer than sent).
fn random_step(rng: &mut Rng, qid: &str) -> Option<Vec<u8>> {
    const SIGNATURE: &[u8] = b" v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=rsa2026;\n\th=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==";
    let long = vec![b'x'; 70_000];
    let step = match rng.below(16) {
        0 => {
            let daemon = *rng.pick(&[&b"smtpd"[..], b"ORIGINATING", b""]);
            let mut d = vec![b'C'];
            d.extend(strings(&[
                b"j",
                b"mx.example.net",
                b"{daemon_name}",
                daemon,
            ]));
            packet(b'D', &d)
        }
        1 => {
            let login = *rng.pick(&[&b"alice@example.com"[..], b"bob@other.org", b""]);
            let mut d = vec![b'M'];
            d.extend(strings(&[b"i", qid.as_bytes(), b"{auth_authen}", login]));
            packet(b'D', &d)
        }
        2 => {
            let mut d = vec![*rng.pick(b"HRTNLEQ")];
            let (n, v) = (rng.text_upto(8), rng.text_upto(40));
            d.extend(strings(&[&n, &v]));
            packet(b'D', &d)
        }
        3 => {
            let family = *rng.pick(b"46LU");
            let address = *rng.pick(&[
                &b"192.0.2.1"[..],
                b"::1",
                b"IPv6:2001:db8::1",
                b"garbage",
                b"",
            ]);
            let mut d = strings(&[b"client.example"]);
            d.push(family);
            d.extend_from_slice(&25u16.to_be_bytes());
            d.extend(strings(&[address]));
            packet(b'C', &d)
        }
        4 => packet(b'M', &strings(&[b"<sender@example.com>"])),
        5..=7 => {
            let name = *rng.pick(&[
                &b"From"[..],
                b"To",
                b"Subject",
                b"DKIM-Signature",
                b"Authentication-Results",
                b"Sender",
                b"X-Random",
            ]);
            let text = rng.text_upto(300);
            let value = match rng.below(7) {
                0 => b" alice@example.com".to_vec(),
                1 => b" Bob <bob@other.org>".to_vec(),
                2 => b" x@".to_vec(),
                3 => SIGNATURE.to_vec(),
                4 => b" mx.example.net; dkim=pass header.d=example.com".to_vec(),
                5 => long.clone(),
                _ => text,
            };
            let mut p = packet(
                b'D',
                &[&[b'L'][..], &strings(&[b"i", qid.as_bytes()])].concat(),
            );
            p.extend(packet(b'L', &strings(&[name, &value])));
            p
        }
        8 => packet(b'N', b""),
        9 | 10 => {
            let n = *rng.pick(&[0, 1, 100, 65_535, 70_000]);
            packet(b'B', &rng.text(n))
        }
        11 => {
            let n = *rng.pick(&[0, 10]);
            packet(b'E', &rng.text(n))
        }
        12 => packet(b'A', b""),
        13 => match rng.below(5) {
            0 => packet(b'K', b""),
            1 => packet(b'H', &strings(&[b"client.example"])),
            2 => packet(b'R', &strings(&[b"<bob@other.org>"])),
            3 => packet(b'T', b""),
            _ => packet(b'U', &strings(&[b"NOOP"])),
        },
        14 => {
            let code = rng.next() as u8;
            let data = rng.text_upto(50);
            packet(code, &data)
        }
        _ => return None,
    };
    Some(step)
}

/// The steps of a well-formed conversation, as Postfix sends them: the
/// connection, then one to three messages (signed when the sender logs
/// in, verified when not), each ended, aborted or left open.
fn script(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    const SIGNATURE: &[u8] = b" v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=rsa2026;\n\th=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==";
    let mut steps = vec![
        packet(
            b'D',
            &[
                &b"C"[..],
                &strings(&[b"j", b"mx.example.net", b"{daemon_name}", b"smtpd"]),
            ]
            .concat(),
        ),
        packet(
            b'C',
            &[
                &strings(&[b"client.example"])[..],
                b"4\0\x19",
                &strings(&[b"192.0.2.1"]),
            ]
            .concat(),
        ),
    ];
    for k in 0..1 + rng.below(3) {
        let qid = format!("R{n}x{k}");
        let login: &[u8] = if rng.below(2) == 0 {
            b"alice@example.com"
        } else {
            b""
        };
        steps.push(packet(
            b'D',
            &[
                &b"M"[..],
                &strings(&[b"i", qid.as_bytes(), b"{auth_authen}", login]),
            ]
            .concat(),
        ));
        steps.push(packet(b'M', &strings(&[b"<alice@example.com>"])));
        let mut fields: Vec<(&[u8], &[u8])> = vec![
            (b"From", b" Alice <alice@example.com>"),
            (b"Subject", b" hello"),
        ];
        if rng.below(2) == 0 {
            fields.insert(0, (b"DKIM-Signature", SIGNATURE));
        }
        if rng.below(3) == 0 {
            fields.push((b"Authentication-Results", b" mx.example.net; dkim=pass"));
        }
        for (name, value) in fields {
            steps.push(packet(
                b'D',
                &[&b"L"[..], &strings(&[b"i", qid.as_bytes()])].concat(),
            ));
            steps.push(packet(b'L', &strings(&[name, value])));
        }
        steps.push(packet(
            b'D',
            &[&b"N"[..], &strings(&[b"i", qid.as_bytes()])].concat(),
        ));
        steps.push(packet(b'N', b""));
        for _ in 0..rng.below(3) {
            let len = *rng.pick(&[10, 1_000, 65_535]);
            steps.push(packet(b'B', &rng.text(len)));
        }
        match rng.below(4) {
            0 => steps.push(packet(b'A', b"")),
            1 => {}
            _ => {
                steps.push(packet(b'E', b""));
                steps.push(packet(b'A', b""));
            }
        }
    }
    steps
}

/// Replies to a random conversation: packets, signatures and
/// Authentication-Results fields added, and whether the server closed it
/// (end of stream or reset, not the read timeout).
#[derive(Default, Debug)]
struct Seen {
    packets: usize,
    signatures: usize,
    results: usize,
    closed: bool,
}

fn read_replies(mut s: TcpStream) -> Seen {
    use std::io::ErrorKind;
    let mut seen = Seen::default();
    let mut len = [0u8; 4];
    loop {
        let r = s.read_exact(&mut len).and_then(|()| {
            let mut p = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut p).map(|()| p)
        });
        let p = match r {
            Ok(p) => p,
            Err(e) => {
                seen.closed = !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
                return seen;
            }
        };
        seen.packets += 1;
        if p.first() == Some(&b'i') {
            let text = String::from_utf8_lossy(&p);
            seen.signatures += usize::from(text.contains("DKIM-Signature"));
            seen.results += usize::from(text.contains("Authentication-Results"));
        }
    }
}

/// A signed message from an authenticated sender, on its own connection,
/// left open at its body: it holds one of the milter's message slots.
fn hold_a_slot(m: &Milter, qid: &str) -> Client {
    let mut c = Client::connect(m);
    c.negotiate();
    c.connect_from("192.0.2.1");
    c.mail(Some("alice@example.com"), qid);
    assert_eq!(c.headers(&signed_fields(), qid), b'c', "{qid}: a slot");
    c
}

/// Random conversations from a fixed seed: well-formed ones (signed and
/// verified messages, forged results, several messages) with steps
/// dropped, repeated, swapped or replaced by random ones (any command in
/// any state, values of every kind, fields and body chunks over the
/// limits, packets malformed or cut short), the connection closed at any
/// point. No task of the server panics, each connection ends when the
/// client goes (no hang), and no message slot is kept: with a limit of 4,
/// four messages still get one each at the end. The counts show that the
/// signing and verifying paths were reached.
#[test]
fn random_conversations_never_panic_hang_or_keep_a_slot() {
    let panics = worker_panics();
    let rsa = public_record("rsa2048.pem");
    let dns = Dnsmasq::start(&[("rsa2026._domainkey.example.com", split255(&rsa))]);
    let m = start(&format!(
        "[trust]\nnetworks = []\n[verify]\nresolver = \"{}\"\ndns_timeout = 1\n\
         [limits]\nmax_messages = 4\n",
        dns.addr()
    ));
    // one message first: the sandbox is ready before the timed part
    let mut c = hold_a_slot(&m, "FIRST");
    assert_eq!(c.body(BODY).iter().filter(|r| r.0 == b'i').count(), 2);
    drop(c);
    let mut rng = Rng(0x5eed_0f3a_5ea1_ed01);
    let mut total = Seen::default();
    for n in 0..400 {
        let mut c = Client::connect(&m);
        // a server that stops reading makes a write fail, not hang
        c.s.set_write_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        if rng.below(20) > 0 {
            c.negotiate();
        }
        let reader = c.s.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(read_replies(reader));
        });
        let mut steps = script(&mut rng, n);
        // mutations: a random step in (some of them announce a packet
        // longer than what follows, which ends the conversation), a step
        // out, one repeated, two swapped; some conversations stay whole
        for _ in 0..rng.below(6) {
            let at = rng.below(steps.len() + 1);
            match rng.below(5) {
                0 | 1 => match random_step(&mut rng, &format!("R{n}")) {
                    Some(p) => steps.insert(at, p),
                    None => {
                        steps.truncate(at);
                        steps.push(vec![0, 0, 1, 0, b'B', 1, 2, 3]);
                    }
                },
                2 if at < steps.len() => drop(steps.remove(at)),
                3 if at < steps.len() => steps.insert(at, steps[at].clone()),
                4 if at + 1 < steps.len() => steps.swap(at, at + 1),
                _ => {}
            }
        }
        for p in &steps {
            match c.s.write_all(p) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("conversation {n}: the server stopped reading")
                }
                Err(_) => break, // the server closed it (a protocol error)
            }
        }
        let _ = c.s.shutdown(std::net::Shutdown::Write);
        let seen = rx
            .recv_timeout(Duration::from_secs(25))
            .unwrap_or_else(|_| panic!("conversation {n}: no end of the replies"));
        assert!(
            seen.closed,
            "conversation {n}: the server did not close the connection"
        );
        total.packets += seen.packets;
        total.signatures += seen.signatures;
        total.results += seen.results;
    }
    eprintln!("random conversations: {total:?}");
    assert_eq!(worker_panics(), panics, "a task of the server panicked");
    assert!(total.signatures >= 100 && total.results >= 50, "{total:?}");
    // every slot is free: four messages at once get one each, and all
    // four are signed
    let mut held: Vec<Client> = (0..4)
        .map(|i| hold_a_slot(&m, &format!("LAST{i}")))
        .collect();
    for c in &mut held {
        assert_eq!(c.body(BODY).iter().filter(|r| r.0 == b'i').count(), 2);
    }
}
