//! The `waxseal` command. See `waxseal --help`; exit codes are in
//! [`waxseal::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    waxseal::cli::run(waxseal::cli::Cli::parse())
}
