//! The host's side of the component's imports (world `dkim-host-crypto`):
//! the `crypto` interface (signing with keys the sandbox never sees,
//! SHA-256 and public-key checks in native code) and WASI.

use std::sync::Arc;

use anyhow::Result;
use sha2::{Digest as _, Sha256};
use wasmtime::StoreLimits;
use wasmtime::component::{Linker, Resource, ResourceTable, WasmList};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::waxseal;
use super::bindings::waxseal::dkim::crypto::Digest256;
use super::lending::Lending;
use super::wit;

/// Host state of one instance.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    /// The keys lent to this instance for the message it is signing.
    pub(super) lent: Arc<Lending>,
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
    /// The state of a new instance, with at most `max_memory` bytes of
    /// linear memory.
    pub(super) fn new(max_memory: usize, lent: Arc<Lending>) -> Self {
        // every host resource of the instance (hashes, WASI streams) lives
        // in this table, outside the memory cap: a few thousand are plenty
        // (wasmtime's default allows a million)
        let mut table = ResourceTable::new();
        table.set_max_capacity(4096);
        HostState {
            wasi: WasiCtx::builder().build(),
            table,
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(max_memory)
                .instances(4)
                // a refused `memory.grow` traps (a clear error) instead of
                // making the guest abort in its allocator
                .trap_on_grow_failure(true)
                .build(),
            lent,
            hashers: 0,
        }
    }

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
        Ok(self.lent.key(handle).map(|k| match k.algorithm() {
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
        // The native backend (AWS-LC, decoded keys kept: the core's
        // answers, see verify_crypto). The key comes
        // re-encoded by the component, which decoded the DNS record in
        // the sandbox.
        use waxseal_core::VerifyDigest as _;
        let alg = match algorithm {
            wit::SigningAlgorithm::RsaSha256 => waxseal_core::SigningAlgorithm::RsaSha256,
            wit::SigningAlgorithm::Ed25519Sha256 => waxseal_core::SigningAlgorithm::Ed25519Sha256,
        };
        let v = crate::verify_crypto::native_verify();
        Ok(v.decode_key(alg.key_type(), &public_key)
            .and_then(|k| v.verify_digest(alg, &k, &digest, &signature))
            .is_ok())
    }

    fn sha256_digest(&mut self, data: Vec<u8>) -> wasmtime::Result<Digest256> {
        Ok(words(&Sha256::digest(&data)))
    }

    fn sign(&mut self, handle: u32, data: Vec<u8>) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(self.lent.sign(handle, &data).map_err(|e| e.to_string()))
    }
}

/// Replaces the generated bindings of the imports that take the bulk of
/// the data (`sha256-digest`, `sha256.update`, `sign`) with ones that read
/// their `list<u8>` argument in place, in the instance's memory, instead of
/// copying it into a host vector first: the canonical body, the header
/// data. They do what the `Host` trait methods above do (which the unit
/// tests call directly), and every component test goes through them.
pub(super) fn link_zero_copy(linker: &mut Linker<HostState>) -> Result<()> {
    linker.allow_shadowing(true);
    let mut crypto = linker.instance("waxseal:dkim/crypto@0.1.1")?;
    crypto.func_wrap(
        "sha256-digest",
        |store: wasmtime::StoreContextMut<'_, HostState>, (data,): (WasmList<u8>,)| {
            Ok((words(&Sha256::digest(data.as_le_slice(&store))),))
        },
    )?;
    crypto.func_wrap(
        "sign",
        |store: wasmtime::StoreContextMut<'_, HostState>, (handle, data): (u32, WasmList<u8>)| {
            Ok((store
                .data()
                .lent
                .sign(handle, data.as_le_slice(&store))
                .map_err(|e| e.to_string()),))
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

#[cfg(test)]
mod tests {
    use super::*;
    use waxseal::dkim::crypto::HostSha256 as _;

    fn state() -> HostState {
        HostState::new(1 << 20, Arc::new(Lending::default()))
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
