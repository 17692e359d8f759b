//! The WebAssembly component in wasmtime: the code that parses untrusted
//! mail runs in the sandbox; private keys stay here and sign through the
//! component's `crypto` import (world `dkim-host-crypto`).
//!
//! One [`Engine`] and one pre-instantiated component serve every message;
//! instances are pooled and reused. Every call into the sandbox gets an
//! epoch deadline (a ticker thread advances the epoch every 10 ms) and the
//! store a memory cap, so a hostile message can neither hang nor exhaust
//! the host; an instance that trapped is thrown away, never reused.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use wasmtime::component::{
    Component, HasSelf, Linker, Resource, ResourceAny, ResourceTable, WasmList,
};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use sha2::{Digest as _, Sha256};

use crate::crypto::NativeKey;

/// Bindings generated from `wasm/wit/waxseal.wit`, world `dkim-host-crypto`.
#[allow(missing_docs, unreachable_pub)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wasm/wit",
        world: "dkim-host-crypto",
        with: {
            "waxseal:dkim/crypto.sha256": super::HostSha256,
        },
        // the resource table can refuse (the cap on live hashers): a trap
        imports: { default: trappable },
        // to find the options an instance has prepared
        additional_derives: [PartialEq],
    });
}

use bindings::waxseal;
use bindings::waxseal::dkim::crypto::Digest256;
pub use bindings::waxseal::dkim::types as wit;
use bindings::{DkimHostCrypto, DkimHostCryptoPre};

/// The component built from `wasm/` (world `dkim-host-crypto`), embedded
/// by the build.
pub static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/waxseal-host-crypto.wasm"));

/// How much one call into the sandbox may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall time for one call (one chunk, or finishing). Default: 10 s.
    pub deadline: Duration,
    /// Linear memory of one instance. Default: 256 MiB.
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(10),
            max_memory: 256 << 20,
        }
    }
}

const TICK: Duration = Duration::from_millis(10);

/// Messages up to this size are handed to the sandbox in one call; larger
/// ones in chunks of this size.
const ONE_CALL: usize = 256 * 1024;

/// Host state of one instance.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    keys: Arc<Vec<NativeKey>>,
    /// Live `sha256` resources, capped at [`MAX_HASHERS`].
    hashers: usize,
}

/// A running SHA-256 that the component feeds (`crypto.sha256`). The
/// core's SHA-256 (the `sha2` crate, with the CPU's SHA instructions), as
/// on the native path.
pub struct HostSha256(Sha256);

/// How many `sha256` resources one instance may hold at once: two per
/// signature are in use (body and header data), so this is far above any
/// message's need, and a component that leaks them traps instead of
/// growing host memory without bound.
const MAX_HASHERS: usize = 1024;

impl HostState {
    fn push_hasher(&mut self, h: HostSha256) -> wasmtime::Result<Resource<HostSha256>> {
        if self.hashers >= MAX_HASHERS {
            return Err(wasmtime::Error::msg(format!(
                "the component holds more than {MAX_HASHERS} hashes at once"
            )));
        }
        let r = self.table.push(h)?;
        self.hashers += 1;
        Ok(r)
    }
}

/// A SHA-256 digest as the WIT `digest256`: four big-endian words.
fn words(d: &[u8]) -> Digest256 {
    let mut w = [0u64; 4];
    for (x, b) in w.iter_mut().zip(d.chunks_exact(8)) {
        *x = u64::from_be_bytes(b.try_into().unwrap_or_default());
    }
    (w[0], w[1], w[2], w[3])
}

impl waxseal::dkim::crypto::HostSha256 for HostState {
    fn new(&mut self) -> wasmtime::Result<Resource<HostSha256>> {
        self.push_hasher(HostSha256(Sha256::new()))
    }

    fn update(&mut self, h: Resource<HostSha256>, data: Vec<u8>) -> wasmtime::Result<()> {
        self.table.get_mut(&h)?.0.update(&data);
        Ok(())
    }

