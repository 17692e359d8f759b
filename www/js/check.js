// "Check what I published": compares the TXT records two resolvers return
// for a key's name with the record made here, and says in plain words what
// is wrong. No DOM, no network: `lookup(name)` is a parameter (the page
// passes DNS-over-HTTPS), and so is `normalizeKey`, which re-encodes a
// published p= (the page passes waxseal's dnsRecord), so Node tests run it.

import { base64Value, parseTagList, tag } from './tags.js';

/**
 * @typedef {{ level: 'ok'|'problem'|'warning'|'info', code: string, text: string }} Finding
 */

/**
 * Checks one published key record.
 * - `expected`: `{ selector, domain, algorithm ('rsa'|'ed25519'), publicKey
 *   (base64 p= made here) }`
 * - `lookup(name)`: resolves to `[{ resolver: { name }, answer }]`, one per
 *   resolver, `answer` as `queryTxt` gives it
 * - `normalizeKey(p, algorithm)`: the same key as base64 in the encoding
 *   made here, or throws when `p` is not a key
 * Resolves to `{ name, findings: Finding[], answers }`.
 */
export async function checkPublished({ expected, lookup, normalizeKey }) {
  const name = `${expected.selector}._domainkey.${expected.domain}`;
  const answers = await lookup(name);
  const findings = [];
  const add = (level, code, text) => findings.push({ level, code, text });

  const ok = answers.filter((a) => a.answer.status !== 'error');
  for (const a of answers.filter((x) => x.answer.status === 'error')) {
    add('warning', 'lookup-failed', `${a.resolver.name} did not answer (${a.answer.error}); try again later.`);
  }
  if (ok.length === 0) {
    // no answer is not a published record: say that nothing was checked
    add('problem', 'not-checked', `Could not check ${name}: no resolver answered. Check your connection (or an extension that blocks DNS-over-HTTPS) and try again.`);
    return { name, findings, answers };
  }

  // the answers differ between resolvers: a change still propagating, or
  // name servers that disagree
  const views = ok.map((a) => JSON.stringify(a.answer.status === 'ok' ? a.answer.records.map((r) => r.value).sort() : []));
  if (new Set(views).size > 1) {
    add('warning', 'resolvers-disagree', `The resolvers give different answers (${ok.map((a) => `${a.resolver.name}: ${describeAnswer(a.answer)}`).join('; ')}). `
      + 'A record changed recently is still propagating; wait for the old one\'s TTL and check again.');
  }

  // judge on the first resolver that answered; the others only for disagreement
  const main = ok[0].answer;
  for (const hop of main.chain) {
    add('info', 'cname', `${hop.from} is an alias (CNAME) of ${hop.to}; the record there was checked.`);
  }
  const records = main.status === 'ok' ? main.records : [];
  if (records.length === 0) {
    const end = main.chain.length ? main.chain[main.chain.length - 1].to : null;
    add('problem', 'no-record', main.status === 'nxdomain' && end
      ? `${name} is an alias (CNAME) of ${end}, which does not exist: the alias points at nothing yet. Check its target with your DNS or mail provider.`
      : main.status === 'nxdomain'
        ? `There is no record at ${name} yet. If you have just published it, wait a few minutes (or the zone's TTL) and check again.`
        : `${name} exists but has no TXT record.`);
    // the most common web-form mistake: the full name typed where the
    // provider appends the domain itself
    const doubled = `${name}.${expected.domain}`;
    const again = await lookup(doubled);
    if (again.some((a) => a.answer.status === 'ok' && a.answer.records.length > 0)) {
      add('problem', 'doubled-domain', `A record exists at ${doubled}: the domain is in the name twice. `
        + `Your DNS provider adds ${expected.domain} itself; enter only ${expected.selector}._domainkey as the name.`);
    }
    return { name, findings, answers };
  }

  // RFC 6376 3.6.2.2: several key records at one name make the result
  // depend on which one a verifier picks
  const dkim = records.filter((r) => !/^\s*v=/.test(r.value) || /^\s*v\s*=\s*DKIM1\s*(;|$)/.test(r.value));
  if (records.length > 1) {
    add('problem', 'several-records', `There are ${records.length} TXT records at ${name}; there must be exactly one. `
      + 'Delete the old or duplicate ones; verifiers pick any of them.');
  }
  const wanted = base64Value(expected.publicKey);
  // judge the record that is ours if there is one, else the first DKIM-like one
  const candidates = (dkim.length ? dkim : records).map((r) => judge(r, expected, wanted, normalizeKey));
  const best = candidates.find((c) => c.matches) ?? candidates[0];
  findings.push(...best.findings);
  return { name, findings, answers };
}

