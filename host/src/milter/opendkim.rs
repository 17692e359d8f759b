//! `waxseal milter import-opendkim opendkim.conf`: prints the equivalent
//! waxseal configuration, for operators moving from OpenDKIM. What has no
//! equivalent is kept as a comment that says so, never dropped silently.
//!
//! Read: Socket, UMask, Mode, AuthservID, Domain/Selector/KeyFile (single
//! key), KeyTable, SigningTable (`file:` and `refile:`), MultipleSignatures,
//! SubDomains, InternalHosts (`!` exclusions kept), MTA, Canonicalization,
//! SignHeaders (`*` with `+`/`-` changes too), OversignHeaders,
//! MinimumKeyBits, and the On-* actions; every other setting is listed as
//! not converted.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One `Name value` setting of opendkim.conf, names case-insensitive.
struct Conf {
    dir: PathBuf,
    settings: Vec<(String, String, usize)>,
    /// The names looked up (lower case): the others are listed as not
    /// converted.
    read: RefCell<BTreeSet<String>>,
}

impl Conf {
    fn get(&self, name: &str) -> Option<&str> {
        self.read.borrow_mut().insert(name.to_ascii_lowercase());
        self.settings
            .iter()
            .rev()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v, _)| v.as_str())
    }

    /// A data set (`file:`, `refile:`, `csl:`, a bare path, or a comma
    /// list): its entries (lines of a file, comments and blanks dropped).
    fn dataset(&self, value: &str) -> Result<Vec<String>> {
        let (kind, rest) = match value.split_once(':') {
            Some((k, r)) if ["file", "refile", "csl"].contains(&k) => (k, r),
            _ if value.starts_with('/') || value.starts_with("./") => ("file", value),
            _ => ("csl", value),
        };
        if kind == "csl" {
            return Ok(rest
                .split([',', ' ', '\t'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect());
        }
        let path = self.dir.join(rest);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }
}

fn parse_conf(path: &Path) -> Result<Conf> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut settings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(n, v)| (n, v.trim()));
        settings.push((name.to_string(), value.to_string(), i + 1));
    }
    Ok(Conf {
        dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        settings,
        read: RefCell::default(),
    })
}

