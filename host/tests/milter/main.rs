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
//! Rooms: the server and the client here, then one module per concept:
//! `signing`, `inbound` (verification), `limits` (bad input and limits)
//! and `operations` (configuration, reloads, stopping, sockets, import).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod inbound;
mod limits;
mod operations;
mod signing;

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

/// The name of the milters' runtime threads (where a panic would end a
/// connection's task and nothing else).
const WORKER: &str = "milter-test-worker";

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
            .thread_name(WORKER)
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
        self.s.write_all(&packet(code, data)).unwrap();
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
            d.extend(strings(&[n.as_bytes(), v.as_bytes()]));
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

/// One packet: length, command, data.
fn packet(code: u8, data: &[u8]) -> Vec<u8> {
    let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    p.push(code);
    p.extend_from_slice(data);
    p
}

/// String pairs, each NUL-terminated (macros, CONNECT, MAIL).
fn strings(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = Vec::new();
    for p in parts {
        d.extend_from_slice(p);
        d.push(0);
    }
    d
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
