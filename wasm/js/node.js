// waxseal for Node.js: loads the WebAssembly module from the package, and
// checks RSA signatures with node:crypto (platform.js says why).
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { platform, remember } from './platform.js';
import { initSync } from './wasm/waxseal_wasm.js';

initSync({ module: readFileSync(new URL('./wasm/waxseal_wasm_bg.wasm', import.meta.url)) });

// Public keys by the verifier's key id (the same few keys sign most mail a
// receiver sees); null for a key OpenSSL refuses. Bounded, oldest out first.
const keys = new Map();
const KEYS_MAX = 32;
const HASHES = { 'rsa-sha256': 'sha256', 'rsa-sha1': 'sha1' };

platform.verifyRsa = (check) => {
  const hash = HASHES[check.algorithm];
  if (!hash) return null;
  const key = remember(keys, check.keyId, KEYS_MAX, () => {
    try {
      const k = createPublicKey({ key: check.key, format: 'der', type: 'spki' });
      return k.asymmetricKeyType === 'rsa' ? k : null;
    } catch {
      return null;
    }
  });
  if (!key) return null;
  try {
    return verify(hash, check.data, key, check.signature);
  } catch {
    return null;
  }
};

export * from './api.js';
