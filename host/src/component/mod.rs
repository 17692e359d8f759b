//! The WebAssembly component in wasmtime: the code that parses untrusted
//! mail runs in the sandbox; private keys stay here and sign through the
//! component's `crypto` import (world `dkim-host-crypto`).
//!
//! One [`ComponentHost`] (a wasmtime engine and a pre-instantiated
//! component) serves every message; instances are pooled and reused (up to
//! four idle ones per core are kept). A
//! message holds one instance from start to finish ([`session`]), so it
//! can stream in chunks while the host does other work (a milter waits for
//! the next chunk, or for DNS). Every call into the sandbox gets an epoch
//! deadline (a ticker thread advances the epoch every 10 ms) and the store
//! a memory cap, so a hostile message can neither hang nor exhaust the
//! host; an instance that trapped is thrown away, never reused.
//!
//! - [`imports`]: the host's side of the `crypto` interface (native
//!   SHA-256 and public-key checks, signing through the lent keys).
//! - [`lending`]: the keys lent to an instance for one message, and what
//!   they sign.
//! - [`session`]: a message signed or verified in chunks.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny};
use wasmtime::{Config, Engine, Store};
use waxseal_core::verify::{Driver, Lookups};

use crate::crypto::NativeKey;

pub mod imports;
pub mod lending;
pub mod session;

pub use imports::{HostSha256, HostState};
pub use lending::{Lending, Refusal};
pub use session::{SandboxSigner, SandboxVerifier};

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

/// A message this size or smaller is signed in a single call, held in the
/// host until its end (see [`session::SandboxSigner`]).
const ONE_CALL: usize = 256 * 1024;

/// Small chunks of a message that streams are gathered into calls of up
/// to this many bytes; a chunk of half this or more goes as it is (see
/// `session::Gather::push`).
///
/// Design note: a streaming message holds its instance until its end, and
/// the instance's memory grows by what one call hands it (the data is
/// copied into it). Under load a milter has as many messages streaming as
/// the MTA has in its body stage at once, hundreds at worst: in calls of
/// 256 KiB each such message cost about 0.9 MB resident, in calls of
/// 64 KiB (the size of Postfix's body packets) 0.3 MB
/// (`tests/milter/milter_hold.py`), for three more calls per 256 KiB
/// (a microsecond each, against about 300 to canonicalize and hash
/// 256 KiB).
const STREAM_CALL: usize = 64 * 1024;

/// An instance of the component with its store.
/// Boxed wherever it goes (the pool, a message's lease): the bindings make
/// it about 600 bytes, moved several times a message otherwise.
struct Instance {
    store: Store<HostState>,
    bindings: DkimHostCrypto,
    /// The pool it goes back to.
    role: Role,
    /// The options of the last message signed here, checked by the
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

/// What an instance serves; each has its own pool.
///
/// Design note: an instance keeps its memory from one message to the next
/// (a fresh one per message would cost more than signing a small message).
/// A verifying instance parses mail from anyone: if a hostile message ever
/// took over its code and then returned quietly, it must never be lent a
/// key, so signing and verifying never share an instance. What such an
/// instance could still do is bounded by what it is lent (nothing, for
/// verification) and by the host's checks of what it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Signing: mail from the operator's own senders; keys are lent.
    Sign,
    /// Verifying and everything else: nothing is lent.
    Verify,
}

/// What every instance of a [`ComponentHost`] shares.
struct Shared {
    engine: Engine,
    pre: DkimHostCryptoPre<HostState>,
    /// Idle instances: signing's, then verification's ([`Role`]).
    #[expect(
        clippy::vec_box,
        reason = "an instance leaves the pool and comes back every message: a pointer moves, not 600 bytes"
    )]
    pool: Mutex<[Vec<Box<Instance>>; 2]>,
    limits: Limits,
    stop: Arc<AtomicBool>,
    /// WebAssembly instructions counted (WAXSEAL_WASM_FUEL set), summed
    /// over the calls of every instance since the host was made.
    fuel: Option<AtomicU64>,
    /// What an idle instance (and verification) is lent: nothing.
    nothing_lent: Arc<Lending>,
    /// Idle instances kept: a burst of concurrent messages makes more, and
    /// they are dropped again when they come back beyond this.
    max_idle: usize,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The component, compiled once, with a pool of instances. Cloning is
