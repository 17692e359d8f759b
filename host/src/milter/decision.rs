//! Sign, verify, or pass: a pure function of the configuration and the
//! SMTP transaction, with the reason, logged once per message.
//!
//! A message is ours, and signed, when its sender is trusted (SASL
//! authentication, a trusted client network, or a `{daemon_name}` the
//! operator marked as a submission service) and its From domain has keys
//! in the signing table. Mail that is not ours is verified (when
//! verification is on) or passed through untouched.
//!
//! Design note: the From field decides the signing domain (DMARC aligns
//! d= with From, RFC 7489 3.1). A message with no From field or several
//! is never signed (RFC 5322 3.6 allows exactly one; RFC 6376 8.15): a
//! second From is how a signed message is made to show another sender.

use std::net::IpAddr;

use super::config::{Config, Rule};

/// The parts of an SMTP transaction the decision looks at.
#[derive(Debug, Clone, Default)]
pub struct Transaction<'a> {
    /// The client's address (None for a unix socket or unknown).
    pub client: Option<IpAddr>,
    /// `{daemon_name}`: which MTA service took the message.
    pub daemon_name: Option<&'a str>,
    /// `{auth_authen}`: the SASL login, when the client authenticated.
    pub login: Option<&'a str>,
    /// The values of the message's From fields, as received.
    pub from: Vec<&'a [u8]>,
}

/// What to do with a message.
#[derive(Debug)]
pub enum Decision<'c> {
    /// Sign with this rule, for mail from this From domain.
    Sign {
        /// The signing-table entry.
        rule: &'c Rule,
        /// The From domain.
        domain: String,
        /// Why the sender is trusted.
        trusted: String,
    },
    /// Verify its signatures.
    Verify,
    /// A trusted sender's message that cannot be signed (the failure
    /// class `no_key`).
    NotSigned(String),
    /// Leave it alone (no body needed).
    Pass(String),
}

/// Why a sender is one of ours, or None.
fn trusted(config: &Config, tx: &Transaction<'_>) -> Option<String> {
    let t = &config.trust;
    if t.authenticated
        && let Some(login) = tx.login.filter(|l| !l.is_empty())
    {
        return Some(format!("authenticated as {login}"));
    }
    if let Some(d) = tx.daemon_name
        && t.daemon_names.iter().any(|n| n == d)
    {
        return Some(format!("daemon {d}"));
    }
    if let Some(ip) = tx.client
        && let Some(net) = t.network_of(ip).filter(|n| !n.excluded)
    {
        return Some(format!("client {ip} in {net}"));
    }
    None
}

/// Decides what to do with a message.
pub fn decide<'c>(config: &'c Config, tx: &Transaction<'_>) -> Decision<'c> {
    let Some(trusted) = trusted(config, tx) else {
        let client = tx
            .client
            .map_or_else(|| "unknown client".to_string(), |c| format!("client {c}"));
        return if config.verify.enabled {
            Decision::Verify
        } else {
            Decision::Pass(format!("not signed: sender not authenticated ({client})"))
        };
    };
    let from = match tx.from.as_slice() {
        [one] => one,
        [] => return Decision::NotSigned("not signed: no From field".into()),
        many => return Decision::NotSigned(format!("not signed: {} From fields", many.len())),
    };
    // RFC 5322 3.6.2 allows several authors in one From: signing for the
    // first would vouch for the others (and slip past the login check)
    let count = waxseal_core::address::address_count(from);
    if count > 1 {
        return Decision::NotSigned(format!("not signed: {count} addresses in the From field"));
    }
    let Some(mailbox) = waxseal_core::address::mailbox(from).or_else(|| idn_mailbox(from)) else {
        return Decision::NotSigned("not signed: no address in the From field".into());
    };
    let Some(rule) = config.rule_for(&mailbox.local, &mailbox.domain) else {
        return Decision::NotSigned(format!(
            "not signed: no key for From domain {}",
            mailbox.domain
        ));
    };
    if config.trust.login_must_match_from
        && let Some(login) = tx.login.filter(|l| !l.is_empty())
    {
        // as the From domain: A-labels, lower-cased
        let login_domain = login.rsplit_once('@').map(|(_, d)| {
            crate::names::domain("login", d).map_or_else(
                |_| d.to_ascii_lowercase(),
                |d| d.as_str().to_ascii_lowercase(),
            )
        });
        if login_domain.as_deref() != Some(mailbox.domain.as_str()) {
            return Decision::NotSigned(format!(
                "not signed: login {login} is not in the From domain {}",
                mailbox.domain
            ));
        }
    }
    Decision::Sign {
        rule,
        domain: mailbox.domain,
        trusted,
    }
}

