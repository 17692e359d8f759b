//! The command line: `waxseal keygen | dns record | dns policy | dns check |
//! sign | verify`.
//!
//! Exit codes: 0 success (verify: every signature passed); 1 verify: a
//! signature did not pass, or there is none; dns check: the record is
//! missing or does not match; 2 usage or input error (bad file, message or
//! key); 3 a temporary failure (DNS).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use waxseal_core::policy::{LegacyPolicy, SigningPractice, policy_zone_lines};
use waxseal_core::verify::VerifyPolicy;
use waxseal_core::{Domain, KeyAnswer, KeyRecord, PrivateKey, Selector};

use crate::component::Limits;
use crate::crypto::NativeKey;
use crate::dns::{Dns, Txt};
use crate::engine::{Engine, InputError, SignSpec, describe_engine_error};

/// Exit code: a usage or input error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a temporary failure.
pub const EXIT_TEMP: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "waxseal",
    version,
    about = "DKIM for mail servers: create keys, publish DNS records, sign and verify mail (RFC 6376, Ed25519 RFC 8463)",
    long_about = "DKIM for mail servers: create keys, publish DNS records, sign and verify mail (RFC 6376, Ed25519 RFC 8463).\n\n\
The usual order: `waxseal keygen` makes a key and the DNS record to publish (in test mode, t=y); \
`waxseal dns check` tells when the record is live and right; `waxseal sign` signs outgoing mail; \
`waxseal verify` checks incoming mail.\n\n\
The message parser runs in a WebAssembly sandbox (wasmtime); private keys stay outside it.",
    after_help = "Exit codes: 0 ok; 1 verification failed or record wrong; 2 usage or input error; 3 temporary failure (DNS)."
)]
/// The parsed command line.
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Where the message parser runs: `wasm` (the wasmtime sandbox) or
    /// `native` (linked in, no sandbox).
    #[arg(long, global = true, value_enum, default_value_t = EngineKind::Wasm)]
    engine: EngineKind,
    /// Run this WebAssembly component instead of the built-in one (world
    /// waxseal:dkim/dkim-host-crypto).
    #[arg(long, global = true, value_name = "PATH")]
    component: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum EngineKind {
    Wasm,
    Native,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a key pair, its DNS record and a dns_readme.txt.
    Keygen(KeygenArgs),
    /// DNS records: print one for a key, the signing policy records, or
    /// check what is published.
    #[command(subcommand)]
    Dns(DnsCmd),
    /// Sign a message (from FILE or standard input); prints the signed
    /// message.
    Sign(SignArgs),
    /// Verify the DKIM signatures of a message (from FILE or standard
    /// input).
    Verify(VerifyArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    Rsa,
    Ed25519,
}

#[derive(Args, Debug)]
struct KeygenArgs {
    /// The domain the key signs for (d=), e.g. example.com.
    #[arg(long, short = 'd')]
    domain: String,
    /// The selector (s=): the record goes to <selector>._domainkey.<domain>.
    #[arg(long, short = 's')]
    selector: String,
    /// rsa (understood by every receiver) or ed25519 (RFC 8463; publish
    /// both for the best of both).
    #[arg(long, short = 'a', value_enum, default_value_t = Algorithm::Rsa)]
    algorithm: Algorithm,
    /// RSA key size: 1024 to 4096 bits.
    #[arg(long, short = 'b', default_value_t = 2048)]
    bits: usize,
    /// Publish the record in test mode (t=y): recommended for a new key
    /// until the record has propagated and verifies.
    #[arg(long, short = 't')]
    testing: bool,
    /// Where to write: the files go to OUT/<selector>/ (<selector>.private,
    /// <selector>.txt, dns_readme.txt), one folder per key as MDaemon
    /// keeps them.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand, Debug)]
enum DnsCmd {
    /// Print the DNS record for an existing private key.
    Record {
        /// The private key file.
        #[arg(long, short = 'k')]
        key: PathBuf,
        /// The domain (d=).
        #[arg(long, short = 'd')]
        domain: String,
        /// The selector (s=).
        #[arg(long, short = 's')]
        selector: String,
        /// Test mode (t=y).
        #[arg(long, short = 't')]
        testing: bool,
    },
    /// Print the legacy signing-policy record (_policy._domainkey, as in
    /// MDaemon's workflow) and the DMARC record that does its job today.
    Policy {
        /// The domain.
        #[arg(long, short = 'd')]
        domain: String,
        /// some: the domain signs some mail (o=~); all (o=-); exclusive:
        /// all, and no third-party signatures (o=!); none: sends no mail
        /// (o=.); per-user (o=^).
        #[arg(long, value_enum, default_value_t = Practice::Some)]
        practice: Practice,
        /// Test mode (t=y; DMARC p=none).
        #[arg(long, short = 't')]
        testing: bool,
        /// Where reports go (r=, DMARC rua=).
        #[arg(long)]
        report: Option<String>,
    },
    /// Look the published record up and compare it with the private key.
    Check {
        /// The domain (d=).
        #[arg(long, short = 'd')]
        domain: String,
        /// The selector (s=).
        #[arg(long, short = 's')]
        selector: String,
        /// The private key file.
        #[arg(long, short = 'k')]
        key: PathBuf,
        #[command(flatten)]
        dns: DnsArgs,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Practice {
    Some,
    All,
    Exclusive,
    None,
    PerUser,
}

#[derive(Args, Debug)]
struct DnsArgs {
    /// Ask this DNS server (IP:PORT) instead of the system's resolvers.
    #[arg(long, value_name = "IP:PORT")]
    resolver: Option<SocketAddr>,
    /// Seconds to wait for a DNS answer.
    #[arg(long, default_value_t = 5)]
    dns_timeout: u64,
}

#[derive(Args, Debug)]
struct SignArgs {
    /// Private key file (PEM or DER, PKCS#1 or PKCS#8, RSA or Ed25519).
    /// Repeat with --selector to sign twice (e.g. RSA and Ed25519).
    #[arg(long, short = 'k', required = true)]
    key: Vec<PathBuf>,
    /// The signing domain (d=).
    #[arg(long, short = 'd')]
    domain: String,
    /// The selector (s=), one per --key.
    #[arg(long, short = 's', required = true)]
    selector: Vec<String>,
    /// Canonicalization (c=): relaxed/relaxed, relaxed/simple,
    /// simple/relaxed or simple/simple.
    #[arg(long, short = 'c', default_value = "relaxed/relaxed")]
    canonicalization: String,
    /// Header fields to sign, comma-separated (default: From, Reply-To,
    /// Subject, Date, To, Cc, Resent-*, In-Reply-To, References, List-*,
    /// Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding).
    #[arg(long, value_delimiter = ',')]
    headers: Option<Vec<String>>,
    /// Header fields to oversign, comma-separated (default From, To,
    /// Subject, Date, Cc, Reply-To; none when --headers is given).
    #[arg(long, value_delimiter = ',')]
    oversign: Option<Vec<String>>,
    /// The agent or user identity (i=), e.g. joe@example.com.
    #[arg(long, short = 'i')]
    identity: Option<String>,
    /// Let the signature expire this many seconds after signing (x=).
    #[arg(long, value_name = "SECONDS")]
    expire: Option<u64>,
    /// Sign with this timestamp (t=, seconds since 1970) instead of now.
    #[arg(long, value_name = "SECONDS")]
    timestamp: Option<u64>,
    /// Write l= (the body length). Lets anyone append text: avoid.
    #[arg(long)]
    body_length: bool,
    /// Write z= (copies of the signed header fields, for debugging).
    #[arg(long)]
    copy_headers: bool,
    /// Print only the DKIM-Signature field(s), not the whole message.
    #[arg(long)]
    header_only: bool,
    /// The message; - or nothing for standard input.
    file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// The message; - or nothing for standard input.
    file: Option<PathBuf>,
    /// Read key records from <selector>._domainkey.<domain>.txt files in
    /// this folder instead of DNS.
    #[arg(long, value_name = "DIR")]
    key_dir: Option<PathBuf>,
    #[command(flatten)]
    dns: DnsArgs,
    /// The authserv-id of the Authentication-Results field (your host
    /// name).
    #[arg(long, default_value = "localhost")]
    authserv_id: String,
    /// Verify as of this time (seconds since 1970) instead of now.
    #[arg(long, value_name = "SECONDS")]
    now: Option<u64>,
    /// RSA keys smaller than this fail with `policy` (RFC 8301: 1024).
    #[arg(long, default_value_t = 1024)]
    min_rsa_bits: usize,
    /// Accept rsa-sha1 signatures (RFC 8301 says not to).
    #[arg(long)]
    allow_rsa_sha1: bool,
    /// Accept signatures whose l= leaves part of the body unsigned.
    #[arg(long)]
    allow_unsigned_body_tail: bool,
    /// Do not check x= (expiration).
    #[arg(long)]
    ignore_expiration: bool,
}

/// Runs the command line; returns the exit code.
pub fn run(cli: Cli) -> ExitCode {
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = match e.downcast_ref::<InputError>() {
                Some(i) => i.message.clone(),
                None => format!("{e:#}"),
            };
            eprintln!("waxseal: error: {}", msg.lines().next().unwrap_or("error"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn dispatch(cli: &Cli) -> Result<u8> {
    match &cli.cmd {
        Cmd::Keygen(a) => keygen(a),
        Cmd::Dns(DnsCmd::Record {
            key,
            domain,
            selector,
            testing,
        }) => dns_record(key, domain, selector, *testing),
        Cmd::Dns(DnsCmd::Policy {
            domain,
            practice,
            testing,
            report,
        }) => dns_policy(domain, *practice, *testing, report.clone()),
        Cmd::Dns(DnsCmd::Check {
            domain,
            selector,
            key,
            dns,
        }) => dns_check(domain, selector, key, dns),
        Cmd::Sign(a) => sign(cli, a),
        Cmd::Verify(a) => verify(cli, a),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn load_key(path: &Path) -> Result<PrivateKey> {
    let data =
        std::fs::read(path).with_context(|| format!("cannot read key {}", path.display()))?;
    if String::from_utf8_lossy(&data).contains("PUBLIC KEY-----") {
        bail!(
            "{}: this is a public key; signing needs the private key",
            path.display()
        );
    }
    PrivateKey::parse(&data).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn read_message(file: &Option<PathBuf>) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    match file {
        Some(p) if p.as_os_str() != "-" => {
            data = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        }
        _ => {
            std::io::stdin()
                .lock()
                .read_to_end(&mut data)
                .context("cannot read standard input")?;
        }
    }
    if data.is_empty() {
        bail!("the message is empty");
    }
    Ok(data)
}

fn engine(cli: &Cli) -> Result<(Engine, Limits)> {
    let limits = Limits::default();
    let e = match cli.engine {
        EngineKind::Native => Engine::Native,
        EngineKind::Wasm => Engine::wasm(cli.component.as_deref(), limits)?,
    };
    Ok((e, limits))
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

fn keygen(a: &KeygenArgs) -> Result<u8> {
    let domain =
        Domain::new(&a.domain).map_err(|e| anyhow::anyhow!("--domain {}: {e}", a.domain))?;
    let selector = Selector::new(&a.selector)
        .map_err(|e| anyhow::anyhow!("--selector {}: {e}", a.selector))?;
    let dir = a.out.join(&a.selector);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let private = dir.join(format!("{}.private", a.selector));
    let record_file = dir.join(format!("{}.txt", a.selector));
    let readme = dir.join("dns_readme.txt");
    if !a.force {
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
            let spin = Spinner::start(&format!("generating a {}-bit RSA key", a.bits));
            let k = PrivateKey::generate_rsa(&mut rng, a.bits);
            spin.stop();
            k.map_err(|e| anyhow::anyhow!("--bits {}: {e}", a.bits))?
        }
    };
    let record = KeyRecord::new(&key.public_key()).with_testing(a.testing);
    write_private(&private, &key.to_pkcs8_pem()?, a.force)?;
    write_public(
        &record_file,
        &(record.zone_line(&selector, &domain) + "\n"),
        a.force,
    )?;
    write_public(&readme, &record.readme(&selector, &domain), a.force)?;
    println!(
        "private key: {} (mode 0600; keep it secret)",
        private.display()
    );
    println!("DNS record:  {}", record_file.display());
    println!("readme:      {}", readme.display());
    println!();
    println!(
        "Publish this TXT record at {}:",
        selector.record_name(&domain)
    );
    println!("{}", record.to_txt());
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

fn dns_record(key: &Path, domain: &str, selector: &str, testing: bool) -> Result<u8> {
    let k = load_key(key)?;
    let domain = Domain::new(domain).map_err(|e| anyhow::anyhow!("--domain {domain}: {e}"))?;
    let selector =
        Selector::new(selector).map_err(|e| anyhow::anyhow!("--selector {selector}: {e}"))?;
    let record = KeyRecord::new(&k.public_key()).with_testing(testing);
    println!("; zone file (BIND):");
    println!("{}", record.zone_line(&selector, &domain));
    println!();
    println!("; DNS provider web form:");
    println!(";   name:  {}._domainkey", selector);
    println!(";   type:  TXT");
    println!(";   value: {}", record.to_txt());
    Ok(0)
}

fn dns_policy(
    domain: &str,
    practice: Practice,
    testing: bool,
    report: Option<String>,
) -> Result<u8> {
    let domain = Domain::new(domain).map_err(|e| anyhow::anyhow!("--domain {domain}: {e}"))?;
    let mut p = LegacyPolicy::new(match practice {
        Practice::Some => SigningPractice::SignsSome,
        Practice::All => SigningPractice::SignsAll,
        Practice::Exclusive => SigningPractice::Exclusive,
        Practice::None => SigningPractice::NoMail,
        Practice::PerUser => SigningPractice::PerUser,
    });
    p.testing = testing;
    p.report_address = report;
    for line in policy_zone_lines(&domain, &p) {
        println!("{line}");
    }
    if practice == Practice::Exclusive {
        println!();
        println!("; Caution: o=! (and DMARC p=reject) tells receivers to distrust any mail from");
        println!("; {domain} without its own valid signature. Mailing lists change messages and");
        println!("; break that signature, so list posts by your users will be rejected or lost.");
        println!("; Use it only for domains whose users do not post to mailing lists.");
    }
    Ok(0)
}

fn dns_check(domain: &str, selector: &str, key: &Path, dns: &DnsArgs) -> Result<u8> {
    let k = load_key(key)?;
    let domain = Domain::new(domain).map_err(|e| anyhow::anyhow!("--domain {domain}: {e}"))?;
    let selector =
        Selector::new(selector).map_err(|e| anyhow::anyhow!("--selector {selector}: {e}"))?;
    let name = selector.record_name(&domain);
    let resolver = Dns::new(dns.resolver, Duration::from_secs(dns.dns_timeout))?;
    let want = KeyRecord::new(&k.public_key());
    let records = match resolver.lookup(&name) {
        KeyAnswer::NxDomain => {
            println!("{name}: no TXT record: publish the record first (waxseal dns record)");
            return Ok(1);
        }
        KeyAnswer::TempFail => {
            println!("{name}: the DNS lookup failed (timeout or server failure); try again");
            return Ok(EXIT_TEMP);
        }
        KeyAnswer::Records(r) => r,
    };
    let dkim: Vec<&Vec<Vec<u8>>> = records
        .iter()
        .filter(|r| {
            let v = r.concat();
            !v.starts_with(b"v=") || v.starts_with(b"v=DKIM1")
        })
        .collect();
    if dkim.len() != 1 {
        println!(
            "{name}: {} TXT records that could be DKIM keys; there must be exactly one (RFC 6376 3.6.2.2)",
            dkim.len()
        );
        return Ok(1);
    }
    let strings = dkim[0];
    let value = strings.concat();
    let text = String::from_utf8_lossy(&value).into_owned();
    println!(
        "{name}: found, {} bytes in {} string(s)",
        value.len(),
        strings.len()
    );
    let mut ok = true;
    if text.contains('"') || text.contains('\\') {
        println!(
            "  problem: the value contains quote or backslash characters; the zone-file form was"
        );
        println!("           pasted where the plain value belongs (see `waxseal dns record`)");
        ok = false;
    }
    match KeyRecord::parse(&value) {
        Err(e) => {
            println!("  problem: the record does not parse: {e}");
            ok = false;
        }
        Ok(rec) => {
            if rec.is_revoked() {
                println!("  problem: p= is empty: the key is revoked");
                ok = false;
            } else if rec.key_type != want.key_type || rec.public_key != want.public_key {
                match rec.decode_public_key() {
                    Ok(pk) if pk == k.public_key() => {
                        println!("  ok: the key matches (published in another encoding)");
                    }
                    _ => {
                        println!(
                            "  problem: the published key is not the public half of {}",
                            key.display()
                        );
                        ok = false;
                    }
                }
            } else {
                println!(
                    "  ok: the key matches {} ({} {} bits)",
                    key.display(),
                    k.key_type().as_str(),
                    k.bits()
                );
            }
            if !rec.allows_email() {
                println!("  problem: s= does not include email");
                ok = false;
            }
            if !rec.allows_hash(waxseal_core::HashAlgorithm::Sha256) {
                println!("  problem: h= does not allow sha256");
                ok = false;
            }
            if rec.testing {
                println!(
                    "  note: test mode (t=y): receivers treat failures as unsigned; remove t=y when signed mail verifies"
                );
            }
            if k.key_type() == waxseal_core::KeyType::Rsa && k.bits() < 2048 {
                println!(
                    "  note: {}-bit RSA: RFC 8301 asks signers for 2048 bits",
                    k.bits()
                );
            }
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn sign(cli: &Cli, a: &SignArgs) -> Result<u8> {
    if a.key.len() != a.selector.len() {
        bail!(
            "give one --selector per --key ({} keys, {} selectors)",
            a.key.len(),
            a.selector.len()
        );
    }
    let keys: Vec<NativeKey> = a
        .key
        .iter()
        .map(|p| load_key(p).and_then(NativeKey::from_core))
        .collect::<Result<_>>()?;
    let message = read_message(&a.file)?;
    let t = a.timestamp.unwrap_or_else(now);
    let expiration = match a.expire {
        Some(x) => Some(
            t.checked_add(x)
                .ok_or_else(|| anyhow::anyhow!("--expire {x}: the expiry time is out of range"))?,
        ),
        None => None,
    };
    let specs: Vec<SignSpec> = a
        .selector
        .iter()
        .enumerate()
        .map(|(i, s)| SignSpec {
            key: i,
            spec: waxseal_core::SignSpec {
                domain: a.domain.clone(),
                selector: s.clone(),
                identity: a.identity.clone(),
                headers: a.headers.clone(),
                oversign: a.oversign.clone(),
                canonicalization: Some(a.canonicalization.clone()),
                timestamp: Some(t),
                expiration,
                body_length: a.body_length,
                copy_headers: a.copy_headers,
            },
        })
        .collect();
    let (engine, limits) = engine(cli)?;
    let headers = match engine.sign(&message, &specs, Arc::new(keys)) {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => bail!("{}", describe_engine_error(&e, &limits)),
    };
    let headers = if waxseal_core::message::uses_bare_lf(&message) {
        headers.replace("\r\n", "\n")
    } else {
        headers
    };
    let mut out = std::io::stdout().lock();
    out.write_all(headers.as_bytes())?;
    if !a.header_only {
        out.write_all(&message)?;
    }
    out.flush()?;
    Ok(0)
}

fn verify(cli: &Cli, a: &VerifyArgs) -> Result<u8> {
    let message = read_message(&a.file)?;
    let txt = match &a.key_dir {
        Some(dir) => {
            if !dir.is_dir() {
                bail!("--key-dir {}: not a folder", dir.display());
            }
            Txt::Dir(dir.clone())
        }
        None => Txt::Dns(Box::new(Dns::new(
            a.dns.resolver,
            Duration::from_secs(a.dns.dns_timeout),
        )?)),
    };
    let policy = VerifyPolicy {
        min_rsa_bits: a.min_rsa_bits,
        allow_rsa_sha1: a.allow_rsa_sha1,
        allow_unsigned_body_tail: a.allow_unsigned_body_tail,
        ignore_expiration: a.ignore_expiration,
        ..VerifyPolicy::default()
    };
    let (engine, limits) = engine(cli)?;
    let report = match engine.verify(
        &message,
        &policy,
        Some(a.now.unwrap_or_else(now)),
        &a.authserv_id,
        &mut |n| txt.lookup(n),
    ) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => bail!("{}", describe_engine_error(&e, &limits)),
    };
    if report.verdicts.is_empty() {
        println!("none: the message has no DKIM signature");
    }
    for v in &report.verdicts {
        println!("{}", v.summary);
    }
    println!("Authentication-Results: {}", report.authentication_results);
    let all_pass =
        !report.verdicts.is_empty() && report.verdicts.iter().all(|v| v.result == "pass");
    let temp = report.verdicts.iter().any(|v| v.result == "temperror");
    let fail = report
        .verdicts
        .iter()
        .any(|v| v.result != "pass" && v.result != "temperror");
    Ok(if all_pass {
        0
    } else if temp && !fail {
        EXIT_TEMP
    } else {
        1
    })
}