/// cheap and shares the pool.
#[derive(Clone)]
pub struct ComponentHost {
    shared: Arc<Shared>,
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

/// Why a step of a streaming session failed: the message or options
/// (`E`, typed, with its stable code), or the engine running it (a trapped
/// or timed-out instance, ...).
#[derive(Debug)]
pub enum StepError<E> {
    /// The message or the options.
    Input(E),
    /// The engine.
    Engine(anyhow::Error),
}

impl<E: std::fmt::Display> std::fmt::Display for StepError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Input(e) => e.fmt(f),
            StepError::Engine(e) => write!(f, "{e:#}"),
        }
    }
}

impl<E> StepError<E> {
    /// The engine's outer result and the step's inner one, as one.
    pub fn flatten<T>(r: Result<Result<T, E>>) -> Result<T, StepError<E>> {
        match r {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(e)) => Err(StepError::Input(e)),
            Err(e) => Err(StepError::Engine(e)),
        }
    }

    /// Back to the engine's outer result and the step's inner one.
    pub fn nest<T>(r: Result<T, StepError<E>>) -> Result<Result<T, E>> {
        match r {
            Ok(t) => Ok(Ok(t)),
            Err(StepError::Input(e)) => Ok(Err(e)),
            Err(StepError::Engine(e)) => Err(e),
        }
    }
}

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
        if let Ok(cache) = wasmtime::Cache::new(cache_config()) {
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config)?;
        let component = Component::new(&engine, bytes)
            .map_err(anyhow::Error::from)
            .context("cannot compile the WebAssembly component")?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        DkimHostCrypto::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        imports::link_zero_copy(&mut linker)?;
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
            shared: Arc::new(Shared {
                engine,
                pre,
                pool: Mutex::new([Vec::new(), Vec::new()]),
                limits,
                stop,
                fuel: fuel.then(|| AtomicU64::new(0)),
                nothing_lent: Arc::new(Lending::default()),
                max_idle: 4 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            }),
        })
    }

    /// The limits every call and instance gets.
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// An instance from the pool of `role` (or a new one), lent `lent`.
    fn checkout(&self, lent: Arc<Lending>, role: Role) -> Result<Box<Instance>> {
        let s = &self.shared;
        let pooled = s
            .pool
            .lock()
            .map_err(|_| anyhow!("instance pool poisoned"))?[role as usize]
            .pop();
        let mut inst = match pooled {
            Some(i) => i,
            None => {
                let mut store =
                    Store::new(&s.engine, HostState::new(s.limits.max_memory, lent.clone()));
                store.limiter(|s| &mut s.limits);
                if s.fuel.is_some() {
                    store.set_fuel(u64::MAX)?;
                }
                self.arm(&mut store);
                let bindings = s.pre.instantiate(&mut store)?;
                Box::new(Instance {
                    store,
                    bindings,
                    role,
                    prepared: None,
                })
            }
        };
        inst.store.data_mut().lent = lent;
        Ok(inst)
    }

    /// Returns a healthy instance to the pool, lent nothing.
    fn checkin(&self, mut inst: Box<Instance>) {
        let s = &self.shared;
        if let Some(total) = &s.fuel
            && let Ok(left) = inst.store.get_fuel()
            && inst.store.set_fuel(u64::MAX).is_ok()
        {
            total.fetch_add(u64::MAX - left, Ordering::Relaxed);
        }
        inst.store.data_mut().lent = s.nothing_lent.clone();
        if let Ok(mut pools) = s.pool.lock() {
            let pool = &mut pools[inst.role as usize];
            if pool.len() < s.max_idle {
                pool.push(inst);
            }
        }
    }

    /// A fresh deadline for the next call into the sandbox. Every call
    /// needs one, a resource's drop included: the deadline counts from
    /// the last arming, and an instance can wait in the pool for minutes.
    fn arm(&self, store: &mut Store<HostState>) {
        let limits = &self.shared.limits;
        let ticks = (limits.deadline.as_millis() / TICK.as_millis()).max(1) as u64;
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
        let mut s = match self.signer(options.into(), keys)? {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let mut buf = vec![0u8; ONE_CALL];
        loop {
            let n = read_some(message, &mut buf)?;
            if n == 0 {
                return s.finish();
            }
            if let Err(e) = s.update(&buf[..n])? {
                return Ok(Err(e));
            }
        }
    }

    /// [`sign`](Self::sign) for a message in memory: one that fits in one
    /// call goes over without a copy.
    pub fn sign_bytes(
        &self,
        message: &[u8],
        options: &[wit::SignOptions],
        keys: Arc<Vec<NativeKey>>,
    ) -> Result<Result<String, GuestError>> {
        match self.signer(options.into(), keys)? {
            Ok(s) => s.sign_whole(message),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Starts signing a message with `options`, the keys in `keys` lent to
    /// the instance for the signatures the options name (see [`Lending`]).
    /// The outer error is the engine's (a trap); the inner one says what is
    /// wrong with the options (found when the message first needs an
    /// instance: see [`SandboxSigner`]).
    pub fn signer(
        &self,
        options: Arc<[wit::SignOptions]>,
        keys: Arc<Vec<NativeKey>>,
    ) -> Result<Result<SandboxSigner, GuestError>> {
        Ok(Ok(SandboxSigner::new(self.clone(), options, keys)))
    }

    /// The instance's `prepared` resource for `options`: the one it has
    /// when the options and key algorithms are the same as last time, else
    /// a new one (dropping the old).
    fn prepare(
        &self,
        inst: &mut Instance,
        options: &[wit::SignOptions],
    ) -> Result<Result<ResourceAny, GuestError>> {
        let keys = &inst.store.data().lent.keys();
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
        // Dropping a resource runs its destructor in the sandbox: armed
        // first, or an instance that waited in the pool longer than the
        // deadline traps here.
        self.arm(&mut inst.store);
        if let Some(old) = inst.prepared.take() {
            old.resource.resource_drop(&mut inst.store)?;
        }
        let signing = inst.bindings.waxseal_dkim_signing();
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

    /// Starts verifying a message: the component names the DNS records it
    /// needs once the header block is in ([`SandboxVerifier::queries`]).
    pub fn verifier(
        &self,
        policy: &wit::VerifyPolicy,
        now: Option<u64>,
    ) -> Result<SandboxVerifier> {
        let mut inst = self.checkout(self.shared.nothing_lent.clone(), Role::Verify)?;
        let verifier = inst.bindings.waxseal_dkim_verification().verifier();
        self.arm(&mut inst.store);
        let res = verifier.call_create(&mut inst.store, *policy, now)?;
        let max_signatures = policy
            .max_signatures
            .map_or(waxseal_core::VerifyPolicy::default().max_signatures, |n| {
                n as usize
            });
        Ok(SandboxVerifier::new(
            self.clone(),
            inst,
            res,
            max_signatures,
        ))
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
        let v = self.verifier(policy, now)?;
        let mut d = Driver::new(v, Lookups::Keys);
        let mut buf = vec![0u8; ONE_CALL];
        let fed = (|| loop {
            let n = read_some(message, &mut buf).map_err(StepError::Engine)?;
            if n == 0 {
                return d.end_with(&mut *lookup);
            }
            d.feed_with(&buf[..n], &mut *lookup)?;
        })();
        if let Err(e) = StepError::nest(fed)? {
            return Ok(Err(e));
        }
        d.into_inner().finish(authserv_id)
    }

    /// WebAssembly instructions run so far by calls that completed (with
    /// `WAXSEAL_WASM_FUEL` set when the host was made; else `None`).
    pub fn instructions(&self) -> Option<u64> {
        self.shared.fuel.as_ref().map(|f| f.load(Ordering::Relaxed))
    }

    /// Number of idle instances in the pool.
    pub fn pooled(&self) -> usize {
        self.shared
            .pool
            .lock()
            .map(|p| p.iter().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

/// wasmtime's disk cache of compiled code, with its recompression off.
///
/// By default the cache's worker thread recompresses an entry with zstd at
/// level 20 once it has been used 256 times, in whichever process makes the
/// 256th use: that took a `waxseal verify` of a 50 MB message (a process
/// that lives long enough for the worker to get to it) from 38 MB to 208 MB
/// resident, and a milter started as the 256th use would pay it while
/// serving mail. A short-lived command usually exits first and leaves the
/// task's lock file behind, so the next try comes 30 minutes later in
/// another process. The entries stay at the baseline level (about 0.9 MB
/// for the component).
fn cache_config() -> wasmtime::CacheConfig {
    let mut c = wasmtime::CacheConfig::new();
    c.with_optimized_compression_usage_counter_threshold(u64::MAX);
    c
}

/// Reads as much as is available into `buf` (retrying on interrupts).
pub(crate) fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("cannot read the message"),
        }
    }
}
