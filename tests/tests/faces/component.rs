//! The WebAssembly components in wasmtime: the one `waxseal` embeds (world
//! `dkim-host-crypto`), keys in the sandbox and in the host, and the
//! self-contained one (world `dkim`) in a plain wasmtime embedding.

use super::*;

/// The resolved vectors' DNS records as a lookup.
fn resolved_lookup() -> impl FnMut(&str) -> KeyAnswer {
    let resolved: Value =
        serde_json::from_str(&std::fs::read_to_string(resolved()).unwrap()).unwrap();
    move |n: &str| match resolved["dns"][n].as_array() {
        Some(recs) => KeyAnswer::Records(
            recs.iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().as_bytes().to_vec())
                        .collect()
                })
                .collect(),
        ),
        None => KeyAnswer::NxDomain,
    }
}

/// The component `waxseal` embeds (world dkim-host-crypto), in wasmtime:
/// once with the PEM keys passed into the sandbox, once with the keys kept
/// in the host (native crypto behind the `crypto` import). Both must give
/// the native core's bytes.
#[test]
fn component_face() {
    use std::io::Cursor;
    use std::sync::Arc;
    use waxseal::component::{ComponentHost, Limits, wit};
    use waxseal::crypto::NativeKey;
    use waxseal::engine::error_code;

    let host = ComponentHost::embedded(Limits::default()).unwrap();
    let v = vectors();
    let mut lookup = resolved_lookup();
    for (name, exp) in expected() {
        let c = v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name.as_str())
            .unwrap();
        let msg = message(&v, c["message"].as_str().unwrap());
        let sigs = c["signatures"].as_array().unwrap();
        let pems: Vec<String> = sigs
            .iter()
            .map(|s| key_text(&v, s["key"].as_str().unwrap()))
            .collect();
        for in_host in [false, true] {
            let options: Vec<wit::SignOptions> = sigs
                .iter()
                .enumerate()
                .map(|(i, s)| wit::SignOptions {
                    domain: s["domain"].as_str().unwrap().into(),
                    selector: s["selector"].as_str().unwrap().into(),
                    key: if in_host {
                        wit::SigningKey::Host(i as u32)
                    } else {
                        wit::SigningKey::Pem(pems[i].clone())
                    },
                    identity: s["identity"].as_str().map(Into::into),
                    headers: s["headers"]
                        .as_array()
                        .map(|a| a.iter().map(|x| x.as_str().unwrap().into()).collect()),
                    oversign: s["oversign"]
                        .as_array()
                        .map(|a| a.iter().map(|x| x.as_str().unwrap().into()).collect()),
                    canonicalization: s["canonicalization"].as_str().map(Into::into),
                    timestamp: s["timestamp"].as_u64(),
                    expiration: s["expiration"].as_u64(),
                    body_length: s["bodyLength"].as_bool().unwrap_or(false),
                    copy_headers: s["copyHeaders"].as_bool().unwrap_or(false),
                })
                .collect();
            // keys lent by the host are parsed there: a key the host
            // refuses is the same error as the sandbox's
            let keys: Result<Vec<NativeKey>, String> = if in_host {
                pems.iter()
                    .map(|p| {
                        PrivateKey::parse(p.as_bytes())
                            .map_err(|e| format!("error:{}", e.code()))
                            .map(|k| NativeKey::from_core(k).unwrap())
                    })
                    .collect()
            } else {
                Ok(Vec::new())
            };
            let got = match keys {
                Err(e) => e,
                Ok(keys) => match host
                    .sign(&mut Cursor::new(&msg), &options, Arc::new(keys))
                    .unwrap()
                {
                    Ok(h) => {
                        let lf = waxseal_core::message::uses_bare_lf(&msg);
                        if lf { h.replace("\r\n", "\n") } else { h }
                    }
                    Err(e) => format!("error:{}", error_code(e.code)),
                },
            };
            assert_eq!(&got, exp, "{name} (keys in host: {in_host})");
        }
        if !exp.starts_with("error:") {
            let mut signed = exp.as_bytes().to_vec();
            signed.extend_from_slice(&msg);
            let policy = wit::VerifyPolicy {
                min_rsa_bits: None,
                allow_rsa_sha1: false,
                allow_unsigned_body_tail: false,
                allow_unsigned_from: false,
                allow_from_count: false,
                ignore_expiration: false,
                clock_skew: None,
                max_signatures: None,
                max_header_bytes: None,
            };
            let r = host
                .verify(
                    &mut Cursor::new(&signed),
                    &policy,
                    Some(VERIFY_NOW),
                    "mx",
                    &mut lookup,
                )
                .unwrap()
                .unwrap();
            assert!(
                r.results.iter().all(|x| x.result == wit::DkimResult::Pass),
                "{name}: {:?}",
                r.results
            );
            // Tampered copies: the sandbox (hashes and public-key checks
            // done by the host) says what the core linked natively says.
            let b = exp
                .as_bytes()
                .windows(3)
                .position(|w| matches!(w[0], b' ' | b'\t') && &w[1..] == b"b=")
                .unwrap()
                + 3;
            let mut bad_sig = signed.clone();
            bad_sig[b + 4] = if bad_sig[b + 4] == b'A' { b'B' } else { b'A' };
            let mut bad_body = signed.clone();
            bad_body.extend_from_slice(b"appended\r\n");
            let bad_header = String::from_utf8_lossy(&signed)
                .replacen("Subject:", "Subject: re:", 1)
                .into_bytes();
            for (what, m) in [
                ("signature", &bad_sig),
                ("body", &bad_body),
                ("header", &bad_header),
            ] {
                let sandbox: Vec<String> = host
                    .verify(
                        &mut Cursor::new(m),
                        &policy,
                        Some(VERIFY_NOW),
                        "mx",
                        &mut lookup,
                    )
                    .unwrap()
                    .unwrap()
                    .results
                    .into_iter()
                    .map(|x| x.summary)
                    .collect();
                let native: Vec<String> = waxseal_core::verify(
                    m,
                    &waxseal_core::VerifyPolicy::default(),
                    Some(VERIFY_NOW),
                    &mut lookup,
                )
                .unwrap()
                .results
                .iter()
                .map(|x| x.to_string())
                .collect();
                assert_eq!(sandbox, native, "{name}: tampered {what}");
                // (a changed body may still pass with l=, a changed
                // header when it is not signed)
                assert!(
                    what != "signature" || sandbox.iter().any(|x| x.starts_with("fail")),
                    "{name}: tampered {what}: {sandbox:?}"
                );
            }
        }
    }
    assert!(host.pooled() >= 1, "instances go back to the pool");
    eprintln!(
        "component (dkim-host-crypto): {} vectors identical, keys in the sandbox and in the host",
        expected().len()
    );
}

