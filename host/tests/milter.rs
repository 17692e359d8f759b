//! The milter server, driven by a raw-frame client that speaks as Postfix
//! does (version 6, macros at each stage, headers with their leading
//! space, folded lines joined by LF): signing for trusted senders (RSA and
//! Ed25519, checked by verifying the rebuilt message), pass and no-key
//! decisions, several messages per connection, abort, inbound verification
//! against a real DNS server (dnsmasq) with forged Authentication-Results
//! removed, malformed and oversized packets, a connection dropped in the
//! middle of a message, a SIGHUP that changes the message limit; the annotated
//! example configuration loads.
//!
//! Module map: the server and the client first, then one test per
//! behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{Dnsmasq, split255};
use waxseal::milter::{Config, server};
use waxseal_core::{KeyAnswer, KeyRecord, PrivateKey, VerifyPolicy};
use waxseal_milter_proto::{action, flag};

// ---------------------------------------------------------------- server

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Milter {
    port: u16,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Holds `waxseal.toml` and the keys.
    dir: tempfile::TempDir,
}

impl Drop for Milter {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Copies a test key into `dir` with mode 0600.
fn install_key(dir: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let to = dir.join(name);
    std::fs::copy(
        repo().join("signer-core/tests/vectors/keys").join(name),
        &to,
    )
    .unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    to
}

fn public_record(name: &str) -> String {
    let pem = std::fs::read(repo().join("signer-core/tests/vectors/keys").join(name)).unwrap();
    KeyRecord::new(&PrivateKey::parse(&pem).unwrap().public_key()).to_txt()
}

/// Starts a milter with the two test keys for example.com and `extra`
/// settings appended.
fn start(extra: &str) -> Milter {
    let dir = tempfile::tempdir().unwrap();
    install_key(dir.path(), "rsa2048.pem");
    install_key(dir.path(), "ed25519.pem");
    let port = free_port();
    let text = format!(
        r#"listen = "inet:127.0.0.1:{port}"
authserv_id = "mx.example.net"
{extra}
[keys.rsa]
domain = "example.com"
selector = "rsa2026"
file = "rsa2048.pem"

[keys.ed]
domain = "example.com"
selector = "ed2026"
file = "ed25519.pem"

[[signing]]
from = ["example.com", "*.example.com"]
keys = ["rsa", "ed"]
"#
    );
    let path = dir.path().join("waxseal.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load(&path).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(server::serve(config, path, Some(rx))).unwrap();
    });
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Milter {
        port,
        stop: tx,
        thread: Some(thread),
        dir,
    }
}

// ---------------------------------------------------------------- client

/// A milter client that speaks like Postfix.
struct Client {
    s: TcpStream,
    protocol: u32,
    /// Speaks as Sendmail does: no macros with the header stages (the
    /// queue id comes with MAIL only), body chunks as large as negotiated.
    sendmail: bool,
}

impl Client {
    fn connect(m: &Milter) -> Self {
        let s = TcpStream::connect(("127.0.0.1", m.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            s,
            protocol: 0,
            sendmail: false,
        }
    }

    fn send(&mut self, code: u8, data: &[u8]) {
        let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        p.push(code);
        p.extend_from_slice(data);
        self.s.write_all(&p).unwrap();
    }

    fn recv(&mut self) -> (u8, Vec<u8>) {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).unwrap();
        let mut p = vec![0u8; u32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut p).unwrap();
        (p[0], p[1..].to_vec())
    }

    /// Postfix's offer: version 6, every action and protocol flag.
    fn negotiate(&mut self) -> (u32, u32) {
        self.negotiate_offer(0x1f_ffff)
    }

    /// Version 6, every action, and the protocol flags `offer`.
    fn negotiate_offer(&mut self, offer: u32) -> (u32, u32) {
        let mut d = Vec::new();
        for w in [6u32, 0x1ff, offer] {
            d.extend_from_slice(&w.to_be_bytes());
        }
        self.send(b'O', &d);
        let (code, data) = self.recv();
        assert_eq!(code, b'O');
        let word = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
        assert_eq!(word(0), 6);
        self.protocol = word(8);
        // the macro lists follow: MAIL asks for the SASL login
        assert!(String::from_utf8_lossy(&data[12..]).contains("{auth_authen}"));
        (word(4), word(8))
    }

