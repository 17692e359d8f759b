//! Operations: the annotated example configuration, `--check --dns`,
//! stopping with a message in flight, SIGHUP reloads, a unix socket with its
//! mode, and the import from OpenDKIM.

use super::*;

use std::ffi::OsStr;

/// Runs `waxseal ARGS`, which must succeed; returns its standard output.
fn waxseal_ok<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_waxseal"))
        .args(args)
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn the_annotated_example_config_loads() {
    // the README's steps: keys made by `waxseal keygen -o keys`, next to
    // the annotated configuration, which must find them as they are
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("host/milter/waxseal.toml"),
        dir.path().join("waxseal.toml"),
    )
    .unwrap();
    let keys = dir.path().join("keys");
    for args in [&["-s", "rsa2026"][..], &["-s", "ed2026", "-a", "ed25519"]] {
        let keygen = ["keygen", "-d", "example.com", "--testing"]
            .iter()
            .chain(args);
        waxseal_ok(
            keygen
                .map(OsStr::new)
                .chain([OsStr::new("-o"), keys.as_os_str()]),
        );
    }
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
    let config = dir.path().join("waxseal.toml");
    let check = ["milter", "--check", "--config"].map(OsStr::new);
    let out = waxseal_ok(check.into_iter().chain([config.as_os_str()]));
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
    let check = ["milter", "--check", "--dns", "--config"].map(OsStr::new);
    let out = waxseal_ok(check.into_iter().chain([path.as_os_str()]));
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
    let conf = d.join("opendkim.conf");
    let import = ["milter", "import-opendkim"].map(OsStr::new);
    let toml = waxseal_ok(import.into_iter().chain([conf.as_os_str()]));
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