    fn fork(&mut self, h: Resource<HostSha256>) -> wasmtime::Result<Resource<HostSha256>> {
        let copy = HostSha256(self.table.get(&h)?.0.clone());
        self.push_hasher(copy)
    }

    fn finish(&mut self, h: Resource<HostSha256>) -> wasmtime::Result<Digest256> {
        let ctx = self.table.get_mut(&h)?;
        Ok(words(&ctx.0.finalize_reset()))
    }

    fn drop(&mut self, h: Resource<HostSha256>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        self.hashers = self.hashers.saturating_sub(1);
        Ok(())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl waxseal::dkim::types::Host for HostState {}

impl waxseal::dkim::crypto::Host for HostState {
    fn key_algorithm(&mut self, handle: u32) -> wasmtime::Result<Option<wit::SigningAlgorithm>> {
        Ok(self.keys.get(handle as usize).map(|k| match k.algorithm() {
            waxseal_core::SigningAlgorithm::Ed25519Sha256 => wit::SigningAlgorithm::Ed25519Sha256,
            _ => wit::SigningAlgorithm::RsaSha256,
        }))
    }

    fn verify(
        &mut self,
        algorithm: wit::SigningAlgorithm,
        public_key: Vec<u8>,
        digest: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<bool> {
        // The core's own verification (the same answers as every other
        // path), compiled natively. The key comes re-encoded by the
        // component, which decoded the DNS record in the sandbox.
        let alg = match algorithm {
            wit::SigningAlgorithm::RsaSha256 => waxseal_core::SigningAlgorithm::RsaSha256,
            wit::SigningAlgorithm::Ed25519Sha256 => waxseal_core::SigningAlgorithm::Ed25519Sha256,
        };
        Ok(
            waxseal_core::PublicKey::from_record_data(alg.key_type(), &public_key)
                .and_then(|k| k.verify_digest(alg, &digest, &signature))
                .is_ok(),
        )
    }

    fn sha256_digest(&mut self, data: Vec<u8>) -> wasmtime::Result<Digest256> {
        Ok(words(&Sha256::digest(&data)))
    }

    fn sign(&mut self, handle: u32, data: Vec<u8>) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(sign_with(&self.keys, handle, &data))
    }
}

/// `crypto.sign`: the header data signed with host key `handle`.
fn sign_with(keys: &[NativeKey], handle: u32, data: &[u8]) -> Result<Vec<u8>, String> {
    match keys.get(handle as usize) {
        Some(key) => key.sign_header_data(data).map_err(|e| e.to_string()),
        None => Err(format!("no key with handle {handle}")),
    }
}

/// Replaces the generated bindings of the imports that take the bulk of
/// the data (`sha256-digest`, `sha256.update`, `sign`) with ones that read
/// their `list<u8>` argument in place, in the instance's memory, instead of
/// copying it into a host vector first: the canonical body, the header
/// data. They do what the `Host` trait methods above do (which the unit
/// tests call directly), and every component test goes through them.
fn link_zero_copy(linker: &mut Linker<HostState>) -> Result<()> {
    linker.allow_shadowing(true);
    let mut crypto = linker.instance("waxseal:dkim/crypto@0.1.0")?;
    crypto.func_wrap(
        "sha256-digest",
        |store: wasmtime::StoreContextMut<'_, HostState>, (data,): (WasmList<u8>,)| {
            Ok((words(&Sha256::digest(data.as_le_slice(&store))),))
        },
    )?;
    crypto.func_wrap(
        "sign",
        |store: wasmtime::StoreContextMut<'_, HostState>, (handle, data): (u32, WasmList<u8>)| {
            Ok((sign_with(
                &store.data().keys,
                handle,
                data.as_le_slice(&store),
            ),))
        },
    )?;
    crypto.func_wrap(
        "[method]sha256.update",
        |mut store: wasmtime::StoreContextMut<'_, HostState>,
         (h, data): (Resource<HostSha256>, WasmList<u8>)| {
            // the state leaves the table while the data is borrowed from
            // the instance's memory (both belong to the store)
            let mut state = std::mem::take(&mut store.data_mut().table.get_mut(&h)?.0);
            state.update(data.as_le_slice(&store));
            store.data_mut().table.get_mut(&h)?.0 = state;
            Ok(())
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

struct Instance {
    store: Store<HostState>,
    bindings: DkimHostCrypto,
    /// The options of the last whole message signed here, checked by the
    /// component once (`signing.prepared`): the next message with the same
    /// options skips that work.
    prepared: Option<Prepared>,
}

struct Prepared {
    options: Vec<wit::SignOptions>,
    /// The algorithm of each option's host key when prepared: the
    /// component reads it once, so a different key means preparing again.
    algorithms: Vec<Option<waxseal_core::SigningAlgorithm>>,
    resource: ResourceAny,
}

/// The algorithm of each option's host key among `keys`.
fn key_algorithms<'a>(
    options: &'a [wit::SignOptions],
    keys: &'a [NativeKey],
) -> impl Iterator<Item = Option<waxseal_core::SigningAlgorithm>> + 'a {
    options.iter().map(|o| match o.key {
        wit::SigningKey::Host(h) => keys.get(h as usize).map(NativeKey::algorithm),
        wit::SigningKey::Pem(_) => None,
    })
}

/// The component, compiled once, with a pool of instances.
pub struct ComponentHost {
    engine: Engine,
    pre: DkimHostCryptoPre<HostState>,
    pool: Mutex<Vec<Instance>>,
    limits: Limits,
    stop: Arc<AtomicBool>,
    /// WebAssembly instructions counted (WAXSEAL_WASM_FUEL set), summed
    /// over the calls of every instance since the host was made.
    fuel: Option<AtomicU64>,
    /// The key list of an idle instance (and of verification): none.
    no_keys: Arc<Vec<NativeKey>>,
}

impl Drop for ComponentHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An error from inside the component, with its stable code.
#[derive(Debug)]
pub struct GuestError {
    /// The WIT error code.
    pub code: wit::ErrorCode,
    /// For people.
    pub message: String,
}

impl std::fmt::Display for GuestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GuestError {}

impl From<wit::Error> for GuestError {
    fn from(e: wit::Error) -> Self {
        GuestError {
            code: e.code,
            message: e.message,
        }
    }
}

impl ComponentHost {
    /// Compiles the embedded component.
    pub fn embedded(limits: Limits) -> Result<Self> {
        Self::new(EMBEDDED, limits)
    }

