//! `waxseal milter`: runs the MTA hook (see [`crate::milter`]), checks its
//! configuration (`--check`, `--check --dns`), or converts an OpenDKIM
//! configuration (`import-opendkim`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::milter::{Config, check, opendkim, server};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct MilterArgs {
    /// The configuration file (see host/milter/waxseal.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// Check the configuration and keys, print what the milter would do,
    /// and exit (0 ok, 2 the configuration does not load).
    #[arg(long)]
    pub(super) check: bool,
    /// With --check: also look up each key's published record and the
    /// signing domains' policy records (exit 1 when a record is missing or
    /// wrong).
    #[arg(long, requires = "check")]
    pub(super) dns: bool,
    #[command(subcommand)]
    pub(super) cmd: Option<MilterCmd>,
}

#[derive(Subcommand, Debug)]
pub(super) enum MilterCmd {
    /// Print the waxseal configuration equivalent to an OpenDKIM one
    /// (KeyTable, SigningTable, InternalHosts, Mode, OversignHeaders, On-*).
    ImportOpendkim {
        /// opendkim.conf
        file: PathBuf,
    },
}

pub(super) fn milter(a: &MilterArgs) -> Result<u8> {
    if let Some(MilterCmd::ImportOpendkim { file }) = &a.cmd {
        let toml = opendkim::convert(file)?;
        let mut out = std::io::stdout().lock();
        out.write_all(toml.as_bytes())?;
        out.flush()?;
        return Ok(0);
    }
    let Some(path) = &a.config else {
        anyhow::bail!("give the configuration file: waxseal milter --config waxseal.toml");
    };
    if a.check {
        let config = Config::load(path)?;
        let mut out = std::io::stdout().lock();
        let ok = check::check(&config, a.dns, &mut out)?;
        out.flush()?;
        return Ok(if ok { 0 } else { 1 });
    }
    server::run(path)?;
    Ok(0)
}
