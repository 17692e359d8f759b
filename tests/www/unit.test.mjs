// The page's logic without a browser: DNS-over-HTTPS answers (both
// resolvers' formats, CNAMEs), the published-record check, the line diff,
// the failure explanation on real verify results, message bytes, the
// legacy policy mapping. node --test tests/www/unit.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as waxseal from '../../wasm/pkg/node.js';
import { RESOLVERS, dohResolveTxt, parseQuotedTxt, queryTxt } from '../../www/js/doh.js';
import { checkPublished, worstLevel } from '../../www/js/check.js';
import { diffLines, hunks } from '../../www/js/diff.js';
import { alignSignedHeaders, explain, fieldLabel, inlineDiff, splitCanonicalHeaders } from '../../www/js/explain.js';
import { dkimSignatureFields, headerFields, prependField, textToMessage } from '../../www/js/message.js';
import { dmarcValue, legacyValue } from '../../www/js/policy.js';
import { hostNames, parsePastedRecord, zoneStrings } from '../../www/js/record.js';
import { parseTagList } from '../../www/js/tags.js';

const [cloudflare, google] = RESOLVERS;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A fetch that answers DNS JSON from a table: name -> { Status, Answer } per resolver host. */
function fakeFetch(table, log = []) {
  return async (url) => {
    const u = new URL(url);
    log.push(u.href);
    const entry = table[`${u.host} ${u.searchParams.get('name')}`] ?? table[u.searchParams.get('name')] ?? { Status: 3 };
    if (entry === 'down') return new Response('oops', { status: 502 });
    return Response.json(entry);
  };
}

