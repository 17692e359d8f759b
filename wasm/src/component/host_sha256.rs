//! SHA-256 by the host's native code (world `dkim-host-crypto`), for the
//! body and header hashes of signing and verification.

use super::waxseal;

/// SHA-256 by the host (world `dkim-host-crypto`): the host's native code
/// hashes the canonical bytes several times faster than WebAssembly can.
///
/// Design note: a host resource costs four calls (create, update, finish,
/// drop), and most hashes of a small message see one update: the header
/// data, the body of a short message. So the first bytes are kept here, up
/// to [`HOLD`] bytes, and hashed with one `sha256-digest` call at the end;
/// only data beyond that starts a host resource.
enum HostSha256 {
    Held(Vec<u8>),
    Live(waxseal::dkim::crypto::Sha256),
}

/// Bytes a [`HostSha256`] holds before it starts a host resource.
const HOLD: usize = 16 * 1024;

impl waxseal_core::ExternalSha256 for HostSha256 {
    fn update(&mut self, data: &[u8]) {
        match self {
            HostSha256::Held(held) if held.len() + data.len() <= HOLD => {
                held.extend_from_slice(data)
            }
            HostSha256::Held(held) => {
                let live = waxseal::dkim::crypto::Sha256::new();
                live.update(held);
                live.update(data);
                *self = HostSha256::Live(live);
            }
            HostSha256::Live(live) => live.update(data),
        }
    }

    fn fork(&self) -> Box<dyn waxseal_core::ExternalSha256> {
        Box::new(match self {
            HostSha256::Held(held) => HostSha256::Held(held.clone()),
            HostSha256::Live(live) => HostSha256::Live(live.fork()),
        })
    }

    fn finish(self: Box<Self>) -> [u8; 32] {
        let d = match *self {
            HostSha256::Held(held) => waxseal::dkim::crypto::sha256_digest(&held),
            HostSha256::Live(live) => live.finish(),
        };
        digest32(d)
    }

    fn finish_reset(&mut self) -> Option<[u8; 32]> {
        let d = match self {
            HostSha256::Held(held) => {
                let d = waxseal::dkim::crypto::sha256_digest(held);
                held.clear(); // its buffer serves the next message
                d
            }
            HostSha256::Live(live) => {
                let d = live.finish();
                *self = HostSha256::Held(Vec::new());
                d
            }
        };
        Some(digest32(d))
    }

    fn digest(mut self: Box<Self>, data: &[u8]) -> [u8; 32] {
        match &*self {
            // nothing held yet: the data goes over as it is, no copy
            HostSha256::Held(held) if held.is_empty() => {
                digest32(waxseal::dkim::crypto::sha256_digest(data))
            }
            _ => {
                self.update(data);
                self.finish()
            }
        }
    }
}

/// A digest from the host (four big-endian words) as 32 bytes.
fn digest32(d: waxseal::dkim::crypto::Digest256) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(8).zip([d.0, d.1, d.2, d.3]) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

pub(super) fn host_sha256() -> Box<dyn waxseal_core::ExternalSha256> {
    Box::new(HostSha256::Held(Vec::new()))
}
