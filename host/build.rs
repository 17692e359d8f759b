//! Embeds the WebAssembly component (world `dkim-host-crypto`, built from
//! `wasm/`) in the `waxseal` binary.
//!
//! With `WAXSEAL_COMPONENT=path` that file is embedded as is (wasm/build.sh
//! builds it to wasm/component/waxseal-host-crypto.wasm); otherwise this
//! script builds it with a nested cargo, in its own target directory so
//! the outer build's lock is not in the way.

// A build script reports failure by panicking; that is its interface.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("waxseal-host-crypto.wasm");
    println!("cargo:rerun-if-env-changed=WAXSEAL_COMPONENT");
    if let Some(path) = std::env::var_os("WAXSEAL_COMPONENT") {
        // relative paths are relative to the workspace root
        let path = root.join(PathBuf::from(path));
        println!("cargo:rerun-if-changed={}", path.display());
        std::fs::copy(&path, &out)
            .unwrap_or_else(|e| panic!("WAXSEAL_COMPONENT={}: {e}", path.display()));
        return;
    }
    for dir in [
        "wasm/src",
        "wasm/wit",
        "wasm/Cargo.toml",
        "signer-core/src",
        "signer-core/Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    // A relative CARGO_TARGET_DIR is relative to where cargo was started,
    // which a build script cannot know: the workspace's target/ then.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| root.join("target"))
        .join("component-build");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--locked",
            "--quiet",
            "-p",
            "waxseal-wasm",
            "--features",
            "host-crypto",
        ])
        .args([
            "--target",
            "wasm32-wasip2",
            "--profile",
            "component-release",
            "--target-dir",
        ])
        .arg(&target_dir);
    // Keep the outer build's settings (target, flags, profile) out of it.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || k.starts_with("RUSTC")
            || k == "RUSTFLAGS"
            || k == "RUSTDOCFLAGS"
        {
            cmd.env_remove(k);
        }
    }
    let status = cmd
        .status()
        .expect("cannot run cargo to build the component");
    assert!(
        status.success(),
        "building the WebAssembly component failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    let built = target_dir.join("wasm32-wasip2/component-release/waxseal_wasm.wasm");
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
}
