//! DNS TXT lookups for verification and `dns check`: through hickory's
//! resolver (the system's resolvers, or one given as `IP:PORT`), with a
//! cache and timeouts, or from a folder of record files (`--key-dir`).

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
}

/// A DNS resolver with a small cache; lookups block.
pub struct Dns {
    runtime: tokio::runtime::Runtime,
    resolver: TokioResolver,
}

impl Dns {
    /// The system's resolvers (`/etc/resolv.conf`), or `server` alone.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the DNS runtime")?;
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
        opts.timeout = timeout;
        opts.attempts = 2;
        opts.cache_size = 256;
        let resolver = {
            let _guard = runtime.enter();
            builder.build().context("cannot set up the DNS resolver")?
        };
        Ok(Dns { runtime, resolver })
    }

    /// The TXT records at `name`: NXDOMAIN and "no TXT record" are
    /// [`KeyAnswer::NxDomain`], every other failure (timeout, SERVFAIL,
    /// refused) [`KeyAnswer::TempFail`].
    pub fn lookup(&self, name: &str) -> KeyAnswer {
        let fqdn = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        match self.runtime.block_on(self.resolver.txt_lookup(fqdn)) {
            Ok(lookup) => {
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
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => KeyAnswer::NxDomain,
            Err(_) => KeyAnswer::TempFail,
        }
    }
}

/// A record file `<dir>/<name>.txt`: the TXT value as plain text (lines
/// joined), or as zone-file quoted strings (each string kept apart, as a
/// resolver returns them), or the word `NXDOMAIN`
/// ([`KeyAnswer::from_record_text`]). A missing file is NXDOMAIN.
pub fn lookup_dir(dir: &Path, name: &str) -> KeyAnswer {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let Ok(text) = std::fs::read_to_string(dir.join(format!("{name}.txt"))) else {
        return KeyAnswer::NxDomain;
    };
    KeyAnswer::from_record_text(&text)
}
