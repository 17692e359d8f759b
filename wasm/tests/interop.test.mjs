// What the package signs, in Node, verifies with dkimpy, Mail::DKIM, mailauth
// and OpenDKIM (tests/interop/peers.py; WAXSEAL_REPO points at the clone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKey, dnsRecord, signMessage, signMessageSync } from 'waxseal';

const repo = process.env.WAXSEAL_REPO;

test('peers verify what the npm package signs (WebCrypto and WebAssembly paths)', { skip: !repo && 'WAXSEAL_REPO not set' }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'waxseal-js-interop-'));
  try {
    const keys = { ed: await generateKey({ algorithm: 'ed25519' }), rsa: await generateKey({ algorithm: 'rsa' }) };
    for (const [sel, k] of Object.entries(keys)) {
      writeFileSync(path.join(dir, `${sel}._domainkey.example.com.txt`), dnsRecord(k, { selector: sel, domain: 'example.com' }).value);
    }
    const msg = 'From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.net>\r\nSubject: from JS\r\n\r\nHello  there \r\n\r\n';
    const files = [];
    for (const c of ['relaxed/relaxed', 'simple/simple', 'relaxed/simple', 'simple/relaxed']) {
      const opts = Object.entries(keys).map(([sel, k]) => ({ domain: 'example.com', selector: sel, privateKey: k, canonicalization: c }));
      for (const [how, signed] of [['webcrypto', await signMessage(msg, opts)], ['wasm', signMessageSync(msg, opts)]]) {
        const f = path.join(dir, `${c.replace('/', '-')}-${how}.eml`);
        writeFileSync(f, signed);
        files.push(f);
      }
    }
    const out = execFileSync('python3', [path.join(repo, 'tests/interop/peers.py'), 'verify', '--keys', dir, ...files], { encoding: 'utf8' });
    const failures = [];
    for (const line of out.trim().split('\n')) {
      const r = JSON.parse(line);
      for (const [peer, v] of Object.entries(r.peers)) {
        if (v.error || v.sigs.length !== 2 || !v.sigs.every((s) => s.result === 'pass')) {
          failures.push(`${path.basename(r.file)}: ${peer}: ${v.error ?? v.sigs.map((s) => `${s.result} ${s.detail}`).join('; ')}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
