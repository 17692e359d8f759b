// Type-checked (tsc --noEmit) against the package's index.d.ts by wasm/test.sh.
import { generateKey, dnsRecord, sign, signSync, verify, Signer, WaxsealError, type VerifyReport } from 'waxseal';

const key = await generateKey({ algorithm: 'ed25519' });
const rec: string = dnsRecord(key, { selector: 's', domain: 'example.com', testing: true }).zoneLine;
const header: string = await sign(new Uint8Array([1]), { domain: 'example.com', selector: 's', privateKey: key, expiresIn: 60 });
const headers: string = signSync('x', [{ domain: 'a.example', selector: 's', privateKey: key.privateKey, canonicalization: 'simple/relaxed' }]);
const s = new Signer({ domain: 'example.com', selector: 's', privateKey: key });
s.update('chunk').update(new Uint8Array(2));
const r: VerifyReport = await verify(header + headers, {
  resolveTxt: async (name: string) => (name ? [['v=DKIM1; p=']] : null),
  policy: { minRsaBits: 2048, allowRsaSha1: false },
});
const code: string | undefined = r.results[0]?.reasonCode;
// a stream, as Cloudflare's message.raw or a fetch body
const streamed: VerifyReport = await verify(new Response('x').body!, { resolveTxt: () => null, diagnostics: true });
const canon: Uint8Array | undefined = streamed.results[0]?.diagnostics?.canonicalBody;
void canon;
try { await s.finish(); } catch (e) { if (e instanceof WaxsealError) { const c: string = e.code; void c; } }
void rec; void code;
