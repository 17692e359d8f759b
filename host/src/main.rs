//! The `waxseal` command. See `waxseal --help`; exit codes are in
//! [`waxseal::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    let code = waxseal::cli::run(waxseal::cli::Cli::parse());
    // for tests and benchmarks: the process's peak resident memory
    if std::env::var_os("WAXSEAL_PEAK_MEMORY").is_some()
        && let Some(kib) = waxseal::cli::peak_memory_kib()
    {
        eprintln!("waxseal: peak memory {kib} KiB");
    }
    code
}
