// What a runtime's entry (node.js, browser.js, workerd.js) adds to the API
// beyond the standard, and what the two share: a module of the package,
// not exported.
//
// `verifyRsa(check)`: an RSASSA-PKCS1-v1_5 check of the verifier's
// (`finishPending`: algorithm, keyId, key as SPKI DER, data, signature)
// answered at once: true, false, or null to leave it to WebCrypto or
// WebAssembly. Node's entry sets it to node:crypto's synchronous verify:
// an RSA-2048 public-key operation is quicker than WebCrypto's round trip
// to the thread pool (`node wasm/bench/bench.mjs` times both paths).
export const platform = { verifyRsa: null };

// `map`'s value for `key`, made by `make()` and kept when missing; past
// `max` entries the oldest goes (a Map keeps insertion order). The key
// caches of api.js and of the Node entry.
export function remember(map, key, max, make) {
  if (map.has(key)) return map.get(key);
  const value = make();
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value);
  return value;
}
