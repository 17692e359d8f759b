//! `waxseal verify`: checks every DKIM signature of a message from a file
//! or standard input, which streams through the verifier: the key records
//! are looked up as soon as the header block is in, and memory does not
//! grow with the size of the body.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use waxseal_core::verify::{Driver, Lookups, VerifyPolicy};

use super::sign::Input;
use super::{Cli, DnsArgs, EXIT_TEMP, engine, now};
use crate::component::read_some;
use crate::dns::{Dns, Txt};
use crate::engine::{InputError, StepError, describe_engine_error};

/// Bytes read per call.
const CHUNK: usize = 256 * 1024;

#[derive(Args, Debug)]
pub(super) struct VerifyArgs {
    /// The message; - or nothing for standard input.
    pub(super) file: Option<PathBuf>,
    /// Read key records from <selector>._domainkey.<domain>.txt files in
    /// this folder instead of DNS.
    #[arg(long, value_name = "DIR")]
    pub(super) key_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(super) dns: DnsArgs,
    /// The authserv-id of the Authentication-Results field (your host
    /// name).
    #[arg(long, default_value = "localhost")]
    pub(super) authserv_id: String,
    /// Verify as of this time (seconds since 1970) instead of now.
    #[arg(long, value_name = "SECONDS")]
    pub(super) now: Option<u64>,
    /// RSA keys smaller than this fail with `policy` (RFC 8301: 1024).
    #[arg(long, default_value_t = 1024)]
    pub(super) min_rsa_bits: usize,
    /// Accept rsa-sha1 signatures (RFC 8301 says not to).
    #[arg(long)]
    allow_rsa_sha1: bool,
    /// Accept signatures whose l= leaves part of the body unsigned.
    #[arg(long)]
    pub(super) allow_unsigned_body_tail: bool,
    /// Do not check x= (expiration).
    #[arg(long)]
    pub(super) ignore_expiration: bool,
    /// Accept a message without exactly one From field (RFC 6376 alone
    /// allows it; by default its valid signatures get `policy`).
    #[arg(long)]
    pub(super) allow_from_count: bool,
    /// The largest header block to check, in bytes; a message with a
    /// larger one gets a `permerror` result (header_too_large).
    #[arg(long, default_value_t = waxseal_core::sign::DEFAULT_MAX_HEADER_BYTES)]
    pub(super) max_header_bytes: usize,
}

pub(super) fn verify(cli: &Cli, a: &VerifyArgs) -> Result<u8> {
    let mut txt = match &a.key_dir {
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
        max_header_bytes: a.max_header_bytes,
        allow_from_count: a.allow_from_count,
        ..VerifyPolicy::default()
    };
    let mut input = Input::open(&a.file)?;
    let (engine, limits) = engine(cli)?;
    let engine_error = |e: anyhow::Error| anyhow::anyhow!("{}", describe_engine_error(&e, &limits));
    let v = engine
        .verifier(&policy, Some(a.now.unwrap_or_else(now)))
        .map_err(engine_error)?;
    // the keys are looked up once the header block is in (all at once);
    // the body streams on afterwards
    let mut d = Driver::new(v, Lookups::Keys);
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = read_some(input.reader(), &mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        step(d.feed_with(&buf[..n], &mut txt), &engine_error)?;
    }
    if total == 0 {
        bail!("the message is empty");
    }
    step(d.end_with(&mut txt), &engine_error)?;
    let report = d
        .into_inner()
        .finish(&a.authserv_id)
        .map_err(engine_error)??;
    let mut out = std::io::stdout().lock();
    if report.verdicts.is_empty() {
        writeln!(out, "none: the message has no DKIM signature")?;
    }
    for v in &report.verdicts {
        writeln!(out, "{}", v.summary)?;
    }
    writeln!(
        out,
        "Authentication-Results: {}",
        report.authentication_results
    )?;
    out.flush()?;
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

/// A step's failure as the command reports it.
fn step(
    r: Result<(), StepError<InputError>>,
    engine_error: &dyn Fn(anyhow::Error) -> anyhow::Error,
) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(StepError::Input(e)) => Err(e.into()),
        Err(StepError::Engine(e)) => Err(engine_error(e)),
    }
}
