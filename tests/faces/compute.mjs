// The shared-vector suite, run the same way in every JavaScript runtime
// (Node, headless Chromium, workerd, Deno): sign each vector with the
// package's async (WebCrypto) and sync (WebAssembly) paths, verify the result,
// and report what came out. tests/tests/faces.rs compares the reports of all
// runtimes, the native core and the WebAssembly component.
//
// `vectors` is the resolved vector file (see faces.rs): keys as PEM text,
// messages as base64, the DNS records to verify against.

function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function signOptions(vectors, sig) {
  const o = { domain: sig.domain, selector: sig.selector, privateKey: vectors.keys[sig.key] };
  for (const k of ['identity', 'headers', 'oversign', 'canonicalization', 'expiration', 'bodyLength', 'copyHeaders']) {
    if (sig[k] !== undefined) o[k] = sig[k];
  }
  o.timestamp = sig.timestamp === undefined ? false : sig.timestamp;
  return o;
}

function describe(e) {
  return e && e.name === 'WaxsealError' ? `error:${e.code}` : `exception:${e && e.message}`;
}

export async function computeAll(waxseal, vectors) {
  const out = [];
  for (const c of vectors.cases) {
    const message = fromBase64(c.message);
    const options = c.signatures.map((s) => signOptions(vectors, s));
    const r = { name: c.name };
    try {
      r.async = await waxseal.sign(message, options);
    } catch (e) {
      r.async = describe(e);
    }
    try {
      r.sync = waxseal.signSync(message, options);
    } catch (e) {
      r.sync = describe(e);
    }
    if (!r.async.startsWith('error:') && !r.async.startsWith('exception:')) {
      const signed = new Uint8Array([...new TextEncoder().encode(r.async), ...message]);
      const report = await waxseal.verify(signed, {
        resolveTxt: async (name) => vectors.dns[name] ?? null,
        now: c.now ?? 1700000000,
      });
      r.verify = report.results.map((x) => x.result).join(',');
    }
    out.push(r);
  }
  return out;
}
