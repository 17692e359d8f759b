//! DNS TXT lookups for verification and `dns check`: through hickory's
//! resolver (the system's resolvers, or one given as `IP:PORT`), with a
//! cache, or from a folder of record files (`--key-dir`).
//!
//! A timeout is the whole wait for a lookup, retries included; the
//! lookups one message needs run at the same time, under one deadline
//! ([`Resolver::lookup_all`]), so a message that names many selectors
//! cannot stall its verifier for many timeouts in a row.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use waxseal_core::KeyAnswer;

/// Where TXT records come from.
pub enum Txt {
    /// DNS.
    Dns(Box<Dns>),
    /// Files `<name>.txt` in a folder.
    Dir(PathBuf),
}

impl Txt {
    /// Looks `name` up.
    pub fn lookup(&self, name: &str) -> KeyAnswer {
        match self {
            Txt::Dns(d) => d.lookup(name),
            Txt::Dir(dir) => lookup_dir(dir, name),
        }
    }

    /// Looks several names up, at the same time where they go to DNS.
    pub fn lookup_all(&self, names: &[String]) -> Vec<KeyAnswer> {
        match self {
            Txt::Dns(d) => d.lookup_all(names),
            Txt::Dir(dir) => names.iter().map(|n| lookup_dir(dir, n)).collect(),
        }
    }
}

/// The verification driver's blocking lookup: every name at once.
impl waxseal_core::verify::Lookup for Txt {
    fn lookup_all(&mut self, queries: &[waxseal_core::verify::Query]) -> Vec<KeyAnswer> {
        let names: Vec<String> = queries.iter().map(|q| q.name.clone()).collect();
        Txt::lookup_all(self, &names)
    }
}

/// An asynchronous DNS resolver with a cache, for tokio (the milter).
#[derive(Clone)]
pub struct Resolver {
    resolver: TokioResolver,
    timeout: Duration,
}

impl Resolver {
    /// The system's resolvers (`/etc/resolv.conf`), or `server` alone.
    /// `timeout` is the whole wait for one lookup. Must be called inside a
    /// tokio runtime.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self> {
        anyhow::ensure!(!timeout.is_zero(), "the DNS timeout must be more than 0");
        let mut builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()
                .context("cannot read the system's DNS configuration")?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        // two tries within the whole timeout (UDP loses packets)
        opts.timeout = timeout / 2;
        opts.attempts = 2;
        opts.cache_size = 1024;
        let resolver = builder.build().context("cannot set up the DNS resolver")?;
        Ok(Resolver { resolver, timeout })
    }

    /// The TXT records at `name`: NXDOMAIN and "no TXT record" are
    /// [`KeyAnswer::NxDomain`], every other failure (timeout, SERVFAIL,
    /// refused) [`KeyAnswer::TempFail`]. Never waits longer than the
    /// timeout.
    pub async fn lookup(&self, name: &str) -> KeyAnswer {
        let fqdn = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        let lookup = self.resolver.txt_lookup(fqdn);
        match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => KeyAnswer::TempFail,
            Ok(Ok(lookup)) => {
                let records: Vec<Vec<Vec<u8>>> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
                        _ => None,
                    })
                    .collect();
                if records.is_empty() {
                    KeyAnswer::NxDomain
                } else {
                    KeyAnswer::Records(records)
                }
            }
            Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => KeyAnswer::NxDomain,
            Ok(Err(_)) => KeyAnswer::TempFail,
        }
    }

    /// Looks every name up at the same time; the whole takes at most the
    /// timeout.
    pub async fn lookup_all(&self, names: &[String]) -> Vec<KeyAnswer> {
        let mut set = tokio::task::JoinSet::new();
        for (i, n) in names.iter().enumerate() {
            let (r, n) = (self.clone(), n.clone());
            set.spawn(async move { (i, r.lookup(&n).await) });
        }
        let mut out = vec![KeyAnswer::TempFail; names.len()];
        while let Some(done) = set.join_next().await {
            if let Ok((i, a)) = done {
                out[i] = a;
            }
        }
        out
    }
}

/// A blocking DNS resolver (the command line).
pub struct Dns {
    runtime: tokio::runtime::Runtime,
    resolver: Resolver,
}

impl Dns {
    /// The system's resolvers (`/etc/resolv.conf`), or `server` alone;
    /// `timeout` is the whole wait for a lookup.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the DNS runtime")?;
        let resolver = {
            let _guard = runtime.enter();
            Resolver::new(server, timeout)?
        };
        Ok(Dns { runtime, resolver })
    }

    /// See [`Resolver::lookup`].
    pub fn lookup(&self, name: &str) -> KeyAnswer {
        self.runtime.block_on(self.resolver.lookup(name))
    }

    /// See [`Resolver::lookup_all`].
    pub fn lookup_all(&self, names: &[String]) -> Vec<KeyAnswer> {
        self.runtime.block_on(self.resolver.lookup_all(names))
    }
}

/// A record file `<dir>/<name>.txt`: the TXT value as plain text (lines
/// joined), or as zone-file quoted strings (each string kept apart, as a
/// resolver returns them), or the word `NXDOMAIN`
/// ([`KeyAnswer::from_record_text`]). A missing file is NXDOMAIN; a file
/// that cannot be read (permissions, not UTF-8, a directory) is a
/// temporary failure, said on standard error.
///
/// Design note: `name` may come from the sandbox, which parses untrusted
/// mail: only a DNS name ([`waxseal_core::domain::is_dns_name`]) is looked
/// for, so no name reaches outside `dir` (`../`, `/etc/...`).
pub fn lookup_dir(dir: &Path, name: &str) -> KeyAnswer {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if !waxseal_core::domain::is_dns_name(&name) {
        return KeyAnswer::NxDomain; // no such DNS name can exist
    }
    let path = dir.join(format!("{name}.txt"));
    match std::fs::read_to_string(&path) {
        Ok(text) => KeyAnswer::from_record_text(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyAnswer::NxDomain,
        Err(e) => {
            eprintln!(
                "waxseal: cannot read the key record {}: {e}",
                path.display()
            );
            KeyAnswer::TempFail
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_dir_answers_dns_names_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("keys");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("s._domainkey.example.com.txt"), "v=DKIM1; p=").unwrap();
        std::fs::write(root.path().join("secret.txt"), "v=DKIM1; p=").unwrap();
        assert!(matches!(
            lookup_dir(&dir, "S._domainkey.Example.com."),
            KeyAnswer::Records(_)
        ));
        // outside the folder: not a DNS name, never read
        for name in ["../secret", "/tmp/x", "a/../../secret", "a..b", ""] {
            assert_eq!(lookup_dir(&dir, name), KeyAnswer::NxDomain, "{name}");
        }
        assert_eq!(
            lookup_dir(&dir, "t._domainkey.example.com"),
            KeyAnswer::NxDomain
        );
        // there but unreadable as a record: not "no key"
        std::fs::create_dir(dir.join("d._domainkey.example.com.txt")).unwrap();
        std::fs::write(dir.join("l._domainkey.example.com.txt"), b"n=caf\xe9; p=").unwrap();
        for name in ["d._domainkey.example.com", "l._domainkey.example.com"] {
            assert_eq!(lookup_dir(&dir, name), KeyAnswer::TempFail, "{name}");
        }
    }
}
