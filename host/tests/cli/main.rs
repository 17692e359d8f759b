//! The `waxseal` binary, run for real in temporary folders: keygen, dns
//! record / policy / check (against dnsmasq, a real DNS server, on
//! loopback), sign and verify with both engines, exit codes, bad input, and
//! interop with dkimpy, Mail::DKIM, mailauth and OpenDKIM.
//!
//! Rooms: the helpers here (temp folders, the binary, keys and records),
//! then one module per concept: `keygen`, `dns`, `sign_verify`,
//! `mistakes` (bad input and operator errors), `memory` (big messages) and
//! `interop`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod dns;
mod interop;
mod keygen;
mod memory;
mod mistakes;
mod sign_verify;

use support::{Dnsmasq, split255};

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

// ---------------------------------------------------------------- helpers

struct Tmp(PathBuf);

impl Tmp {
    fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "waxseal-cli-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn waxseal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_waxseal"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn vector_key(name: &str) -> String {
    repo()
        .join("signer-core/tests/vectors/keys")
        .join(name)
        .display()
        .to_string()
}

const MSG: &str = "From: Joe SixPack <joe@example.com>\r\nTo: Suzie Q <suzie@example.net>\r\n\
Subject: Is dinner ready?\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n\
Message-ID: <20030712040037.46341.5F8J@example.com>\r\n\r\nHi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n";

/// A key pair made by `waxseal keygen` in `dir`, with its TXT value in a
/// key-dir file. Returns the private key path.
fn keygen(dir: &Tmp, selector: &str, algorithm: &str) -> String {
    let o = waxseal(&[
        "keygen",
        "-d",
        "example.com",
        "-s",
        selector,
        "-a",
        algorithm,
        "-o",
        dir.0.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let key = dir.join(&format!("{selector}/{selector}.private"));
    let value = record_value(&key, selector);
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(
        dir.join(&format!("keys/{selector}._domainkey.example.com.txt")),
        value,
    )
    .unwrap();
    key.display().to_string()
}

/// `sign -k KEY -s ed -d DOMAIN FILE`: how most tests sign (their Ed25519
/// keys have the selector `ed`).
fn sign_ed<'a>(key: &'a str, domain: &'a str, file: &'a str) -> [&'a str; 8] {
    ["sign", "-k", key, "-s", "ed", "-d", domain, file]
}

/// `waxseal --engine ENGINE sign -k KEY -s ed -d example.com OPTIONS.. FILE`.
fn sign_ed_with(engine: &str, key: &str, options: &[&str], file: &str) -> Output {
    let mut args = vec!["--engine", engine];
    args.extend(sign_ed(key, "example.com", file));
    args.splice(args.len() - 1..args.len() - 1, options.iter().copied());
    waxseal(&args)
}

/// Arguments as owned strings, for tables of command lines.
fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// The plain TXT value `waxseal dns record` prints for a key.
fn record_value(key: &Path, selector: &str) -> String {
    let o = waxseal(&[
        "dns",
        "record",
        "-k",
        key.to_str().unwrap(),
        "-d",
        "example.com",
        "-s",
        selector,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix(";   value: "))
        .unwrap()
        .to_string()
}
