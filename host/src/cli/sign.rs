//! `waxseal sign`: signs a message from a file or standard input and
//! prints the signed message (or, with `--header-only`, the
//! DKIM-Signature fields alone).
//!
//! The message streams through the signer in one pass, so memory does not
//! grow with its size: a file is signed, then copied out; standard input
//! is kept in memory up to [`SPOOL_IN_MEMORY`] bytes and beyond that in a
//! private temporary file (the signature goes on top, so the message must
//! be read twice).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use waxseal_core::message::LineEnds;

use super::{Cli, engine, load_key, now};
use crate::component::read_some;
use crate::crypto::NativeKey;
use crate::engine::{SignSpec, describe_engine_error};

/// Standard input up to this size is kept in memory while it is signed;
/// larger input goes to a temporary file.
pub(super) const SPOOL_IN_MEMORY: usize = 1 << 20;

/// Bytes read per call.
const CHUNK: usize = 256 * 1024;

#[derive(Args, Debug)]
pub(super) struct SignArgs {
    /// Private key file (PEM or DER, PKCS#1 or PKCS#8, RSA or Ed25519).
    /// Repeat with --selector to sign twice (e.g. RSA and Ed25519).
    #[arg(long, short = 'k', required = true)]
    pub(super) key: Vec<PathBuf>,
    /// The signing domain (d=).
    #[arg(long, short = 'd')]
    pub(super) domain: String,
    /// The selector (s=), one per --key.
    #[arg(long, short = 's', required = true)]
    pub(super) selector: Vec<String>,
    /// Canonicalization (c=): relaxed/relaxed, relaxed/simple,
    /// simple/relaxed or simple/simple.
    #[arg(long, short = 'c', default_value = "relaxed/relaxed")]
    pub(super) canonicalization: String,
    /// Header fields to sign, comma-separated (default: From, Reply-To,
    /// Subject, Date, To, Cc, Resent-*, In-Reply-To, References, List-*,
    /// Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding).
    #[arg(long, value_delimiter = ',')]
    pub(super) headers: Option<Vec<String>>,
    /// Header fields to oversign, comma-separated (default From, To,
    /// Subject, Date, Cc, Reply-To, MIME-Version, Content-Type,
    /// Content-Transfer-Encoding; none when --headers is given).
    #[arg(long, value_delimiter = ',')]
    pub(super) oversign: Option<Vec<String>>,
    /// The agent or user identity (i=), e.g. joe@example.com.
    #[arg(long, short = 'i')]
    pub(super) identity: Option<String>,
    /// Let the signature expire this many seconds after signing (x=).
    #[arg(long, value_name = "SECONDS")]
    pub(super) expire: Option<u64>,
    /// Sign with this timestamp (t=, seconds since 1970) instead of now.
    #[arg(long, value_name = "SECONDS")]
    pub(super) timestamp: Option<u64>,
    /// Write l= (the body length). Lets anyone append text: avoid.
    #[arg(long)]
    pub(super) body_length: bool,
    /// Write z= (copies of the signed header fields, for debugging).
    #[arg(long)]
    pub(super) copy_headers: bool,
    /// Print only the DKIM-Signature field(s), not the whole message.
    #[arg(long)]
    pub(super) header_only: bool,
    /// The message; - or nothing for standard input.
    pub(super) file: Option<PathBuf>,
}

/// Where the message comes from.
pub(super) enum Input {
    /// A regular file: read once to sign, again to copy out.
    File(File),
    /// Standard input, a pipe or anything else that reads once.
    Stream(Box<dyn Read>),
}

impl Input {
    /// `path`, or standard input for `None` or `-`.
    pub(super) fn open(path: &Option<PathBuf>) -> Result<Self> {
        match path {
            Some(p) if p.as_os_str() != "-" => {
                let f = File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
                let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
                Ok(if regular {
                    Input::File(f)
                } else {
                    Input::Stream(Box::new(f))
                })
            }
            _ => Ok(Input::Stream(Box::new(std::io::stdin()))),
        }
    }

    pub(super) fn reader(&mut self) -> &mut dyn Read {
        match self {
            Input::File(f) => f,
            Input::Stream(r) => r.as_mut(),
        }
    }
}

/// A copy of a message read once: in memory while small, then in an
/// unnamed temporary file (mode 0600, gone when closed).
#[derive(Default)]
struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
}

impl Spool {
    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if self.file.is_none() && self.memory.len() + chunk.len() > SPOOL_IN_MEMORY {
            let mut f = tempfile::tempfile().context("cannot create a temporary file")?;
            f.write_all(&self.memory)
                .context("cannot write the temporary file")?;
            self.memory = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f
                .write_all(chunk)
                .context("cannot write the temporary file"),
            None => {
                self.memory.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    fn copy_to(&mut self, out: &mut dyn Write) -> Result<()> {
        match &mut self.file {
            Some(f) => {
                f.seek(SeekFrom::Start(0))
                    .context("cannot read the temporary file")?;
                std::io::copy(f, out)?;
            }
            None => out.write_all(&self.memory)?,
        }
        Ok(())
    }
}

pub(super) fn sign(cli: &Cli, a: &SignArgs) -> Result<u8> {
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
    // a U-label domain is signed with its A-labels (RFC 8616 3)
    let domain = crate::names::domain("--domain", &a.domain)?
        .as_str()
        .to_string();
    let identity = a
        .identity
        .as_deref()
        .map(|i| crate::names::identity("--identity", i))
        .transpose()?;
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
                domain: domain.clone(),
                selector: s.clone(),
                identity: identity.clone(),
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
    let mut input = Input::open(&a.file)?;
    let (engine, limits) = engine(cli)?;
    let engine_error = |e: anyhow::Error| anyhow::anyhow!("{}", describe_engine_error(&e, &limits));
    let mut session = engine
        .signer(&specs, Arc::new(keys))
        .map_err(engine_error)??;
    // standard input is kept for the copy that follows the signature
    let mut spool = match (&input, a.header_only) {
        (Input::Stream(_), false) => Some(Spool::default()),
        _ => None,
    };
    let mut ends = LineEnds::default();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = read_some(input.reader(), &mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        total += n as u64;
        ends.see(chunk);
        if let Some(s) = &mut spool {
            s.write(chunk)?;
        }
        session.update(chunk).map_err(engine_error)??;
    }
    if total == 0 {
        bail!("the message is empty");
    }
    let headers = session.finish().map_err(engine_error)??;
    let headers = ends.adapt(headers);
    let mut out = std::io::stdout().lock();
    out.write_all(headers.as_bytes())?;
    if !a.header_only {
        match (&mut input, &mut spool) {
            (_, Some(spool)) => spool.copy_to(&mut out)?,
            (Input::File(f), None) => {
                f.seek(SeekFrom::Start(0))
                    .context("cannot read the message again")?;
                std::io::copy(f, &mut out)?;
            }
            (Input::Stream(_), None) => {}
        }
    }
    out.flush()?;
    Ok(0)
}
