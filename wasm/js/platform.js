// What a runtime's entry (node.js, browser.js, workerd.js) adds to the API
// beyond the standard: a module of the package, not exported.
//
// `verifyRsa(check)`: an RSASSA-PKCS1-v1_5 check of the verifier's
// (`finishPending`: algorithm, keyId, key as SPKI DER, data, signature)
// answered at once: true, false, or null to leave it to WebCrypto or
// WebAssembly. Node's entry sets it to node:crypto's synchronous verify:
// an RSA-2048 public-key operation is quicker than WebCrypto's round trip
// to the thread pool (`node wasm/bench/bench.mjs` times both paths).
export const platform = { verifyRsa: null };