    fn macros(&mut self, stage: u8, pairs: &[(&str, &str)]) {
        let mut d = vec![stage];
        for (n, v) in pairs {
            d.extend_from_slice(n.as_bytes());
            d.push(0);
            d.extend_from_slice(v.as_bytes());
            d.push(0);
        }
        self.send(b'D', &d);
    }

    fn connect_from(&mut self, ip: &str) {
        self.macros(b'C', &[("j", "mx.example.net"), ("{daemon_name}", "smtpd")]);
        let mut d = b"client.example\0".to_vec();
        d.push(if ip.contains(':') { b'6' } else { b'4' });
        d.extend_from_slice(&25u16.to_be_bytes());
        d.extend_from_slice(ip.as_bytes());
        d.push(0);
        self.send(b'C', &d);
        // no reply where NR_CONNECT was negotiated
        if self.protocol & flag::NR_CONNECT == 0 {
            assert_eq!(self.recv().0, b'c');
        }
    }

    fn mail(&mut self, login: Option<&str>, qid: &str) {
        let mut pairs = vec![("i", qid)];
        if let Some(l) = login {
            pairs.push(("{auth_authen}", l));
            pairs.push(("{auth_type}", "PLAIN"));
        }
        self.macros(b'M', &pairs);
        self.send(b'M', b"<sender@example.com>\0");
        if self.protocol & flag::NR_MAIL == 0 {
            assert_eq!(self.recv().0, b'c');
        }
    }

    /// Sends the header fields (values as Postfix sends them with
    /// HDR_LEADSPC: everything after the colon, folded lines joined by LF)
    /// and end-of-headers; returns the reply to it.
    fn headers(&mut self, fields: &[(&str, &[u8])], qid: &str) -> u8 {
        self.headers_reply(fields, qid).0
    }

    fn headers_reply(&mut self, fields: &[(&str, &[u8])], qid: &str) -> (u8, Vec<u8>) {
        for (name, value) in fields {
            if !self.sendmail {
                self.macros(b'L', &[("i", qid)]);
            }
            let mut d = name.as_bytes().to_vec();
            d.push(0);
            // without HDR_LEADSPC the MTA drops the space after the colon
            let value = match value.strip_prefix(b" ") {
                Some(v) if self.protocol & flag::HEADER_LEADING_SPACE == 0 => v,
                _ => value,
            };
            d.extend_from_slice(value);
            d.push(0);
            self.send(b'L', &d);
            if self.protocol & flag::NR_HEADER == 0 {
                assert_eq!(self.recv().0, b'c');
            }
        }
        if !self.sendmail {
            self.macros(b'N', &[("i", qid)]);
        }
        self.send(b'N', b"");
        self.recv()
    }

    /// Sends the body in chunks of at most 65535 bytes (Sendmail: up to
    /// 1 MiB - 1 when that was negotiated) and end-of-message; returns the
    /// replies to end-of-message.
    fn body(&mut self, body: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let chunk = if self.sendmail && self.protocol & flag::MDS_1M != 0 {
            1024 * 1024 - 1
        } else {
            65_535
        };
        for chunk in body.chunks(chunk) {
            self.send(b'B', chunk);
            if self.protocol & flag::NR_BODY == 0 {
                assert_eq!(self.recv().0, b'c');
            }
        }
        self.send(b'E', b"");
        let mut out = Vec::new();
        loop {
            let r = self.recv();
            let last = matches!(r.0, b'c' | b'a' | b't' | b'r' | b'y' | b'd');
            out.push(r);
            if last {
                return out;
            }
        }
    }

    fn abort(&mut self) {
        self.send(b'A', b"");
    }
}