/// The From address of an internationalized domain (U-labels, RFC 6532),
/// its domain as the A-labels the signing table holds (RFC 8616 3).
fn idn_mailbox(from: &[u8]) -> Option<waxseal_core::address::Mailbox> {
    let (local, domain) = waxseal_core::address::address_as_written(from)?;
    if domain.is_ascii() {
        return None;
    }
    let domain = crate::names::domain("From", &domain).ok()?;
    Some(waxseal_core::address::Mailbox {
        local,
        domain: domain.as_str().to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    /// A config with keys written to a private temporary folder.
    fn config(extra: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rng();
        let key = waxseal_core::PrivateKey::generate_ed25519(&mut rng).unwrap();
        let file = dir.path().join("ed.private");
        std::fs::write(&file, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let text = format!(
            r#"listen = "inet:127.0.0.1:8891"
authserv_id = "mx.example.com"
{extra}
[keys.ed]
domain = "example.com"
selector = "ed2026"
file = "ed.private"

[[signing]]
from = ["example.com", "*.example.com"]
keys = ["ed"]

[[signing]]
from = "boss@example.com"
keys = ["ed"]
expire = 3600
"#
        );
        let path = dir.path().join("waxseal.toml");
        let c = Config::parse(&text, &path).unwrap();
        (dir, c)
    }

    fn tx<'a>(from: &[&'a str]) -> Transaction<'a> {
        Transaction {
            from: from.iter().map(|f| f.as_bytes()).collect(),
            ..Transaction::default()
        }
    }

    fn reason(d: &Decision<'_>) -> String {
        match d {
            Decision::Sign {
                domain, trusted, ..
            } => format!("sign {domain} ({trusted})"),
            Decision::Verify => "verify".into(),
            Decision::NotSigned(r) | Decision::Pass(r) => r.clone(),
        }
    }

    #[test]
    fn authenticated_sender_of_a_signed_domain_is_signed() {
        let (_d, c) = config("");
        let mut t = tx(&[" Alice <alice@example.com>"]);
        t.login = Some("alice@example.com");
        assert_eq!(
            reason(&decide(&c, &t)),
            "sign example.com (authenticated as alice@example.com)"
        );
        // a subdomain through the wildcard
        let mut t = tx(&[" alice@mail.example.com"]);
        t.login = Some("alice");
        assert_eq!(
            reason(&decide(&c, &t)),
            "sign mail.example.com (authenticated as alice)"
        );
    }

    /// RFC 8616 3: a From domain in U-labels (SMTPUTF8 mail) finds the
    /// rule written for it, which the table holds as A-labels.
    #[test]
    fn an_internationalized_from_domain_finds_its_rule() {
        let (_d, c) = config("[[signing]]\nfrom = \"b\u{fc}cher.example\"\nkeys = [\"ed\"]\n");
        let mut t = tx(&[" J\u{f6}rg <j\u{f6}rg@B\u{fc}cher.example>"]);
        t.login = Some("j\u{f6}rg@b\u{fc}cher.example");
        assert_eq!(
            reason(&decide(&c, &t)),
            "sign xn--bcher-kva.example (authenticated as j\u{f6}rg@b\u{fc}cher.example)"
        );
        let (_d, c) = config(
            "[trust]\nlogin_must_match_from = true\n[[signing]]\nfrom = \"b\u{fc}cher.example\"\nkeys = [\"ed\"]\n",
        );
        assert!(matches!(decide(&c, &t), Decision::Sign { .. }));
        t.login = Some("j\u{f6}rg@other.example");
        assert!(reason(&decide(&c, &t)).contains("is not in the From domain"));
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let (_d, c) = config("");
        let mut t = tx(&[" The Boss <Boss@Example.com>"]);
        t.login = Some("boss");
        match decide(&c, &t) {
            Decision::Sign { rule, .. } => assert_eq!(rule.expire, Some(3600)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unauthenticated_mail_is_verified_not_signed() {
        let (_d, c) = config("[trust]\nnetworks = []\n");
        let mut t = tx(&[" alice@example.com"]);
        t.client = Some("192.0.2.7".parse().unwrap());
        assert_eq!(reason(&decide(&c, &t)), "verify");
        let (_d, c) = config("[trust]\nnetworks = []\n[verify]\nenabled = false\n");
        assert_eq!(
            reason(&decide(&c, &t)),
            "not signed: sender not authenticated (client 192.0.2.7)"
        );
    }

    #[test]
    fn trusted_networks_and_daemon_names() {
        let (_d, c) = config(
            "[trust]\nnetworks = [\"10.0.0.0/8\", \"2001:db8::/32\", \"127.0.0.1\"]\ndaemon_names = [\"ORIGINATING\"]\n",
        );
        for ip in ["10.1.2.3", "2001:db8::25", "::ffff:10.0.0.1", "127.0.0.1"] {
            let mut t = tx(&[" a@example.com"]);
            t.client = Some(ip.parse().unwrap());
            assert!(matches!(decide(&c, &t), Decision::Sign { .. }), "{ip}");
        }
        let mut t = tx(&[" a@example.com"]);
        t.client = Some("127.0.0.2".parse().unwrap());
        assert_eq!(reason(&decide(&c, &t)), "verify");
        // mail re-injected by a content filter comes from loopback but
        // through another service: only the submission service's name counts
        t.daemon_name = Some("ORIGINATING");
        assert_eq!(
            reason(&decide(&c, &t)),
            "sign example.com (daemon ORIGINATING)"
        );
        t.daemon_name = Some("mx.example.com");
        assert_eq!(reason(&decide(&c, &t)), "verify");
    }

    #[test]
    fn the_most_specific_network_decides() {
        // OpenDKIM's `InternalHosts 10.0.0.0/8, !10.0.0.99` as imported;
        // IPv4-mapped networks are the IPv4 ones
        let (_d, c) = config(
            "[trust]\nnetworks = [\"10.0.0.0/8\", \"!10.0.0.99\", \"!10.9.0.0/16\", \"10.9.9.0/24\", \"::ffff:192.0.2.0/120\", \"!2001:db8::/32\", \"2001:db8::/32\"]\n",
        );
        let decide_ip = |ip: &str| {
            let mut t = tx(&[" a@example.com"]);
            t.client = Some(ip.parse().unwrap());
            reason(&decide(&c, &t))
        };
        assert_eq!(
            decide_ip("10.0.0.98"),
            "sign example.com (client 10.0.0.98 in 10.0.0.0/8)"
        );
        assert_eq!(decide_ip("10.0.0.99"), "verify");
        assert_eq!(decide_ip("::ffff:10.0.0.99"), "verify");
        assert_eq!(decide_ip("10.9.8.1"), "verify");
        assert_eq!(
            decide_ip("10.9.9.1"),
            "sign example.com (client 10.9.9.1 in 10.9.9.0/24)"
        );
        assert_eq!(
            decide_ip("192.0.2.7"),
            "sign example.com (client 192.0.2.7 in 192.0.2.0/24)"
        );
        assert_eq!(
            decide_ip("::ffff:192.0.2.7"),
            "sign example.com (client ::ffff:192.0.2.7 in 192.0.2.0/24)"
        );
        // the same network both ways: excluded
        assert_eq!(decide_ip("2001:db8::1"), "verify");
    }

    #[test]
    fn fully_qualified_patterns_match() {
        let (_d, c) = config(
            "[[signing]]\nfrom = [\"Other.ORG.\", \"*.sub.example.\", \"bob@third.example.\"]\nkeys = [\"ed\"]\n",
        );
        for from in [" a@other.org", " a@x.sub.example", " bob@third.example."] {
            let mut t = tx(&[from]);
            t.login = Some("alice@example.com");
            assert!(matches!(decide(&c, &t), Decision::Sign { .. }), "{from}");
        }
    }

    #[test]
    fn trusted_but_not_signable() {
        let (_d, c) = config("");
        let ours = |from: &[&'static str]| {
            let mut t = tx(from);
            t.login = Some("alice@example.com");
            reason(&decide(&c, &t))
        };
        assert_eq!(
            ours(&[" bob@other.org"]),
            "not signed: no key for From domain other.org"
        );
        assert_eq!(
            ours(&[" a@example.com", " Evil <ceo@evil.example>"]),
            "not signed: 2 From fields"
        );
        assert_eq!(ours(&[]), "not signed: no From field");
        assert_eq!(
            ours(&[" alice@example.com, ceo@evil.example"]),
            "not signed: 2 addresses in the From field"
        );
        // a quoted display name with a quoted-pair holds no address
        assert_eq!(
            ours(&[" \"\\\" <alice@example.com>\" <ceo@other.org>"]),
            "not signed: no key for From domain other.org"
        );
        assert_eq!(
            ours(&[" undisclosed"]),
            "not signed: no address in the From field"
        );
        // example.com itself is not under *.example.com's ... but has its
        // own rule; a bare parent is no match for a wildcard elsewhere
        assert_eq!(
            ours(&[" a@notexample.com"]),
            "not signed: no key for From domain notexample.com"
        );
    }

    #[test]
    fn login_must_match_from() {
        let (_d, c) = config("[trust]\nlogin_must_match_from = true\n");
        let mut t = tx(&[" alice@example.com"]);
        t.login = Some("mallory@other.org");
        assert_eq!(
            reason(&decide(&c, &t)),
            "not signed: login mallory@other.org is not in the From domain example.com"
        );
        t.login = Some("alice@EXAMPLE.com");
        assert!(matches!(decide(&c, &t), Decision::Sign { .. }));
    }

    #[test]
    fn config_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        let bad = |text: &str| Config::parse(text, &p).err().unwrap().to_string();
        let e = bad(
            "listen = \"inet:127.0.0.1:1\"\n\n[[signing]]\nfrom = \"example.com\"\nkeys = [\"nope\"]\n",
        );
        assert!(
            e.contains("w.toml:3:") && e.contains("no key named `nope`"),
            "{e}"
        );
        let e = bad("listen = \"inet:127.0.0.1:1\"\n[trust]\nnetworks = [\"10.0.0.0/33\"]\n");
        assert!(e.contains("w.toml:3:") && e.contains("10.0.0.0/33"), "{e}");
        let e = bad("listen = \"inet:127.0.0.1:1\"\n\n[limits]\nmax_header_bytes = 1024\n");
        assert!(
            e.contains("w.toml:4:") && e.contains("at least 16384, not 1024"),
            "{e}"
        );
        let e = bad("listen = \"inet:127.0.0.1:1\"\n[verify]\ndns_timeout = 0\n");
        assert!(
            e.contains("w.toml:3:") && e.contains("1 to 300 seconds"),
            "{e}"
        );
        let e = bad("listen = \"inet:127.0.0.1:1\"\n[trust]\nnetworks = [\"!x\"]\n");
        assert!(
            e.contains("w.toml:3:") && e.contains("`!x` is not an address"),
            "{e}"
        );
        let e = bad("listen = \"inet:127.0.0.1:1\"\nunknown = 1\n");
        assert!(e.contains("w.toml:2:"), "{e}");
        let e = bad("listen = \"nowhere\"\n");
        assert!(e.contains("w.toml:1:") && e.contains("inet:IP:PORT"), "{e}");
        let e = bad("listen = \"inet:127.0.0.1:1\"\n[actions]\nno_key = \"maybe\"\n");
        assert!(e.contains("w.toml:3:"), "{e}");
        // a key others can read is refused
        let key = dir.path().join("k.private");
        let mut rng = rand::rng();
        let k = waxseal_core::PrivateKey::generate_ed25519(&mut rng).unwrap();
        std::fs::write(&key, k.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = bad(
                "listen = \"inet:127.0.0.1:1\"\n\n[keys.k]\ndomain = \"example.com\"\nselector = \"s\"\nfile = \"k.private\"\n",
            );
            assert!(
                e.contains("w.toml:3:") && e.contains("mode 0644") && e.contains("chmod 600"),
                "{e}"
            );
            // and so is one another user owns (root can give it away)
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            let conf = "listen = \"inet:127.0.0.1:1\"\n\n[keys.k]\ndomain = \"example.com\"\nselector = \"s\"\nfile = \"k.private\"\n";
            assert!(Config::parse(conf, &p).is_ok());
            // a uid that is not this process's (chown to one's own uid
            // would succeed and change nothing)
            let other = if rustix::process::geteuid().as_raw() == 65534 {
                65533
            } else {
                65534
            };
            match std::os::unix::fs::chown(&key, Some(other), None) {
                Ok(()) => {
                    let e = bad(conf);
                    assert!(
                        e.contains("w.toml:3:") && e.contains(&format!("owned by uid {other}")),
                        "{e}"
                    );
                }
                Err(e) => eprintln!("cannot chown the test key ({e}): that case needs root"),
            }
            // a directory is no key file
            std::fs::create_dir(dir.path().join("d.private")).unwrap();
            let e = bad(&conf.replace("k.private", "d.private"));
            assert!(e.contains("not a regular file"), "{e}");
        }
    }
}