    /// Compiles the component in `path` (`waxseal --component PATH`).
    pub fn from_file(path: &Path, limits: Limits) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read component {}", path.display()))?;
        Self::new(&bytes, limits)
    }

    /// Compiles a component (world `dkim-host-crypto`).
    pub fn new(bytes: &[u8], limits: Limits) -> Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // for `perf`: WAXSEAL_WASM_PERFMAP=1 writes /tmp/perf-<pid>.map
        // (needs wasmtime's `profiling` feature, as bench/ builds it)
        if std::env::var_os("WAXSEAL_WASM_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // for benchmarks on noisy machines: WAXSEAL_WASM_FUEL=1 counts the
        // WebAssembly instructions run (wasmtime fuel), a measure of the
        // work in the sandbox that load on the machine does not change
        let fuel = std::env::var_os("WAXSEAL_WASM_FUEL").is_some();
        config.consume_fuel(fuel);
        // compiled code is cached on disk, so the command starts fast
        if let Ok(cache) = wasmtime::Cache::new(wasmtime::CacheConfig::new()) {
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config)?;
        let component = Component::new(&engine, bytes)
            .map_err(anyhow::Error::from)
            .context("cannot compile the WebAssembly component")?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        DkimHostCrypto::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        link_zero_copy(&mut linker)?;
        let pre = DkimHostCryptoPre::new(linker.instantiate_pre(&component)?)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("waxseal-epoch".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    e.increment_epoch();
                }
            })?;
        Ok(ComponentHost {
            engine,
            pre,
            pool: Mutex::new(Vec::new()),
            limits,
            stop,
            fuel: fuel.then(|| AtomicU64::new(0)),
            no_keys: Arc::new(Vec::new()),
        })
    }

    fn checkout(&self, keys: Arc<Vec<NativeKey>>) -> Result<Instance> {
        let pooled = self
            .pool
            .lock()
            .map_err(|_| anyhow!("instance pool poisoned"))?
            .pop();
        let mut inst = match pooled {
            Some(i) => i,
            None => {
                let state = HostState {
                    wasi: WasiCtx::builder().build(),
                    table: ResourceTable::new(),
                    limits: StoreLimitsBuilder::new()
                        .memory_size(self.limits.max_memory)
                        .instances(4)
                        // a refused `memory.grow` traps (a clear error)
                        // instead of making the guest abort in its allocator
                        .trap_on_grow_failure(true)
                        .build(),
                    keys: keys.clone(),
                    hashers: 0,
                };
                let mut store = Store::new(&self.engine, state);
                store.limiter(|s| &mut s.limits);
                if self.fuel.is_some() {
                    store.set_fuel(u64::MAX)?;
                }
                self.arm(&mut store);
                let bindings = self.pre.instantiate(&mut store)?;
                Instance {
                    store,
                    bindings,
                    prepared: None,
                }
            }
        };
        inst.store.data_mut().keys = keys;
        Ok(inst)
    }

    fn checkin(&self, mut inst: Instance) {
        if let Some(total) = &self.fuel
            && let Ok(left) = inst.store.get_fuel()
            && inst.store.set_fuel(u64::MAX).is_ok()
        {
            total.fetch_add(u64::MAX - left, Ordering::Relaxed);
        }
        inst.store.data_mut().keys = self.no_keys.clone();
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(inst);
        }
    }

    /// A fresh deadline for the next call into the sandbox.
    fn arm(&self, store: &mut Store<HostState>) {
        let ticks = (self.limits.deadline.as_millis() / TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
    }

    /// Signs a message read from `message` in chunks, with the keys in
    /// `keys` (handles 0, 1, ... in `options`). Returns the header fields.
    pub fn sign(
        &self,
        message: &mut dyn Read,
        options: &[wit::SignOptions],
        keys: Arc<Vec<NativeKey>>,
    ) -> Result<Result<String, GuestError>> {
        let mut inst = self.checkout(keys)?;
        let r = self.sign_in(&mut inst, message, options);
        // a trap (deadline, memory, bug) leaves the instance unusable
        if r.is_ok() {
            self.checkin(inst);
        }
        r
    }

    /// [`sign`](Self::sign) for a message in memory: one that fits in one
    /// call goes over without a copy.
    pub fn sign_bytes(
        &self,
        message: &[u8],
        options: &[wit::SignOptions],
        keys: Arc<Vec<NativeKey>>,
    ) -> Result<Result<String, GuestError>> {
        if message.len() > ONE_CALL {
            return self.sign(&mut std::io::Cursor::new(message), options, keys);
        }
        let mut inst = self.checkout(keys)?;
        let r = self.sign_whole(&mut inst, message, options);
        if r.is_ok() {
            self.checkin(inst);
        }
        r
    }

    /// Signs a message that fits in one call, with the instance's
    /// `prepared` resource for these options.
    fn sign_whole(
        &self,
        inst: &mut Instance,
        message: &[u8],
        options: &[wit::SignOptions],
    ) -> Result<Result<String, GuestError>> {
        let prepared = match self.prepare(inst, options)? {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        self.arm(&mut inst.store);
        let r = inst.bindings.waxseal_dkim_signing().prepared().call_sign(
            &mut inst.store,
            prepared,
            message,
        )?;
        Ok(r.map_err(GuestError::from))
    }

    fn sign_in(
        &self,
        inst: &mut Instance,
        message: &mut dyn Read,
        options: &[wit::SignOptions],
    ) -> Result<Result<String, GuestError>> {
        // A message that fits in one buffer goes over in a single call (to
        // the `prepared` resource); larger ones stream through a `signer`.
        let mut first = Vec::new();
        message
            .take(ONE_CALL as u64 + 1)
            .read_to_end(&mut first)
            .context("cannot read the message")?;
        if first.len() <= ONE_CALL {
            return self.sign_whole(inst, &first, options);
        }
        let signing = inst.bindings.waxseal_dkim_signing();
        let signer = signing.signer();
        self.arm(&mut inst.store);
        let res = match signer.call_create(&mut inst.store, options)? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e.into())),
        };
        self.arm(&mut inst.store);
        if let Err(e) = signer.call_update(&mut inst.store, res, &first)? {
            res.resource_drop(&mut inst.store)?;
            return Ok(Err(e.into()));
        }
        drop(first);
        let mut buf = vec![0u8; ONE_CALL];
        let outcome = loop {
            let n = read_some(message, &mut buf)?;
            if n == 0 {
                self.arm(&mut inst.store);
                break signer.call_finish(&mut inst.store, res)?;
            }
            self.arm(&mut inst.store);
            if let Err(e) = signer.call_update(&mut inst.store, res, &buf[..n])? {
                break Err(e);
            }
        };
        res.resource_drop(&mut inst.store)?;
        Ok(outcome.map_err(GuestError::from))
    }

    /// The instance's `prepared` resource for `options`: the one it has
    /// when the options and key algorithms are the same as last time, else
    /// a new one (dropping the old).
    fn prepare(
        &self,
        inst: &mut Instance,
        options: &[wit::SignOptions],
    ) -> Result<Result<ResourceAny, GuestError>> {
        let keys = &inst.store.data().keys;
        if let Some(p) = &inst.prepared
            && p.options == options
            && p.algorithms
                .iter()
                .copied()
                .eq(key_algorithms(options, keys))
        {
            return Ok(Ok(p.resource));
        }
        let algorithms = key_algorithms(options, keys).collect();
        if let Some(old) = inst.prepared.take() {
            old.resource.resource_drop(&mut inst.store)?;
        }
        let signing = inst.bindings.waxseal_dkim_signing();
        self.arm(&mut inst.store);
        Ok(
            match signing.prepared().call_create(&mut inst.store, options)? {
                Ok(resource) => {
                    inst.prepared = Some(Prepared {
                        options: options.to_vec(),
                        algorithms,
                        resource,
                    });
                    Ok(resource)
                }
                Err(e) => Err(e.into()),
            },
        )
    }

    /// Verifies a message read from `message`: the component names the DNS
    /// records it needs, `lookup` answers them.
    pub fn verify(
        &self,
        message: &mut dyn Read,
        policy: &wit::VerifyPolicy,
        now: Option<u64>,
        authserv_id: &str,
        lookup: &mut dyn FnMut(&str) -> waxseal_core::KeyAnswer,
    ) -> Result<Result<wit::VerifyReport, GuestError>> {
        let mut inst = self.checkout(self.no_keys.clone())?;
        let r = self.verify_in(&mut inst, message, policy, now, authserv_id, lookup);
        if r.is_ok() {
            self.checkin(inst);
        }
        r
    }

    fn verify_in(
        &self,
        inst: &mut Instance,
        message: &mut dyn Read,
        policy: &wit::VerifyPolicy,
        now: Option<u64>,
        authserv_id: &str,
        lookup: &mut dyn FnMut(&str) -> waxseal_core::KeyAnswer,
    ) -> Result<Result<wit::VerifyReport, GuestError>> {
        let verification = inst.bindings.waxseal_dkim_verification();
        let verifier = verification.verifier();
        self.arm(&mut inst.store);
        let res = verifier.call_create(&mut inst.store, *policy, now)?;
        let mut buf = vec![0u8; ONE_CALL];
        let outcome = (|| -> Result<Result<wit::VerifyReport, wit::Error>> {
            loop {
                let n = read_some(message, &mut buf)?;
                self.arm(&mut inst.store);
                if n == 0 {
                    if let Err(e) = verifier.call_finish_headers(&mut inst.store, res)? {
                        return Ok(Err(e));
                    }
                    break;
                }
                if let Err(e) = verifier.call_update(&mut inst.store, res, &buf[..n])? {
                    return Ok(Err(e));
                }
            }
            self.arm(&mut inst.store);
            for q in verifier.call_queries(&mut inst.store, res)? {
                if q.kind != wit::QueryKind::Key {
                    continue;
                }
                let answer = match lookup(&q.name) {
                    waxseal_core::KeyAnswer::Records(r) => wit::TxtAnswer::Records(r),
                    waxseal_core::KeyAnswer::NxDomain => wit::TxtAnswer::NxDomain,
                    waxseal_core::KeyAnswer::TempFail => wit::TxtAnswer::TempFail,
                };
                self.arm(&mut inst.store);
                verifier.call_answer(&mut inst.store, res, &q.name, &answer)?;
            }
            self.arm(&mut inst.store);
            Ok(verifier.call_finish(&mut inst.store, res, authserv_id)?)
        })();
        let outcome = outcome?;
        res.resource_drop(&mut inst.store)?;
        Ok(outcome.map_err(GuestError::from))
    }

    /// WebAssembly instructions run so far by calls that completed (with
    /// `WAXSEAL_WASM_FUEL` set when the host was made; else `None`).
    pub fn instructions(&self) -> Option<u64> {
        self.fuel.as_ref().map(|f| f.load(Ordering::Relaxed))
    }

    /// Number of idle instances in the pool.
    pub fn pooled(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
    }
}