/// The header fields as they are on the wire (`value` after the colon,
/// LF folds made CRLF).
fn wire(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        out.extend_from_slice(n.as_bytes());
        out.push(b':');
        for &b in v.iter() {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Applies INSHEADER replies (all at index 1: just below Postfix's own
/// Received, above every field the milter saw) to `header`.
fn apply_inserts(replies: &[(u8, Vec<u8>)], header: &[u8]) -> Vec<u8> {
    apply_inserts_as(replies, header, true)
}

/// [`apply_inserts`] by an MTA that negotiated HDR_LEADSPC or not (then it
/// writes a space after the colon itself).
fn apply_inserts_as(replies: &[(u8, Vec<u8>)], header: &[u8], leading_space: bool) -> Vec<u8> {
    let mut inserted: Vec<Vec<u8>> = Vec::new();
    for (code, data) in replies {
        if *code != b'i' {
            continue;
        }
        assert_eq!(&data[..4], &1u32.to_be_bytes());
        let rest = &data[4..];
        let nul = rest.iter().position(|&b| b == 0).unwrap();
        let (name, value) = (&rest[..nul], &rest[nul + 1..rest.len() - 1]);
        assert!(!value.contains(&b'\r'), "no CR in header values");
        let spaced = [b" ", value].concat();
        let value = if leading_space { value } else { &spaced[..] };
        let field = wire(&[(std::str::from_utf8(name).unwrap(), value)]);
        // each insert at index 1 goes above the ones before it
        inserted.insert(0, field);
    }
    let mut out = inserted.concat();
    out.extend_from_slice(header);
    out
}

fn record_lookup(name: &str) -> KeyAnswer {
    match name {
        "rsa2026._domainkey.example.com" => KeyAnswer::record(public_record("rsa2048.pem")),
        "ed2026._domainkey.example.com" => KeyAnswer::record(public_record("ed25519.pem")),
        _ => KeyAnswer::NxDomain,
    }
}

const BODY: &[u8] = b"Hello Bob,\r\n\r\nthe numbers are in.  \r\n\r\n\r\n";

/// Verifies `msg` against the two test keys: both signatures (RSA and
/// Ed25519) must pass.
fn assert_two_passes(msg: &[u8]) {
    let r = waxseal_core::verify(msg, &VerifyPolicy::default(), None, &mut record_lookup).unwrap();
    let summary: Vec<String> = r.results.iter().map(|x| x.to_string()).collect();
    assert_eq!(r.results.len(), 2, "{summary:?}");
    assert!(
        r.results
            .iter()
            .all(|x| x.result == waxseal_core::DkimResult::Pass),
        "{summary:?}\n{}",
        String::from_utf8_lossy(msg)
    );
}

fn signed_fields() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("From", b" Alice <alice@example.com>"),
        ("To", b" Bob <bob@other.org>"),
        // 8-bit bytes stay bytes
        (
            "Subject",
            b" Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln,\n\tfolded",
        ),
        ("Date", b" Thu, 03 Dec 2026 08:00:00 +0000"),
        ("Message-ID", b" <1@example.com>"),
    ]
}

// ---------------------------------------------------------------- tests

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
fn the_annotated_example_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("host/milter/waxseal.toml"),
        dir.path().join("waxseal.toml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    install_key(&dir.path().join("keys"), "rsa2048.pem");
    install_key(&dir.path().join("keys"), "ed25519.pem");
    std::fs::rename(
        dir.path().join("keys/rsa2048.pem"),
        dir.path().join("keys/rsa2026.private"),
    )
    .unwrap();
    std::fs::rename(
        dir.path().join("keys/ed25519.pem"),
        dir.path().join("keys/ed2026.private"),
    )
    .unwrap();
    let c = Config::load(&dir.path().join("waxseal.toml")).unwrap();
    assert_eq!(c.keys.len(), 2);
    assert_eq!(c.rules.len(), 2);
    assert_eq!(
        c.rule_for("newsletter", "example.com").unwrap().expire,
        Some(604_800)
    );
    assert_eq!(
        c.rule_for("alice", "sub.example.com").unwrap().keys.len(),
        2
    );
    assert!(c.rule_for("alice", "other.org").is_none());
    // and --check prints what it would do
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_waxseal"))
        .args(["milter", "--check", "--config"])
        .arg(dir.path().join("waxseal.toml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("mail from example.com, *.example.com is signed with rsa2026 + ed2026"),
        "{out}"
    );
}

/// `--check --dns` warns of the DMARC policy that covers each From domain
/// of the signing table: the domain's own `p=`, the `sp=` of the domain a
/// `*.domain` entry names, and for a subdomain without a record of its
/// own, its parent's `sp=` (RFC 7489 6.6.3).
#[test]
fn check_dns_reads_the_dmarc_policy_of_each_from_domain() {
    let dns = Dnsmasq::start(&[
        (
            "rsa2026._domainkey.example.com",
            split255(&public_record("rsa2048.pem")),
        ),
        (
            "ed2026._domainkey.example.com",
            split255(&public_record("ed25519.pem")),
        ),
        (
            "_dmarc.example.com",
            vec!["v=DMARC1; p=none; sp=reject".into()],
        ),
        (
            "_dmarc.news.example.com",
            vec!["v=DMARC1; p=quarantine".into()],
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    install_key(dir.path(), "rsa2048.pem");
    install_key(dir.path(), "ed25519.pem");
    let path = dir.path().join("waxseal.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"inet:127.0.0.1:1\"\n[verify]\nresolver = \"{}\"\ndns_timeout = 3\n\
[keys.rsa]\ndomain = \"example.com\"\nselector = \"rsa2026\"\nfile = \"rsa2048.pem\"\n\
[keys.ed]\ndomain = \"example.com\"\nselector = \"ed2026\"\nfile = \"ed25519.pem\"\n\
[[signing]]\nfrom = [\"example.com\", \"*.example.com\", \"shop.example.com\", \"news.example.com\"]\nkeys = [\"rsa\", \"ed\"]\n",
            dns.addr()
        ),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_waxseal"))
        .args(["milter", "--check", "--dns", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cautions: Vec<&str> = out.lines().filter(|l| l.contains("caution:")).collect();
    assert_eq!(cautions.len(), 2, "{out}");
    assert!(
        cautions[0].contains("_dmarc.example.com says sp=reject for *.example.com"),
        "{out}"
    );
    assert!(
        cautions[1].contains("_dmarc.example.com says sp=reject for shop.example.com"),
        "{out}"
    );
    drop(dns);
}

#[test]
fn stopping_finishes_the_message_in_flight() {
    let mut m = start("[trust]\nnetworks = []\n[verify]\nenabled = false\n");
    let mut busy = Client::connect(&m);
    busy.negotiate();
    busy.connect_from("192.0.2.1");
    busy.mail(Some("alice@example.com"), "T1");
    assert_eq!(busy.headers(&signed_fields(), "T1"), b'c');
    // an idle connection (between messages) closes at once
    let mut idle = Client::connect(&m);
    idle.negotiate();
    // SIGTERM's path: the server stops accepting
    m.stop.send(true).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(idle.s.read(&mut buf).unwrap(), 0, "idle connection closed");
    // the message in flight is finished and signed, then the connection ends
    let replies = busy.body(BODY);
    assert_eq!(replies.iter().filter(|r| r.0 == b'i').count(), 2);
    busy.abort();
    assert_eq!(
        busy.s.read(&mut buf).unwrap(),
        0,
        "closed after its message"
    );
    m.thread.take().unwrap().join().unwrap();
    assert!(
        TcpStream::connect(("127.0.0.1", m.port)).is_err(),
        "no longer listening"
    );
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

#[test]
fn sighup_applies_a_new_message_limit() {
    let m =
        start("[trust]\nnetworks = []\n[verify]\nenabled = false\n[limits]\nmax_messages = 1\n");
    // a message from its own connection, up to the reply to end-of-headers
    let begin = |n: u8| {
        let mut c = Client::connect(&m);
        c.negotiate();
        c.connect_from(&format!("192.0.2.{n}"));
        let qid = format!("H{n}");
        c.mail(Some("alice@example.com"), &qid);
        let reply = c.headers_reply(&signed_fields(), &qid);
        (c, reply)
    };
    // one message in progress holds the only place
    let (mut first, (code, _)) = begin(1);
    assert_eq!(code, b'c');
    let path = m.dir.path().join("waxseal.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("max_messages = 1", "max_messages = 2")).unwrap();
    // the real signal: every milter of this test process reloads its own
    // configuration (the server above has its handler: it has answered)
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // the reload is asynchronous: a second message gets in once it is done
    let mut second = None;
    for attempt in 0.. {
        let (c, (code, _)) = begin(2);
        if code == b'c' {
            second = Some(c);
            break;
        }
        assert_eq!(code, b'y', "tempfail until the reload");
        assert!(attempt < 200, "max_messages = 2 not applied after SIGHUP");
        std::thread::sleep(Duration::from_millis(25));
    }
    // the first message counts against the old limit: two more fit in the
    // new one, and not a third
    let (mut third, (code, _)) = begin(3);
    assert_eq!(code, b'c');
    let (_fourth, (code, text)) = begin(4);
    assert_eq!(code, b'y', "{}", String::from_utf8_lossy(&text));
    assert!(text.starts_with(b"451 4.3.2"));
    // every message in progress finishes, signed
    for c in [&mut first, second.as_mut().unwrap(), &mut third] {
        assert_eq!(c.body(BODY).iter().filter(|r| r.0 == b'i').count(), 2);
    }
}

/// A SIGHUP while the milter starts (a reload racing the start, say from
/// logrotate) is a reload, not the end of the process: the command, with
/// an empty compilation cache, so that building the sandbox takes a while.
#[test]
fn sighup_while_starting_is_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    install_key(dir.path(), "ed25519.pem");
    let port = free_port();
    let path = dir.path().join("w.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"inet:127.0.0.1:{port}\"\n[keys.ed]\ndomain = \"example.com\"\nselector = \"ed\"\nfile = \"ed25519.pem\"\n[[signing]]\nfrom = \"example.com\"\nkeys = [\"ed\"]\n"
        ),
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_waxseal"))
        .args(["milter", "--config"])
        .arg(&path)
        .env("HOME", &cache)
        .env("XDG_CACHE_HOME", &cache)
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    std::thread::sleep(Duration::from_millis(300));
    signal("-HUP");
    // (the port answers before the sandbox is built: the log says when
    // the reload is done)
    let log = || std::fs::read_to_string(dir.path().join("log")).unwrap();
    for _ in 0..2400 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the milter ended on SIGHUP while starting: {status}\n{}",
                log()
            );
        }
        if log().contains("reloaded: 1 keys") {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(log().contains("reloaded: 1 keys"), "{}", log());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    signal("-TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn unix_socket_with_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    install_key(dir.path(), "ed25519.pem");
    let sock = dir.path().join("milter.sock");
    let text = format!(
        "listen = \"unix:{}\"\nsocket_mode = \"0660\"\nsocket_owner = \"root:root\"\n[verify]\nenabled = false\n[keys.ed]\ndomain = \"example.com\"\nselector = \"ed\"\nfile = \"ed25519.pem\"\n[[signing]]\nfrom = \"example.com\"\nkeys = [\"ed\"]\n",
        sock.display()
    );
    let path = dir.path().join("w.toml");
    std::fs::write(&path, text).unwrap();
    // a stale socket file from a crashed run is replaced
    std::fs::write(&sock, b"").unwrap();
    let config = Config::load(&path).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let t = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(server::serve(config, path, Some(rx))).unwrap();
    });
    let mut s = None;
    for _ in 0..200 {
        if let Ok(c) = std::os::unix::net::UnixStream::connect(&sock) {
            s = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let mut s = s.expect("the unix socket answers");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let mut d = vec![0, 0, 0, 13, b'O'];
    for w in [6u32, 0x1ff, 0x1f_ffff] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    s.write_all(&d).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut p = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut p).unwrap();
    assert_eq!(p[0], b'O');
    tx.send(true).unwrap();
    drop(s);
    t.join().unwrap();
    assert!(!sock.exists(), "the socket file is removed at the end");
}

#[test]
fn import_opendkim_converts_a_typical_setup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("opendkim.conf"),
        format!(
            "# a Debian-style opendkim.conf\nSyslog yes\nUMask 007\nSocket inet:8891@localhost\nMode sv\n\
Canonicalization relaxed/simple\nKeyTable refile:{0}/key.table\nSigningTable refile:{0}/signing.table\n\
InternalHosts {0}/trusted.hosts\nOversignHeaders From\nSignHeaders *,+X-Mailer,-List-Help\nPeerList 127.0.0.1\n\
On-DNSError tempfail\nOn-BadSignature reject\nMTA ORIGINATING\nUserID opendkim\n",
            d.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("key.table"),
        "mail._domainkey.example.com example.com:mail:/etc/opendkim/keys/example.com/mail.private\n",
    )
    .unwrap();
    std::fs::write(
        d.join("signing.table"),
        "*@example.com mail._domainkey.example.com\n*@*.example.com mail._domainkey.example.com\n\
news@example.com mail._domainkey.example.com\n*@example.com mail._domainkey.example.com\n",
    )
    .unwrap();
    std::fs::write(
        d.join("trusted.hosts"),
        "127.0.0.1\n::1\nlocalhost\n10.0.0.0/8\n!10.0.0.99\nmail.example.com\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_waxseal"))
        .args(["milter", "import-opendkim"])
        .arg(d.join("opendkim.conf"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let toml = String::from_utf8(o.stdout).unwrap();
    for want in [
        "listen = \"inet:127.0.0.1:8891\"",
        "socket_mode = \"0770\"",
        "networks = [\"127.0.0.1\", \"::1\", \"127.0.0.1/32\", \"::1/128\", \"10.0.0.0/8\", \"!10.0.0.99\"]",
        "daemon_names = [\"ORIGINATING\"]",
        "dns_error = \"tempfail\"",
        "[keys.\"mail._domainkey.example.com\"]",
        "file = \"/etc/opendkim/keys/example.com/mail.private\"",
        "from = [\"example.com\"]",
        "from = [\"*.example.com\"]",
        "canonicalization = \"relaxed/simple\"",
        "oversign = [\"From\"]",
        "#   InternalHosts mail.example.com: host names are not matched",
        "#   On-BadSignature reject:",
        "#   UserID opendkim:",
        // OpenDKIM's first match: the later lines were never used
        "#   SigningTable news@example.com mail._domainkey.example.com: never used by OpenDKIM (the earlier pattern example.com",
        "#   SigningTable *@example.com mail._domainkey.example.com: never used",
        // settings without an equivalent are listed, not dropped
        "#   PeerList 127.0.0.1 (line 12): no waxseal equivalent",
        "#   Syslog yes (line 2): no waxseal equivalent",
    ] {
        assert!(toml.contains(want), "missing `{want}` in:\n{toml}");
    }
    // with the key in place, the converted file loads
    let keyfile = d.join("mail.private");
    install_key(d, "rsa2048.pem");
    std::fs::rename(d.join("rsa2048.pem"), &keyfile).unwrap();
    let toml = toml.replace(
        "/etc/opendkim/keys/example.com/mail.private",
        keyfile.to_str().unwrap(),
    );
    // `*,+X-Mailer,-List-Help`: the default list changed
    let headers = toml.lines().find(|l| l.starts_with("headers = ")).unwrap();
    assert!(
        headers.contains("\"x-mailer\"") || headers.contains("\"X-Mailer\""),
        "{headers}"
    );
    assert!(
        headers.contains("\"subject\"") && !headers.contains("list-help"),
        "{headers}"
    );
    assert!(
        !headers.contains('*') && !headers.contains('+'),
        "{headers}"
    );
    std::fs::write(d.join("waxseal.toml"), toml).unwrap();
    let c = Config::load(&d.join("waxseal.toml")).unwrap();
    assert_eq!(c.rules.len(), 2);
    let excluded = |ip: &str| c.trust.network_of(ip.parse().unwrap()).map(|n| n.excluded);
    assert_eq!(excluded("10.0.0.98"), Some(false));
    assert_eq!(excluded("10.0.0.99"), Some(true));
}