function describeAnswer(a) {
  if (a.status === 'nxdomain') return 'no such name';
  if (a.records.length === 0) return 'no TXT record';
  return `${a.records.length} record${a.records.length > 1 ? 's' : ''}`;
}

function judge(record, expected, wanted, normalizeKey) {
  const findings = [];
  const add = (level, code, text) => findings.push({ level, code, text });
  let value = record.value;
  // zone-file quoting pasted into a web form: the quotes became part of
  // the value. Say so, and judge the value as it was meant.
  if (/["\\]/.test(value)) {
    add('problem', 'stray-quotes', 'The published value contains quote (") or backslash characters: the zone-file form was '
      + 'pasted where the plain value belongs. In a web form, paste the one-string value, without quotes.');
    value = value.replace(/\\(.)/g, '$1').replace(/"\s*"/g, '').replace(/"/g, '');
  }
  const tags = parseTagList(value);
  if (!tags) {
    add('problem', 'not-a-record', 'The published value is not a DKIM key record (it is not a list of tag=value pairs).');
    return { findings, matches: false };
  }
  // 3.6.1: v= is optional, but when present it must come first and be DKIM1
  const v = tag(tags, 'v');
  if (v !== undefined && (v !== 'DKIM1' || tags[0].name !== 'v')) {
    add('problem', 'bad-version', 'v= must be the first tag and read DKIM1.');
  }
  const k = tag(tags, 'k') ?? 'rsa';
  if (k !== expected.algorithm) {
    add('problem', 'key-type', `The record says k=${k}, but the key made here is ${expected.algorithm === 'rsa' ? 'RSA (k=rsa)' : 'Ed25519 (k=ed25519)'}.`);
  }
  const p = tag(tags, 'p');
  let matches = false;
  if (p === undefined) {
    add('problem', 'no-key', 'The record has no p= tag: it carries no key.');
  } else if (base64Value(p) === '') {
    add('problem', 'revoked', 'p= is empty: the record says the key is revoked.');
  } else {
    const published = base64Value(p);
    if (published === wanted) {
      matches = true;
    } else if (wanted.startsWith(published)) {
      add('problem', 'truncated', `The key is cut short: ${published.length} of its ${wanted.length} characters were published. `
        + 'The provider probably kept only the first 255 characters; enter the value as one string, or as several quoted strings.');
    } else {
      let same = false;
      try {
        same = normalizeKey(published, k === 'ed25519' ? 'ed25519' : 'rsa') === wanted;
      } catch {
        add('problem', 'bad-key', 'The published p= is not a valid key (damaged, or cut short).');
      }
      if (same) {
        matches = true;
        add('info', 'other-encoding', 'The published key is this key in another encoding.');
      } else if (findings.every((f) => f.code !== 'bad-key')) {
        add('problem', 'key-mismatch', 'The published key is a different key, not the one made here (an older key?). '
          + 'Publish the record shown above.');
      }
    }
  }
  // key record s= (service types) and h= (hash algorithms), 3.6.1
  const s = tag(tags, 's');
  if (s !== undefined && !s.split(':').map((x) => x.trim()).some((x) => x === '*' || x === 'email')) {
    add('problem', 'service', `s=${s} does not include email: verifiers will not use this key for mail.`);
  }
  const h = tag(tags, 'h');
  if (h !== undefined && !h.split(':').map((x) => x.trim()).includes('sha256')) {
    add('problem', 'hash', `h=${h} does not allow sha256, the hash waxseal signs with.`);
  }
  const t = (tag(tags, 't') ?? '').split(':').map((x) => x.trim());
  if (t.includes('y')) {
    add('warning', 'test-mode', 'The record is in test mode (t=y). Receivers treat your signed mail as unsigned. '
      + 'Once test messages verify, publish the record without t=y.');
  }
  if (matches) {
    add('ok', 'matches', `The published key is the ${expected.algorithm === 'rsa' ? 'RSA' : 'Ed25519'} key made here.`);
  }
  return { findings, matches };
}

/** The name part of a finding list's worst level, for a one-line summary. */
export function worstLevel(findings) {
  for (const level of ['problem', 'warning', 'ok', 'info']) {
    if (findings.some((f) => f.level === level)) return level;
  }
  return 'info';
}
