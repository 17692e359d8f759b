//! Shared helpers for waxseal's cross-face and interop tests.
//!
//! This crate is test support: failing loudly (panicking) is its job.
//!
//! Test binaries (`tests/*.rs`):
//! - `interop_sign`: messages signed by waxseal-core, checked by dkimpy,
//!   Mail::DKIM, mailauth and OpenDKIM (installed by `interop/setup.sh`).
//! - `interop_verify`: messages signed by those four with fresh keys,
//!   checked by waxseal's verifier (and by the four, for the record).
//! - `faces`: one vector file through every face: the native core, the npm
//!   package in Node, Chromium, workerd and Deno, the components in
//!   wasmtime.
//!
//! The `waxseal` command's own tests (with a loopback DNS server) live in
//! `host/tests/cli/`, where cargo knows the binary's path.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of this crate (`tests/`).
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    crate_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/waxseal-<label>-<pid>-<n>`.
    pub fn new(label: &str) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("waxseal-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("WAXSEAL_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One signature's verdict from one peer.
#[derive(Debug, Clone)]
pub struct PeerSig {
    /// `d=` of the signature.
    pub d: String,
    /// `s=` of the signature.
    pub s: String,
    /// `a=` of the signature.
    pub a: String,
    /// True for pass.
    pub pass: bool,
    /// The peer's reason.
    pub detail: String,
}

/// The four independent verifiers.
pub const PEERS: [&str; 4] = ["dkimpy", "maildkim", "mailauth", "opendkim"];

/// Verdicts for one message: peer name -> signatures in header order, or
/// an error text when the peer gave no verdict.
pub type PeerVerdicts = Vec<(String, Result<Vec<PeerSig>, String>)>;

/// Runs `interop/peers.py verify` over `messages` with the key records in
/// `keys`. Panics with set-up instructions when the peers are missing.
pub fn peers_verify(keys: &Path, messages: &[PathBuf], lax: bool) -> Vec<PeerVerdicts> {
    let script = crate_dir().join("interop/peers.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg("verify")
        .arg("--policy")
        .arg(if lax { "lax" } else { "strict" });
    cmd.arg("--keys").arg(keys).args(messages);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "peers.py failed ({}): {}\nInstall the peers with: tests/interop/setup.sh",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut all = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bad JSON from peers.py: {e}: {line}"));
        let mut verdicts = Vec::new();
        for peer in PEERS {
            let p = &v["peers"][peer];
            let r = match p["error"].as_str() {
                Some(e) => Err(e.to_string()),
                None => Ok(p["sigs"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| PeerSig {
                                d: s["d"].as_str().unwrap_or_default().to_string(),
                                s: s["s"].as_str().unwrap_or_default().to_string(),
                                a: s["a"].as_str().unwrap_or_default().to_string(),
                                pass: s["result"] == "pass",
                                detail: s["detail"].as_str().unwrap_or_default().to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default()),
            };
            verdicts.push((peer.to_string(), r));
        }
        all.push(verdicts);
    }
    assert_eq!(
        all.len(),
        messages.len(),
        "peers.py answered {} of {} messages",
        all.len(),
        messages.len()
    );
    all
}

/// Why a peer did not sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSignError {
    /// The peer cannot make this kind of signature (peers.py exit 3).
    Unsupported(String),
    /// Anything else.
    Failed(String),
}

/// Signs `input` with one peer (`interop/peers.py sign`), writing `output`.
/// `extra` are further peers.py options (`--length`, `--headers ...`).
#[allow(clippy::too_many_arguments)]
pub fn peer_sign(
    peer: &str,
    key: &Path,
    domain: &str,
    selector: &str,
    algorithm: &str,
    canon: &str,
    extra: &[&str],
    input: &Path,
    output: &Path,
) -> Result<(), PeerSignError> {
    let script = crate_dir().join("interop/peers.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(["sign", "--peer", peer, "--key"])
        .arg(key)
        .args([
            "--domain",
            domain,
            "--selector",
            selector,
            "--algorithm",
            algorithm,
            "--canon",
            canon,
        ])
        .args(extra)
        .arg(input)
        .arg(output)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(PeerSignError::Unsupported(stderr)),
        _ => Err(PeerSignError::Failed(format!("{peer}: {stderr}"))),
    }
}