const ed = waxseal.generateKeySync({ algorithm: 'ed25519' });
const rsa = await waxseal.generateKey({ algorithm: 'rsa', bits: 2048 });
const rec = (key, testing = false) => waxseal.dnsRecord(key, { selector: 'sel', domain: 'example.com', testing });
const normalizeKey = (p, keyType) => waxseal.dnsRecord(p, { selector: 's', domain: 'example.com', keyType }).value.replace(/^.*p=/, '');
const quoted = (strings) => strings.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`).join(' ');

test('TXT presentation form: strings, escapes, decimal bytes (RFC 1035 5.1)', () => {
  assert.deepEqual(parseQuotedTxt('"v=DKIM1; k=rsa; " "p=abc"'), ['v=DKIM1; k=rsa; ', 'p=abc']);
  assert.deepEqual(parseQuotedTxt('"a\\"b" "c\\\\d" "\\059x"'), ['a"b', 'c\\d', ';x']);
  assert.deepEqual(parseQuotedTxt('plain text'), ['plain text']);
  assert.deepEqual(parseQuotedTxt('"unterminated'), ['"unterminated']);
});

test('queryTxt: both formats give the same value; CNAMEs followed in the answer and by asking again', async () => {
  const r = rec(rsa);
  const name = 'sel._domainkey.example.com';
  const table = {
    [`cloudflare-dns.com ${name}`]: { Status: 0, Answer: [
      { name: `${name}.`, type: 5, data: 'sel.dkim.provider.example.' },
      { name: 'sel.dkim.provider.example.', type: 16, data: quoted(r.strings) }] },
    // Google stops at the alias here: the target is asked for next
    [`dns.google ${name}`]: { Status: 0, Answer: [{ name: `${name}.`, type: 5, data: 'sel.dkim.provider.example.' }] },
    'dns.google sel.dkim.provider.example': { Status: 0, Answer: [{ name: 'sel.dkim.provider.example.', type: 16, data: r.value }] },
  };
  const log = [];
  const a = await queryTxt(cloudflare, name, { fetch: fakeFetch(table, log) });
  const b = await queryTxt(google, name, { fetch: fakeFetch(table, log) });
  for (const x of [a, b]) {
    assert.equal(x.status, 'ok');
    assert.deepEqual(x.chain, [{ from: name, to: 'sel.dkim.provider.example' }]);
    assert.equal(x.records.length, 1);
    assert.equal(x.records[0].value, r.value);
  }
  assert.equal(a.records[0].strings.length, 2);
  assert.equal(log.filter((u) => u.includes('dns.google')).length, 2);
  assert.ok(log.every((u) => u.startsWith('https://cloudflare-dns.com/dns-query?') || u.startsWith('https://dns.google/resolve?')));
  // a loop ends
  const loop = { [`cloudflare-dns.com ${name}`]: { Status: 0, Answer: [
    { name, type: 5, data: 'x.example' }, { name: 'x.example', type: 5, data: name }] } };
  assert.equal((await queryTxt(cloudflare, name, { fetch: fakeFetch(loop) })).status, 'error');
  assert.equal((await queryTxt(cloudflare, name, { fetch: fakeFetch({}) })).status, 'nxdomain');
  // NXDOMAIN behind an alias: the alias is kept (its target does not exist)
  const dangling = await queryTxt(cloudflare, name, { fetch: fakeFetch({ [`cloudflare-dns.com ${name}`]: {
    Status: 3, Answer: [{ name: `${name}.`, type: 5, data: 'sel.dkim.provider.example.' }] } }) });
  assert.equal(dangling.status, 'nxdomain');
  assert.deepEqual(dangling.chain, [{ from: name, to: 'sel.dkim.provider.example' }]);
  assert.equal((await queryTxt(cloudflare, name, { fetch: fakeFetch({ [name]: 'down' }) })).status, 'error');
});

test('dohResolveTxt: the next resolver when one fails, null for no record, an error when none answers', async () => {
  const name = 'sel._domainkey.example.com';
  const log = [];
  const resolve = dohResolveTxt({ fetch: fakeFetch({ [`cloudflare-dns.com ${name}`]: 'down', [`dns.google ${name}`]: { Status: 0, Answer: [{ name, type: 16, data: 'v=DKIM1; p=x' }] } }) }, log);
  assert.deepEqual(await resolve(name), [['v=DKIM1; p=x']]);
  assert.equal(log[0].resolver, google.name);
  assert.equal(await dohResolveTxt({ fetch: fakeFetch({}) })(name), null);
  await assert.rejects(dohResolveTxt({ fetch: fakeFetch({ [name]: 'down' }) })(name));
});

async function check(key, table, { testing = false } = {}) {
  const expected = { selector: 'sel', domain: 'example.com', algorithm: key.algorithm, publicKey: key.publicKey, testing };
  const lookup = (n) => Promise.all(RESOLVERS.map(async (resolver) => ({ resolver, answer: await queryTxt(resolver, n, { fetch: fakeFetch(table) }) })));
  const r = await checkPublished({ expected, lookup, normalizeKey });
  return { ...r, codes: r.findings.map((f) => f.code).sort() };
}
// TXT records (each an array of strings) at sel._domainkey.example.com as
// each resolver writes them: Cloudflare quoted, Google concatenated
const NAME = 'sel._domainkey.example.com';
const answer = (records, format) => ({
  Status: 0,
  Answer: records.map((strings) => ({ name: `${NAME}.`, type: 16, data: format === 'quoted' ? quoted(strings) : strings.join('') })),
});
const published = (...records) => ({
  [`cloudflare-dns.com ${NAME}`]: answer(records, 'quoted'), [`dns.google ${NAME}`]: answer(records, 'plain'),
});

test('check: the record as made here, in test mode', async () => {
  const c = await check(rsa, published(rec(rsa, true).strings));
  assert.deepEqual(c.codes, ['matches', 'test-mode']);
  assert.equal(worstLevel(c.findings), 'warning');
  assert.deepEqual((await check(ed, published(rec(ed).strings))).codes, ['matches']);
});

test('check: no record, and the doubled domain found', async () => {
  assert.deepEqual((await check(rsa, {})).codes, ['no-record']);
  // neither resolver answered: not checked, never "published"
  const down = await check(rsa, { [NAME]: 'down' });
  assert.deepEqual(down.codes, ['lookup-failed', 'lookup-failed', 'not-checked']);
  assert.equal(worstLevel(down.findings), 'problem');
  // an alias that points at nothing is named as such
  const dangling = await check(rsa, { [NAME]: { Status: 3, Answer: [{ name: `${NAME}.`, type: 5, data: 'sel.dkim.provider.example.' }] } });
  assert.match(dangling.findings.find((f) => f.code === 'no-record').text, /alias \(CNAME\) of sel\.dkim\.provider\.example, which does not exist/);
  const doubled = { [`${NAME}.example.com`]: { Status: 0, Answer: [{ name: `${NAME}.example.com.`, type: 16, data: rec(rsa).value }] } };
  const c = await check(rsa, doubled);
  assert.deepEqual(c.codes, ['doubled-domain', 'no-record']);
  assert.match(c.findings.find((f) => f.code === 'doubled-domain').text, /enter only sel\._domainkey/);
});

test('check: several records, stray quotes, truncated, another key, wrong type, restrictions, disagreement', async () => {
  const r = rec(rsa);
  const other = rec(await waxseal.generateKey({ algorithm: 'rsa', bits: 1024 }));
  let c = await check(rsa, published(r.strings, other.strings));
  assert.deepEqual(c.codes, ['matches', 'several-records']);
  // the zone-file form pasted into a web form: the quotes are in the value
  c = await check(rsa, published([quoted(r.strings)]));
  assert.deepEqual(c.codes, ['matches', 'stray-quotes']);
  // only the first 255 bytes kept
  c = await check(rsa, published([r.strings[0]]));
  assert.deepEqual(c.codes, ['truncated']);
  assert.match(c.findings[0].text, /cut short/);
  c = await check(rsa, published(other.strings));
  assert.deepEqual(c.codes, ['key-mismatch']);
  c = await check(rsa, published([`v=DKIM1; k=rsa; p=${rsa.publicKey.slice(0, 40)}x${rsa.publicKey.slice(41)}`]));
  assert.deepEqual(c.codes, ['bad-key']);
  c = await check(rsa, published([`v=DKIM1; k=ed25519; p=${ed.publicKey}`]));
  assert.deepEqual(c.codes, ['key-mismatch', 'key-type']);
  c = await check(ed, published([`v=DKIM1; k=ed25519; h=sha1; s=tlsrpt; p=${ed.publicKey}`]));
  assert.deepEqual(c.codes, ['hash', 'matches', 'service']);
  c = await check(ed, published(['v=DKIM1; k=ed25519; p=']));
  assert.deepEqual(c.codes, ['revoked']);
  c = await check(ed, published([`k=ed25519; v=DKIM1; p=${ed.publicKey}`]));
  assert.deepEqual(c.codes, ['bad-version', 'matches']);
  // one resolver down; then the two disagree (a change still propagating)
  c = await check(ed, { ...published(rec(ed).strings), [`cloudflare-dns.com ${NAME}`]: 'down' });
  assert.deepEqual(c.codes, ['lookup-failed', 'matches']);
  c = await check(ed, { ...published(rec(ed).strings), [`dns.google ${NAME}`]: { Status: 3 } });
  assert.deepEqual(c.codes, ['matches', 'resolvers-disagree']);
});

test('diff: the shortest edit script, paired changes, hunks with context', () => {
  const a = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const b = ['a', 'b', 'X', 'd', 'e', 'f', 'g', 'h', 'i'];
  const ops = diffLines(a, b);
  assert.equal(ops.filter((o) => o.op !== 'equal').length, 3);
  // replaying the script turns a into b
  assert.deepEqual(ops.filter((o) => o.op !== 'delete').map((o) => b[o.b]), b);
  assert.deepEqual(ops.filter((o) => o.op !== 'insert').map((o) => a[o.a]), a);
  const hs = hunks(ops, 1);
  assert.equal(hs.length, 2);
  assert.deepEqual(hs[0].rows.map((r) => r.op), ['equal', 'change', 'equal']);
  assert.deepEqual(hs[1].rows.map((r) => r.op), ['equal', 'insert']);
  assert.deepEqual(diffLines(a, a).every((o) => o.op === 'equal'), true);
  assert.equal(diffLines(a, ['z'], { maxEdits: 3 }), null);
  // large bodies: one change among 20000 lines is found at once; unrelated
  // bodies give up (null) instead of stalling the page
  const big = Array.from({ length: 20000 }, (_, i) => `line ${i}`);
  const edited = big.slice();
  edited[12345] = 'changed';
  const t0 = performance.now();
  assert.deepEqual(diffLines(big, edited).filter((o) => o.op !== 'equal'), [{ op: 'delete', a: 12345, b: undefined }, { op: 'insert', a: undefined, b: 12345 }]);
  assert.equal(diffLines(big, big.map((l) => `${l}!`)), null);
  assert.ok(performance.now() - t0 < 5000, `${performance.now() - t0} ms`);
  // every pair of small random line lists round-trips
  for (let n = 0; n < 200; n++) {
    const x = Array.from({ length: n % 9 }, () => 'abc'[Math.floor(Math.random() * 3)]);
    const y = Array.from({ length: (n * 7) % 8 }, () => 'abc'[Math.floor(Math.random() * 3)]);
    const o = diffLines(x, y);
    assert.deepEqual(o.filter((e) => e.op !== 'delete').map((e) => y[e.b]), y);
    assert.deepEqual(o.filter((e) => e.op !== 'insert').map((e) => x[e.a]), x);
  }
});

const MSG = 'From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: lunch\r\n'
  + 'Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n\r\nShall we\r\nmeet at noon?\r\n';

async function verifyWithSender(received, senderCopy, key, selector) {
  const resolveTxt = async (n) => (n === `${selector}._domainkey.example.com` ? [waxseal.dnsRecord(key, { selector, domain: 'example.com' }).strings] : null);
  const report = await waxseal.verify(received, { resolveTxt, diagnostics: true });
  const fields = dkimSignatureFields(received);
  const senders = await Promise.all(report.results.map(async (r, i) => (
    senderCopy ? (await waxseal.verify(prependField(fields[i], senderCopy), { resolveTxt: () => null, diagnostics: true })).results[0] : undefined)));
  return report.results.map((r, i) => ({ r, e: explain(r, senders[i]) }));
}

test('explain: a changed Subject is named; the body unchanged', async () => {
  const signed = await waxseal.signMessage(enc.encode(MSG), { domain: 'example.com', selector: 'ed', privateKey: ed });
  const changed = enc.encode(dec.decode(signed).replace('Subject: lunch', 'Subject: dinner'));
  const [{ r, e }] = await verifyWithSender(changed, signed, ed, 'ed');
  assert.equal(r.reasonCode, 'bad_signature');
  assert.deepEqual(e.words, ['The signed header field Subject changed after signing.']);
  const subject = e.headers.find((x) => x.status === 'changed');
  assert.equal(subject.sender, 'subject:lunch');
  assert.equal(subject.received, 'subject:dinner');
  assert.equal(e.body.changed, false);
  assert.deepEqual(e.body.hunks, []);
  // without the sender's copy: what can be said without it
  const [{ e: alone }] = await verifyWithSender(changed, null, ed, 'ed');
  assert.match(alone.words[0], /Add the sender's copy/);
  assert.ok(alone.headers.every((x) => x.status === 'present' || x.status === 'absent'));
});

test('explain: a changed body byte, a removed and an added field', async () => {
  const signed = await waxseal.signMessage(enc.encode(MSG), { domain: 'example.com', selector: 'rsa', privateKey: rsa });
  const text = dec.decode(signed);
  let [{ r, e }] = await verifyWithSender(enc.encode(text.replace('noon?', 'noon!')), signed, rsa, 'rsa');
  assert.equal(r.reasonCode, 'body_hash_mismatch');
  assert.match(e.words[0], /^The body changed after the message was signed/);
  assert.equal(e.body.changed, true);
  assert.deepEqual(e.body.hunks.flatMap((hk) => hk.rows.filter((x) => x.op !== 'equal')), [{ op: 'change', a: 1, b: 1 }]);
  assert.equal(e.body.sender[1], 'meet at noon?');
  assert.equal(e.body.received[1], 'meet at noon!');
  [{ r, e }] = await verifyWithSender(enc.encode(text.replace('To: bob@example.net\r\n', '')), signed, rsa, 'rsa');
  assert.deepEqual(e.words, ['The signed header field To was removed after signing.']);
  [{ r, e }] = await verifyWithSender(enc.encode(text.replace('Subject: lunch\r\n', 'Subject: lunch\r\nCc: eve@example.org\r\n')), signed, rsa, 'rsa');
  assert.deepEqual(e.words, ['A Cc field was added after signing (the signature covers it as absent).']);
  // the same message checked against another key: the key is blamed
  const other = waxseal.generateKeySync({ algorithm: 'ed25519' });
  const signedEd = await waxseal.signMessage(enc.encode(MSG), { domain: 'example.com', selector: 'ed', privateKey: other });
  [{ r, e }] = await verifyWithSender(signedEd, signedEd, ed, 'ed');
  assert.equal(r.reasonCode, 'bad_signature');
  assert.match(e.words[0], /the key record found is not the key that signed/);
});

test('canonical header data splits into fields; h= entries align bottom-up (RFC 6376 5.4.2)', () => {
  const data = enc.encode('from:a@example.com\r\nsubject:x\r\n y\r\ndkim-signature:v=1; b=');
  const { fields, signature } = splitCanonicalHeaders(data);
  assert.deepEqual(fields.map((f) => f.text), ['from:a@example.com', 'subject:x\r\n y']);
  assert.equal(signature, 'dkim-signature:v=1; b=');
  assert.deepEqual(alignSignedHeaders(['from', 'from', 'subject', 'to'], fields).map((x) => x.text),
    ['from:a@example.com', null, 'subject:x\r\n y', null]);
  assert.equal(fieldLabel('message-id'), 'Message-ID');
  assert.deepEqual(inlineDiff('meet at noon?', 'meet at noon!'), { prefix: 'meet at noon', a: '?', b: '!', suffix: '' });
  assert.deepEqual(inlineDiff('subject:lunch', 'subject:lunch!'), { prefix: 'subject:lunch', a: '', b: '!', suffix: '' });
  assert.deepEqual(inlineDiff('aXb', 'aYYb'), { prefix: 'a', a: 'X', b: 'YY', suffix: 'b' });
  assert.equal(fieldLabel('reply-to'), 'Reply-To');
});

test('message bytes: pasted text gets CRLF; header fields and DKIM-Signature fields by offset', () => {
  assert.deepEqual(textToMessage('a: b\nc: d\n\nbody\n'), { bytes: enc.encode('a: b\r\nc: d\r\n\r\nbody\r\n'), converted: true });
  assert.equal(textToMessage('a: b\r\n\r\n').converted, false);
  const m = enc.encode('DKIM-Signature: v=1;\r\n\tb=x\nFrom: a\r\ndkim-signature: v=1; b=y\r\n\r\nbody');
  const { fields, bodyStart } = headerFields(m);
  assert.deepEqual(fields.map((f) => f.name), ['DKIM-Signature', 'From', 'dkim-signature']);
  assert.equal(dec.decode(m.subarray(bodyStart)), 'body');
  assert.deepEqual(dkimSignatureFields(m).map((f) => dec.decode(f)), ['DKIM-Signature: v=1;\r\n\tb=x\n', 'dkim-signature: v=1; b=y\r\n']);
  assert.equal(dec.decode(prependField(enc.encode('X: 1'), enc.encode('Y: 2\r\n'))), 'X: 1\r\nY: 2\r\n');
});

test('records: names, zone strings, pasted forms', () => {
  assert.deepEqual(hostNames('s', 'example.com'), {
    relative: 's._domainkey', full: 's._domainkey.example.com', fqdn: 's._domainkey.example.com.', doubled: 's._domainkey.example.com.example.com',
  });
  assert.equal(zoneStrings(['a"b', 'c']), '"a\\"b" "c"');
  const r = rec(rsa, true);
  for (const form of [r.value, quoted(r.strings), r.zoneLine, `${r.strings[0]}\n${r.strings[1]}`]) {
    assert.equal(parsePastedRecord(form).value, r.value, form);
  }
  assert.equal(parsePastedRecord(r.zoneLine).name, 'sel._domainkey.example.com');
  // opendkim-genkey's form: parenthesized strings over lines, a comment at the end
  const genkey = `sel._domainkey\tIN\tTXT\t( "${r.strings[0]}"\n\t  "${r.strings[1]}" )  ; ----- DKIM key sel for example.com`;
  assert.equal(parsePastedRecord(genkey).value, r.value);
  assert.equal(parsePastedRecord('x IN TXT "a;b" ; comment').value, 'a;b');
  assert.equal(parsePastedRecord('  '), null);
  assert.deepEqual(parseTagList('v=DKIM1; k=rsa; p=ab c;'), [{ name: 'v', value: 'DKIM1' }, { name: 'k', value: 'rsa' }, { name: 'p', value: 'ab c' }]);
  assert.equal(parseTagList('v=1; v=2'), null);
  assert.equal(parseTagList('no tags'), null);
});

test('legacy policy and its DMARC equivalent (signer-core LegacyPolicy::suggested_dmarc)', () => {
  assert.equal(legacyValue({ o: '~' }), 'o=~');
  assert.equal(legacyValue({ o: '!', testing: true, report: 'pm@example.com' }), 'o=!; t=y; r=pm@example.com');
  assert.equal(dmarcValue({ o: '~' }), 'v=DMARC1; p=none');
  assert.equal(dmarcValue({ o: '-' }), 'v=DMARC1; p=quarantine');
  assert.equal(dmarcValue({ o: '!', report: 'pm@example.com' }), 'v=DMARC1; p=reject; adkim=s; rua=mailto:pm@example.com');
  assert.equal(dmarcValue({ o: '.' }), 'v=DMARC1; p=reject');
  assert.equal(dmarcValue({ o: '^' }), 'v=DMARC1; p=none');
  assert.equal(dmarcValue({ o: '!', testing: true }), 'v=DMARC1; p=none; adkim=s');
});