/// Bindings for the self-contained world `dkim`, as any wasmtime embedder
/// would write them.
#[allow(missing_docs, unreachable_pub)]
mod standalone {
    wasmtime::component::bindgen!({ path: "../wasm/wit", world: "dkim" });
}

/// The self-contained component (`wasm/component/waxseal.wasm`, world
/// `dkim`: pure-Rust crypto inside, keys passed in) loaded by a plain
/// wasmtime embedding: same bytes, and key generation draws on the host's
/// wasi:random.
#[test]
fn standalone_component_face() {
    use standalone::waxseal::dkim::types as wit;
    use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
    use wasmtime::{Config, Engine, Store};
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

    struct State {
        wasi: WasiCtx,
        table: ResourceTable,
    }
    impl WasiView for State {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView {
                ctx: &mut self.wasi,
                table: &mut self.table,
            }
        }
    }
    impl standalone::waxseal::dkim::types::Host for State {}

    let path = repo_root().join("wasm/component/waxseal.wasm");
    assert!(
        path.exists(),
        "build the component first: wasm/build.sh component"
    );
    let mut config = Config::new();
    config.cache(Some(
        wasmtime::Cache::new(wasmtime::CacheConfig::new()).unwrap(),
    ));
    let engine = Engine::new(&config).unwrap();
    let component = Component::from_file(&engine, &path).unwrap();
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    standalone::Dkim::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s).unwrap();
    let mut store = Store::new(
        &engine,
        State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    let dkim = standalone::Dkim::instantiate(&mut store, &component, &linker).unwrap();

    let v = vectors();
    for (name, exp) in expected() {
        let c = v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name.as_str())
            .unwrap();
        let msg = message(&v, c["message"].as_str().unwrap());
        let options: Vec<wit::SignOptions> = c["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| wit::SignOptions {
                domain: s["domain"].as_str().unwrap().into(),
                selector: s["selector"].as_str().unwrap().into(),
                key: wit::SigningKey::Pem(key_text(&v, s["key"].as_str().unwrap())),
                identity: s["identity"].as_str().map(Into::into),
                headers: s["headers"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_str().unwrap().into()).collect()),
                oversign: s["oversign"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_str().unwrap().into()).collect()),
                canonicalization: s["canonicalization"].as_str().map(Into::into),
                timestamp: s["timestamp"].as_u64(),
                expiration: s["expiration"].as_u64(),
                body_length: s["bodyLength"].as_bool().unwrap_or(false),
                copy_headers: s["copyHeaders"].as_bool().unwrap_or(false),
            })
            .collect();
        let got = match dkim
            .waxseal_dkim_signing()
            .call_sign(&mut store, &msg, &options)
            .unwrap()
        {
            Ok(h) => {
                let lf = waxseal_core::message::uses_bare_lf(&msg);
                if lf { h.replace("\r\n", "\n") } else { h }
            }
            // this face has its own bindings: its codes match the core's
            // by name
            Err(e) => format!(
                "error:{}",
                waxseal_core::ErrorCode::ALL
                    .iter()
                    .find(|c| format!("ErrorCode::{c:?}") == format!("{:?}", e.code))
                    .unwrap_or_else(|| panic!("unknown error {:?}: {}", e.code, e.message))
            ),
        };
        assert_eq!(&got, exp, "{name}");
    }
    let pair = dkim
        .waxseal_dkim_keys()
        .call_generate_key(&mut store, wit::KeyType::Ed25519, None)
        .unwrap()
        .unwrap();
    let again = dkim
        .waxseal_dkim_keys()
        .call_generate_key(&mut store, wit::KeyType::Ed25519, None)
        .unwrap()
        .unwrap();
    assert_ne!(
        pair.private_key, again.private_key,
        "fresh randomness from wasi:random"
    );
    let rec = dkim
        .waxseal_dkim_keys()
        .call_dns_record(
            &mut store,
            &pair.private_key,
            None,
            "s",
            "example.com",
            true,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.value,
        format!("v=DKIM1; k=ed25519; t=y; p={}", pair.public_key)
    );
    eprintln!(
        "component (dkim, standalone embedding): {} vectors identical",
        expected().len()
    );
}
