//! The command line: `waxseal keygen | dns record | dns policy | dns check |
//! sign | verify | milter`, one module per subcommand.
//!
//! Exit codes: 0 success (verify: every signature passed); 1 verify: a
//! signature did not pass, or there is none; dns check: the record is
//! missing or does not match; 2 usage or input error (bad file, message or
//! key), or standard output could not be written; 3 a temporary failure
//! (DNS); 141 standard output was closed early (a broken pipe, as
//! `waxseal verify ... | head -1`), quietly, as Unix tools end on SIGPIPE.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use waxseal_core::{PrivateKey, PublicKey};

use crate::component::Limits;
use crate::engine::{Engine, InputError};

mod dns;
mod keygen;
mod milter;
mod sign;
mod verify;

use dns::DnsCmd;
use keygen::KeygenArgs;
use milter::MilterArgs;
use sign::SignArgs;
use verify::VerifyArgs;

/// Exit code: a usage or input error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a temporary failure.
pub const EXIT_TEMP: u8 = 3;
/// Exit code: standard output was closed (128 + SIGPIPE).
pub const EXIT_PIPE: u8 = 141;

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
    /// Run the milter for Postfix or Sendmail: sign mail from your own
    /// senders, verify inbound mail (--config FILE; --check to test it).
    Milter(MilterArgs),
}

#[derive(Args, Debug)]
pub(crate) struct DnsArgs {
    /// Ask this DNS server (IP:PORT) instead of the system's resolvers.
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) resolver: Option<SocketAddr>,
    /// Seconds to wait for the DNS answers, retries included (the lookups
    /// a message needs run at the same time); 1 to 300.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub(crate) dns_timeout: u64,
}

/// Whether standard output was closed when the process started
/// (`waxseal sign >&-`). Rust's runtime reopens a closed standard
/// descriptor on `/dev/null` before `main` (so that no file opened later
/// takes it), read-write; a shell's `>/dev/null` opens it write-only. So a
/// read-write `/dev/null` on descriptor 1 was most likely a closed
/// standard output, where the result would vanish with exit 0 (a parent
/// may also have opened /dev/null read-write on purpose: the output is
/// lost either way). Linux only (`/proc`).
fn stdout_was_closed() -> bool {
    #[cfg(target_os = "linux")]
    {
        const O_ACCMODE: u32 = 0o3;
        const O_RDWR: u32 = 0o2;
        let on_null =
            std::fs::read_link("/proc/self/fd/1").is_ok_and(|p| p == Path::new("/dev/null"));
        on_null
            && std::fs::read_to_string("/proc/self/fdinfo/1").is_ok_and(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                    .is_some_and(|f| f & O_ACCMODE == O_RDWR)
            })
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Runs the command line; returns the exit code.
pub fn run(cli: Cli) -> ExitCode {
    // Only the commands whose one product is what they print refuse:
    // `verify` and `dns check` answer with their exit status too (a caller
    // may discard the text, and Python's subprocess.DEVNULL is a
    // read-write /dev/null), `keygen` writes files, the milter logs.
    let prints_its_product = matches!(
        cli.cmd,
        Cmd::Sign(_) | Cmd::Dns(DnsCmd::Record { .. } | DnsCmd::Policy { .. })
    );
    if prints_its_product && stdout_was_closed() {
        eprintln!(
            "waxseal: error: standard output is closed: there is nowhere to write the result"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if broken_pipe(&e) => ExitCode::from(EXIT_PIPE),
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
        Cmd::Keygen(a) => keygen::keygen(a),
        Cmd::Dns(DnsCmd::Record {
            key,
            domain,
            selector,
            testing,
        }) => dns::dns_record(key, domain, selector, *testing),
        Cmd::Dns(DnsCmd::Policy {
            domain,
            practice,
            testing,
            report,
        }) => dns::dns_policy(domain, *practice, *testing, report.clone()),
        Cmd::Dns(DnsCmd::Check {
            domain,
            selector,
            key,
            dns,
        }) => dns::dns_check(domain, selector, key, dns),
        Cmd::Sign(a) => sign::sign(cli, a),
        Cmd::Verify(a) => verify::verify(cli, a),
        Cmd::Milter(a) => milter::milter(a),
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// True when `e` is (caused by) a write to a closed pipe.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub(crate) fn load_key(path: &Path) -> Result<PrivateKey> {
    let data =
        std::fs::read(path).with_context(|| format!("cannot read key {}", path.display()))?;
    let key = PrivateKey::parse(&data).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    // the milter refuses such a key; a command run by hand on a test key
    // signs, and says so
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "waxseal: warning: {} has mode {mode:04o}: others can read this private key (chmod 600)",
                path.display()
            );
        }
    }
    Ok(key)
}

/// The public key of a key file: a private key in any form
/// [`load_key`] takes, or a public key (SubjectPublicKeyInfo PEM or DER,
/// PKCS#1 PEM), as the npm package's `dnsRecord` takes them.
pub(crate) fn load_public_key(path: &Path) -> Result<PublicKey> {
    let data =
        std::fs::read(path).with_context(|| format!("cannot read key {}", path.display()))?;
    let key = PublicKey::from_key_file(&data, None);
    key.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub(crate) fn engine(cli: &Cli) -> Result<(Engine, Limits)> {
    let limits = Limits::default();
    let e = match cli.engine {
        EngineKind::Native => Engine::Native,
        EngineKind::Wasm => Engine::wasm(cli.component.as_deref(), limits)?,
    };
    Ok((e, limits))
}

/// The process's peak resident memory (`VmHWM`), in KiB, where the system
/// tells (Linux).
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