/// A TOML string.
fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// OpenDKIM `inet:port@host`, `inet6:port@[addr]`, `local:/path`,
/// `unix:/path` as waxseal's `listen`.
fn socket(value: &str) -> std::result::Result<String, String> {
    if let Some(p) = value
        .strip_prefix("local:")
        .or_else(|| value.strip_prefix("unix:"))
    {
        return Ok(format!("unix:{p}"));
    }
    if value.starts_with('/') {
        return Ok(format!("unix:{value}"));
    }
    let rest = value
        .strip_prefix("inet6:")
        .or_else(|| value.strip_prefix("inet:"))
        .ok_or_else(|| format!("Socket {value}: not understood"))?;
    let (port, host) = rest.split_once('@').unwrap_or((rest, "127.0.0.1"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = match host {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h
            .parse()
            .map_err(|_| format!("Socket {value}: host {h} is not an address"))?,
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("Socket {value}: bad port"))?;
    Ok(format!("inet:{}", std::net::SocketAddr::new(ip, port)))
}

/// An OpenDKIM signing-table pattern as waxseal's `from`, if it has an
/// equivalent.
fn pattern(p: &str) -> Option<String> {
    let p = p.trim().to_ascii_lowercase();
    let p = p.strip_prefix("*@").unwrap_or(&p);
    if let Some(parent) = p.strip_prefix("*.").or_else(|| p.strip_prefix('.')) {
        return (!parent.contains(['*', '@'])).then(|| format!("*.{parent}"));
    }
    (!p.contains('*') && !p.is_empty()).then(|| p.to_string())
}

/// True when the converted pattern `earlier` matches every address
/// `later` does: OpenDKIM, taking the first line that matches, never
/// reaches `later`.
fn covers(earlier: &str, later: &str) -> bool {
    let domain = |p: &str| p.rsplit_once('@').map_or(p, |(_, d)| d).to_string();
    if earlier == later {
        return true;
    }
    if let Some(parent) = earlier.strip_prefix("*.") {
        // *.x matches every subdomain of x, and so every address in one
        let d = domain(later.trim_start_matches("*."));
        return d.ends_with(&format!(".{parent}"));
    }
    // a domain matches its users
    !earlier.contains('@') && later.contains('@') && domain(later) == earlier
}

/// OpenDKIM's SignHeaders: a list, or (with `*` in it) a change to the
/// default list: `+name` added, `-name` removed. waxseal's default list
/// (`DEFAULT_SIGNED_HEADERS`) holds OpenDKIM's and more; `None` when that
/// default is what is meant.
fn sign_headers(entries: &[String], notes: &mut Vec<String>) -> Option<Vec<String>> {
    if !entries.iter().any(|e| e == "*") {
        return Some(entries.to_vec());
    }
    let mut list: Vec<String> = waxseal_core::sign::DEFAULT_SIGNED_HEADERS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut changed = false;
    for e in entries.iter().filter(|e| *e != "*") {
        changed = true;
        match e.strip_prefix('-') {
            Some(gone) => list.retain(|h| !h.eq_ignore_ascii_case(gone)),
            None => {
                let add = e.strip_prefix('+').unwrap_or(e);
                if !list.iter().any(|h| h.eq_ignore_ascii_case(add)) {
                    list.push(add.to_string());
                }
            }
        }
    }
    notes.push(
        "SignHeaders *: waxseal's default list (OpenDKIM's and Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding)"
            .into(),
    );
    changed.then_some(list)
}

fn action(v: &str) -> std::result::Result<&'static str, String> {
    match v.to_ascii_lowercase().as_str() {
        "a" | "accept" => Ok("accept"),
        "t" | "tempfail" => Ok("tempfail"),
        "r" | "reject" => Ok("reject"),
        "d" | "discard" => Err("discard (waxseal never throws mail away; accept kept)".into()),
        "q" | "quarantine" => Err("quarantine (not supported; tempfail kept)".into()),
        other => Err(format!("`{other}` not understood")),
    }
}

/// The waxseal configuration equivalent to OpenDKIM's `conf`.
pub fn convert(conf_path: &Path) -> Result<String> {
    let conf = parse_conf(conf_path)?;
    let mut out = String::new();
    let mut notes: Vec<String> = Vec::new();
    let _ = writeln!(
        out,
        "# waxseal milter configuration, converted from {} by `waxseal milter import-opendkim`.\n# Check it with `waxseal milter --check --config FILE` (and --dns).\n",
        conf_path.display()
    );
    let socket_value = conf.get("Socket");
    match socket_value.map(socket) {
        Some(Ok(l)) => {
            let _ = writeln!(out, "listen = {}", q(&l));
            if let Some(v) = socket_value.filter(|v| v.starts_with("inet") && !v.contains('@')) {
                notes.push(format!(
                    "Socket {v}: OpenDKIM listened on every interface; this listens on loopback only (an MTA on another host needs its address in listen)"
                ));
            }
        }
        Some(Err(e)) => {
            notes.push(e);
            let _ = writeln!(out, "listen = \"inet:127.0.0.1:8891\"");
        }
        None => {
            let _ = writeln!(out, "listen = \"inet:127.0.0.1:8891\"");
        }
    }
    if let Some(u) = conf
        .get("UMask")
        .and_then(|u| u32::from_str_radix(u, 8).ok())
    {
        let _ = writeln!(out, "socket_mode = \"{:04o}\"", 0o777 & !u);
    }
    if let Some(u) = conf.get("UserID") {
        notes.push(format!(
            "UserID {u}: run waxseal as that user (systemd User=/Group=)"
        ));
    }
    if let Some(a) = conf.get("AuthservID").filter(|a| *a != "HOSTNAME") {
        let _ = writeln!(out, "authserv_id = {}", q(a));
    }
    let mode = conf.get("Mode").unwrap_or("sv").to_ascii_lowercase();

    // trust
    let _ = writeln!(out, "\n[trust]\nauthenticated = true");
    let mut nets = Vec::new();
    match conf.get("InternalHosts") {
        Some(v) => {
            for h in conf.dataset(v)? {
                // `!` excludes (OpenDKIM: the most specific entry decides,
                // as waxseal's networks do)
                let bang = if h.starts_with('!') { "!" } else { "" };
                let name = h.trim_start_matches('!');
                if super::config::Network::parse(&h).is_some() {
                    nets.push(h.to_string());
                } else if name == "localhost" {
                    nets.push(format!("{bang}127.0.0.1/32"));
                    nets.push(format!("{bang}::1/128"));
                } else {
                    notes.push(format!(
                        "InternalHosts {h}: host names are not matched; list its addresses"
                    ));
                }
            }
        }
        None => nets.extend(["127.0.0.1/32".to_string(), "::1/128".to_string()]),
    }
    let _ = writeln!(out, "networks = {}", list(&nets));
    if let Some(v) = conf.get("MTA") {
        let _ = writeln!(out, "daemon_names = {}", list(&conf.dataset(v)?));
    }

    // verification
    let _ = writeln!(out, "\n[verify]\nenabled = {}", mode.contains('v'));
    if let Some(b) = conf
        .get("MinimumKeyBits")
        .and_then(|b| b.parse::<usize>().ok())
    {
        let _ = writeln!(out, "min_rsa_bits = {b}");
    }

    // actions
    let mut actions: BTreeMap<&str, &str> = BTreeMap::new();
    let classes = [
        ("On-DNSError", "dns_error"),
        ("On-InternalError", "internal_error"),
        ("On-SignatureError", "signing_error"),
    ];
    let default = conf.get("On-Default");
    for (od, ours) in classes {
        // OpenDKIM tempfails on a DNS error unless told otherwise;
        // waxseal's default accepts (with dkim=temperror)
        let unset = (od == "On-DNSError" && mode.contains('v')).then_some("tempfail");
        if let Some(v) = conf.get(od).or(default).or(unset) {
            match action(v) {
                Ok(a) => {
                    actions.insert(ours, a);
                }
                Err(e) => notes.push(format!("{od}: {e}")),
            }
        }
    }
    for od in [
        "On-BadSignature",
        "On-KeyNotFound",
        "On-NoSignature",
        "On-Security",
    ] {
        // On-Default covers these too (OpenDKIM reads it first)
        let what = match (conf.get(od), default) {
            (Some(v), _) => format!("{od} {v}"),
            (None, Some(d)) if !matches!(d.to_ascii_lowercase().as_str(), "a" | "accept") => {
                format!("On-Default {d} (for {od})")
            }
            _ => continue,
        };
        notes.push(format!(
            "{what}: waxseal delivers such mail with its result in Authentication-Results; let DMARC policy decide"
        ));
    }
    if !actions.is_empty() {
        let _ = writeln!(out, "\n[actions]");
        for (k, v) in &actions {
            let _ = writeln!(out, "{k} = {}", q(v));
        }
    }

    // keys and signing table
    let canon = conf
        .get("Canonicalization")
        .map_or("simple/simple".to_string(), |c| {
            if c.contains('/') {
                c.to_string()
            } else {
                format!("{c}/simple")
            }
        });
    let headers = match conf.get("SignHeaders") {
        Some(v) => sign_headers(&conf.dataset(v)?, &mut notes),
        None => None,
    };
    let oversign = conf
        .get("OversignHeaders")
        .map(|v| conf.dataset(v))
        .transpose()?;
    let mut keys: Vec<(String, String, String, String)> = Vec::new();
    let mut rules: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    if let Some(kt) = conf.get("KeyTable") {
        for line in conf.dataset(kt)? {
            let mut f = line.split_whitespace();
            let (Some(name), Some(spec)) = (f.next(), f.next()) else {
                notes.push(format!("KeyTable line `{line}`: not understood"));
                continue;
            };
            let parts: Vec<&str> = spec.splitn(3, ':').collect();
            if parts.len() != 3 || parts[0] == "%" || !parts[2].starts_with('/') {
                notes.push(format!(
                    "KeyTable {name}: `{spec}` (only domain:selector:/path/to/key is converted)"
                ));
                continue;
            }
            keys.push((
                name.into(),
                parts[0].into(),
                parts[1].into(),
                parts[2].into(),
            ));
        }
        let Some(st) = conf.get("SigningTable") else {
            bail!("{}: KeyTable without SigningTable", conf_path.display());
        };
        let regex = st.trim_start().starts_with("refile:");
        let multiple = conf
            .get("MultipleSignatures")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "1"));
        if multiple {
            notes.push("MultipleSignatures yes: waxseal signs with the keys of the most specific pattern only (list every key a sender needs in its rule)".into());
        }
        for line in conf.dataset(st)? {
            let mut f = line.split_whitespace();
            let (Some(p), Some(k)) = (f.next(), f.next()) else {
                notes.push(format!("SigningTable line `{line}`: not understood"));
                continue;
            };
            let k = k.split(':').next().unwrap_or(k).to_string();
            if !keys.iter().any(|x| x.0 == k) {
                notes.push(format!("SigningTable {p}: key {k} is not converted"));
                continue;
            }
            // only a `refile:` table has patterns: in any other, OpenDKIM
            // looks keys up as written, and `*@example.com` matches no one
            if !regex && p.contains('*') {
                notes.push(format!(
                    "SigningTable {p} {k}: never used by OpenDKIM (a `*` is a pattern only in a refile: table); left out"
                ));
                continue;
            }
            let Some(from) = pattern(p) else {
                notes.push(format!("SigningTable {p}: this pattern has no equivalent"));
                continue;
            };
            // OpenDKIM signs with the first line that matches (all of them
            // only with MultipleSignatures); waxseal with the most specific
            // pattern: a line an earlier one covers was never used
            let earlier = rules.iter_mut().find(|r| covers(&r.0[0], &from));
            match earlier {
                Some(r) if r.0[0] == from && multiple => r.1.push(k),
                Some(r) => notes.push(format!(
                    "SigningTable {p} {k}: never used by OpenDKIM (the earlier pattern {} matches first{}); left out",
                    r.0[0],
                    if multiple { "" } else { ", and MultipleSignatures is off" }
                )),
                None => rules.push((vec![from], vec![k])),
            }
        }
    } else if let (Some(d), Some(s), Some(f)) = (
        conf.get("Domain"),
        conf.get("Selector"),
        conf.get("KeyFile"),
    ) {
        let domains = conf.dataset(d)?;
        let subdomains = conf
            .get("SubDomains")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "1"));
        for (i, dom) in domains.iter().enumerate() {
            let name = format!("key{}", i + 1);
            keys.push((name.clone(), dom.clone(), s.into(), f.into()));
            let mut from = vec![dom.clone()];
            if subdomains {
                from.push(format!("*.{dom}"));
            }
            rules.push((from, vec![name]));
        }
    }
    if !mode.contains('s') && !rules.is_empty() {
        notes.push("Mode has no `s`: the signing table below is converted but signing was off; remove it to keep it off".into());
    }
    for (name, d, s, f) in &keys {
        // a bare TOML key, or a quoted one (OpenDKIM key names often hold dots)
        let ident = if name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            name.clone()
        } else {
            q(name)
        };
        let _ = writeln!(
            out,
            "\n[keys.{ident}]\ndomain = {}\nselector = {}\nfile = {}",
            q(d),
            q(s),
            q(f)
        );
    }
    for (from, k) in &rules {
        let _ = writeln!(
            out,
            "\n[[signing]]\nfrom = {}\nkeys = {}",
            list(from),
            list(k)
        );
        let _ = writeln!(out, "canonicalization = {}", q(&canon));
        if let Some(h) = &headers {
            let _ = writeln!(out, "headers = {}", list(h));
        }
        if let Some(o) = &oversign {
            let _ = writeln!(out, "oversign = {}", list(o));
        }
    }
    let read = conf.read.borrow();
    for (name, value, line) in &conf.settings {
        if !read.contains(&name.to_ascii_lowercase()) {
            notes.push(format!(
                "{name} {value} (line {line}): no waxseal equivalent"
            ));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\n# Not converted (check these by hand):");
        for n in &notes {
            let _ = writeln!(out, "#   {n}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn convert_text(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("opendkim.conf");
        std::fs::write(&p, text).unwrap();
        convert(&p).unwrap()
    }

    #[test]
    fn opendkim_defaults_and_on_default() {
        // OpenDKIM tempfails on DNS errors unless told otherwise
        let out = convert_text("Mode sv\n");
        assert!(out.contains("dns_error = \"tempfail\""), "{out}");
        assert!(!convert_text("Mode s\n").contains("dns_error"));
        // On-Default covers every class, the ones waxseal has no action
        // for included
        let out = convert_text("Mode sv\nOn-Default reject\nOn-KeyNotFound accept\n");
        assert!(out.contains("dns_error = \"reject\""), "{out}");
        assert!(
            out.contains("#   On-Default reject (for On-BadSignature):"),
            "{out}"
        );
        assert!(out.contains("#   On-KeyNotFound accept:"), "{out}");
        assert!(!out.contains("(for On-KeyNotFound)"), "{out}");
    }

    #[test]
    fn a_file_table_takes_its_keys_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("keys"), "k example.com:s:/k.private\n").unwrap();
        std::fs::write(
            d.join("signing"),
            "*@example.com k\nexample.com k\n*@*.example.com k\n",
        )
        .unwrap();
        for (kind, rules) in [("file:", 1), ("refile:", 2)] {
            let p = d.join("opendkim.conf");
            std::fs::write(
                &p,
                format!(
                    "KeyTable file:{0}/keys\nSigningTable {kind}{0}/signing\n",
                    d.display()
                ),
            )
            .unwrap();
            let out = convert(&p).unwrap();
            assert_eq!(out.matches("[[signing]]").count(), rules, "{kind}\n{out}");
            if kind == "file:" {
                assert!(
                    out.contains("#   SigningTable *@example.com k: never used by OpenDKIM (a `*`"),
                    "{out}"
                );
                assert!(out.contains("from = [\"example.com\"]"), "{out}");
            }
        }
    }

    #[test]
    fn patterns_and_sockets() {
        assert_eq!(pattern("*@example.com").as_deref(), Some("example.com"));
        assert_eq!(pattern("*@*.example.com").as_deref(), Some("*.example.com"));
        assert_eq!(pattern(".example.com").as_deref(), Some("*.example.com"));
        assert_eq!(
            pattern("Boss@Example.com").as_deref(),
            Some("boss@example.com")
        );
        assert_eq!(pattern("*"), None);
        assert_eq!(
            socket("inet:8891@localhost").unwrap(),
            "inet:127.0.0.1:8891"
        );
        assert_eq!(socket("inet6:8891@[::1]").unwrap(), "inet:[::1]:8891");
        assert_eq!(
            socket("local:/run/opendkim/opendkim.sock").unwrap(),
            "unix:/run/opendkim/opendkim.sock"
        );
        assert!(socket("inet:8891@mail.example.com").is_err());
    }
}
