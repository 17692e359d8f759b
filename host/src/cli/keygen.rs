//! `waxseal keygen`: a key pair, its DNS record and a `dns_readme.txt`,
//! in a folder per key as MDaemon keeps them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use waxseal_core::{KeyRecord, PrivateKey};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Algorithm {
    Rsa,
    Ed25519,
}

#[derive(Args, Debug)]
pub(super) struct KeygenArgs {
    /// The domain the key signs for (d=), e.g. example.com.
    #[arg(long, short = 'd')]
    pub(super) domain: String,
    /// The selector (s=): the record goes to <selector>._domainkey.<domain>.
    #[arg(long, short = 's')]
    pub(super) selector: String,
    /// rsa (understood by every receiver) or ed25519 (RFC 8463; publish
    /// both for the best of both).
    #[arg(long, short = 'a', value_enum, default_value_t = Algorithm::Rsa)]
    pub(super) algorithm: Algorithm,
    /// RSA key size: 1024 to 4096 bits, a multiple of 8 (default 2048).
    #[arg(long, short = 'b')]
    pub(super) bits: Option<usize>,
    /// Publish the record in test mode (t=y): recommended for a new key
    /// until the record has propagated and verifies.
    #[arg(long, short = 't')]
    pub(super) testing: bool,
    /// Where to write: the files go to OUT/<selector>/ (<selector>.private,
    /// <selector>.txt, dns_readme.txt), one folder per key as MDaemon
    /// keeps them.
    #[arg(long, short = 'o', default_value = ".")]
    pub(super) out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub(super) force: bool,
}

/// With `force`, removes what is at `path` first: a file is replaced,
/// never written through (a symlink planted there is removed, not followed).
fn clear_for_write(path: &Path, force: bool) -> Result<()> {
    if force {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => bail!("cannot replace {}: {e}", path.display()),
        }
    }
    Ok(())
}

/// Creates `path` (which must not exist) and writes `data`; the private
/// key file is readable by its owner only.
fn write_new(path: &Path, data: &[u8], private: bool) -> Result<()> {
    use std::fs::OpenOptions;
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} exists; use --force to overwrite it", path.display())
        }
        _ => anyhow::anyhow!("cannot write {}: {e}", path.display()),
    })?;
    #[cfg(not(unix))]
    let _ = private;
    f.write_all(data)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn write_private(path: &Path, pem: &str, force: bool) -> Result<()> {
    clear_for_write(path, force)?;
    write_new(path, pem.as_bytes(), true)
}

fn write_public(path: &Path, text: &str, force: bool) -> Result<()> {
    clear_for_write(path, force)?;
    write_new(path, text.as_bytes(), false)
}

pub(super) fn keygen(a: &KeygenArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let domain = crate::names::domain("--domain", &a.domain)?;
    let selector = crate::names::selector("--selector", &a.selector, &domain)?;
    // everything is checked before the (slow) generation starts
    let bits = match (a.algorithm, a.bits) {
        (Algorithm::Ed25519, Some(b)) => {
            bail!("--bits {b}: Ed25519 keys have no size to choose; --bits is for RSA keys")
        }
        (Algorithm::Ed25519, None) => 0,
        (Algorithm::Rsa, b) => {
            let b = b.unwrap_or(waxseal_core::keys::RSA_DEFAULT_BITS);
            if !(1024..=4096).contains(&b) || b % 8 != 0 {
                bail!(
                    "--bits {b}: RSA keys are 1024 to 4096 bits, a multiple of 8 (2048 is the default)"
                );
            }
            b
        }
    };
    let dir = a.out.join(&a.selector);
    let private = dir.join(format!("{}.private", a.selector));
    let record_file = dir.join(format!("{}.txt", a.selector));
    let readme = dir.join("dns_readme.txt");
    if !a.force {
        // the folder is named by the selector alone: the same selector for
        // a second domain finds the first domain's key there, which
        // --force would destroy
        let name = selector.record_name(&domain);
        if let Ok(zone) = std::fs::read_to_string(&record_file)
            && let Some(other) = zone.split_whitespace().next()
            && !other.trim_end_matches('.').eq_ignore_ascii_case(&name)
        {
            bail!(
                "{} holds the key published at {other}, not {name}; give each domain its own folder (e.g. -o {})",
                dir.display(),
                a.out.join(domain.as_str()).display()
            );
        }
        for p in [&private, &record_file, &readme] {
            if p.symlink_metadata().is_ok() {
                bail!("{} exists; use --force to overwrite it", p.display());
            }
        }
    }
    let mut rng = rand::rng();
    let key = match a.algorithm {
        Algorithm::Ed25519 => PrivateKey::generate_ed25519(&mut rng)?,
        Algorithm::Rsa => {
            let spin = Spinner::start(&format!("generating a {bits}-bit RSA key"));
            let k = PrivateKey::generate_rsa(&mut rng, bits);
            spin.stop();
            k.map_err(|e| anyhow::anyhow!("--bits {bits}: {e}"))?
        }
    };
    // the folder only now, so a failure leaves none behind
    // (folders it makes are its owner's only: the milter refuses a key in
    // a folder others may write to, which a umask of 002 would give)
    let mut make = std::fs::DirBuilder::new();
    make.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut make, 0o700);
    make.create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let record = KeyRecord::new(&key.public_key()).with_testing(a.testing);
    write_private(&private, &key.to_pkcs8_pem()?, a.force)?;
    write_public(
        &record_file,
        &(record.zone_line(&selector, &domain) + "\n"),
        a.force,
    )?;
    write_public(&readme, &record.readme(&selector, &domain), a.force)?;
    writeln!(
        out,
        "private key: {} (mode 0600; keep it secret)",
        private.display()
    )?;
    writeln!(out, "DNS record:  {}", record_file.display())?;
    writeln!(out, "readme:      {}", readme.display())?;
    writeln!(out)?;
    writeln!(
        out,
        "Publish this TXT record at {}:",
        selector.record_name(&domain)
    )?;
    writeln!(out, "{}", record.to_txt())?;
    Ok(0)
}

/// A progress line on standard error while something slow runs.
struct Spinner {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    fn start(what: &str) -> Self {
        use std::io::IsTerminal;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tty = std::io::stderr().is_terminal();
        let (s, w) = (stop.clone(), what.to_string());
        eprintln!("{w} ...");
        let handle = tty.then(|| {
            std::thread::spawn(move || {
                let frames = ['|', '/', '-', '\\'];
                let mut i = 0;
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    eprint!("\r{} {}", frames[i % 4], w);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(120));
                }
                eprint!("\r{}\r", " ".repeat(w.len() + 2));
            })
        });
        Spinner { stop, handle }
    }

    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