/// Reads as much as is available into `buf` (retrying on interrupts).
fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("cannot read the message"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindings::waxseal::dkim::crypto::HostSha256 as _;

    fn state() -> HostState {
        HostState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new().build(),
            keys: Arc::new(Vec::new()),
            hashers: 0,
        }
    }

    #[test]
    fn host_sha256_hashes_forks_and_resets() {
        let mut s = state();
        let a = s.new().unwrap();
        s.update(Resource::new_borrow(a.rep()), b"ab".to_vec())
            .unwrap();
        let b = s.fork(Resource::new_borrow(a.rep())).unwrap();
        s.update(Resource::new_borrow(a.rep()), b"c".to_vec())
            .unwrap();
        s.update(Resource::new_borrow(b.rep()), b"d".to_vec())
            .unwrap();
        let sha = |d: &[u8]| words(waxseal_core::HashAlgorithm::Sha256.digest(d).as_bytes());
        assert_eq!(
            s.finish(Resource::new_borrow(a.rep())).unwrap(),
            sha(b"abc")
        );
        assert_eq!(
            s.finish(Resource::new_borrow(b.rep())).unwrap(),
            sha(b"abd")
        );
        // finishing starts over
        assert_eq!(s.finish(Resource::new_borrow(a.rep())).unwrap(), sha(b""));
        s.drop(a).unwrap();
        s.drop(b).unwrap();
        assert_eq!(s.hashers, 0);
    }

    #[test]
    fn live_hashers_are_capped() {
        // a component that leaks hashes gets a trap, not unbounded host memory
        let mut s = state();
        let live: Vec<_> = (0..MAX_HASHERS).map(|_| s.new().unwrap()).collect();
        assert!(s.new().is_err());
        assert!(s.fork(Resource::new_borrow(live[0].rep())).is_err());
        // dropping one makes room again
        let first = live.into_iter().next().unwrap();
        s.drop(first).unwrap();
        assert!(s.new().is_ok());
    }
}
