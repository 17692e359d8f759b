// DNS-over-HTTPS, JSON API: the TXT records at a name, as two public
// resolvers see them. Used only when the person asks (the page sends
// nothing on its own); the names asked for are public DNS names, never key
// material. No DOM here: `fetch` is a parameter, so Node tests drive it.

/**
 * The two resolvers. Their JSON answers differ in one way that matters
 * here: Cloudflare writes TXT data in zone-file presentation form (each
 * string quoted, RFC 1035 5.1 escapes), Google writes the strings' text
 * concatenated, unquoted.
 */
export const RESOLVERS = [
  { id: 'cloudflare', name: 'Cloudflare (1.1.1.1)', url: 'https://cloudflare-dns.com/dns-query', format: 'quoted' },
  { id: 'google', name: 'Google Public DNS (8.8.8.8)', url: 'https://dns.google/resolve', format: 'plain' },
];

const TXT = 16;
const CNAME = 5;
/** CNAME hops followed before giving up (a loop or a very long chain). */
const MAX_HOPS = 8;

/** A DNS name without its trailing dot, lower case, for comparisons. */
export function normName(name) {
  return String(name).replace(/\.$/, '').toLowerCase();
}

/**
 * The strings of a TXT record in presentation form: `"v=DKIM1; k=rsa; "
 * "p=..."`. Inside quotes, `\"` and `\\` stand for themselves and `\DDD`
 * for a byte (RFC 1035 5.1). Data that is not quoted is one string.
 */
export function parseQuotedTxt(data) {
  const text = String(data).trim();
  if (!text.startsWith('"')) return [text];
  const strings = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) break;
    if (text[i] !== '"') return [text]; // not presentation form after all
    i++;
    const bytes = [];
    let closed = false;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        closed = true;
        i++;
        break;
      }
      if (c === '\\' && /^[0-9]{3}$/.test(text.slice(i + 1, i + 4))) {
        bytes.push(Number(text.slice(i + 1, i + 4)) & 0xff);
        i += 4;
      } else if (c === '\\' && i + 1 < text.length) {
        bytes.push(...new TextEncoder().encode(text[i + 1]));
        i += 2;
      } else {
        bytes.push(...new TextEncoder().encode(c));
        i++;
      }
    }
    if (!closed) return [text];
    strings.push(new TextDecoder().decode(new Uint8Array(bytes)));
  }
  return strings;
}

function answerUrl(resolver, name) {
  const u = new URL(resolver.url);
  u.searchParams.set('name', name);
  u.searchParams.set('type', 'TXT');
  return u.href;
}

/**
 * Asks one resolver for the TXT records at `name`, following CNAMEs (in
 * the answer, and by asking again for the target when a resolver stops at
 * the alias). Resolves to `{ status, name, chain, records, url }`:
 * `status` is 'ok' (records may be empty: the name exists without TXT),
 * 'nxdomain', or 'error' (with `error`, a sentence); `chain` lists the
 * aliases followed, `records` holds `{ strings, value }` per TXT record
 * (value: the strings concatenated, RFC 6376 3.6.2.2).
 */
export async function queryTxt(resolver, name, { fetch = globalThis.fetch, signal } = {}) {
  const chain = [];
  let current = normName(name);
  const seen = new Set([current]);
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const url = answerUrl(resolver, current);
    let json;
    try {
      const res = await fetch(url, { headers: { accept: 'application/dns-json' }, signal, cache: 'no-store' });
      if (!res.ok) return { status: 'error', name, chain, records: [], url, error: `HTTP ${res.status}` };
      json = await res.json();
    } catch (e) {
      return { status: 'error', name, chain, records: [], url, error: e && e.message ? e.message : String(e) };
    }
    // RCODE (RFC 1035 4.1.1): 0 NOERROR, 3 NXDOMAIN, others a failure
    if (json.Status !== 0 && json.Status !== 3) return { status: 'error', name, chain, records: [], url, error: `DNS error code ${json.Status}` };
    const answers = Array.isArray(json.Answer) ? json.Answer : [];
    // follow the aliases the resolver already chased, in order
    for (;;) {
      const alias = answers.find((a) => a.type === CNAME && normName(a.name) === current);
      if (!alias) break;
      const target = normName(alias.data);
      if (seen.has(target) || chain.length >= MAX_HOPS) {
        return { status: 'error', name, chain, records: [], url, error: 'CNAME loop or chain too long' };
      }
      chain.push({ from: current, to: target });
      seen.add(target);
      current = target;
    }
    // NXDOMAIN after the aliases: the name at the end of the chain does
    // not exist (RFC 2308 2.1), the aliases before it do
    if (json.Status === 3) return { status: 'nxdomain', name, chain, records: [], url };
    const txt = answers.filter((a) => a.type === TXT && normName(a.name) === current);
    const lastWasAlias = chain.length > 0 && chain[chain.length - 1].to === current;
    if (txt.length === 0 && lastWasAlias && hop < MAX_HOPS && !answers.some((a) => normName(a.name) === current)) {
      continue; // the resolver stopped at the alias: ask for its target
    }
    const records = txt.map((a) => {
      const strings = resolver.format === 'quoted' ? parseQuotedTxt(a.data) : [String(a.data)];
      return { strings, value: strings.join('') };
    });
    return { status: 'ok', name, chain, records, url };
  }
  return { status: 'error', name, chain, records: [], url: answerUrl(resolver, current), error: 'CNAME chain too long' };
}

/** `queryTxt` at every resolver, at the same time. */
export function queryAll(name, options) {
  return Promise.all(RESOLVERS.map(async (resolver) => ({ resolver, answer: await queryTxt(resolver, name, options) })));
}

/**
 * A `resolveTxt` for waxseal's `verify`: the first resolver that answers
 * (the next one is asked only when one fails). Remembers what it answered
 * in `log` (`{ name, resolver, status }`) so the page can say where each
 * key came from.
 */
export function dohResolveTxt(options = {}, log = []) {
  return async (name) => {
    let last;
    for (const resolver of RESOLVERS) {
      const a = await queryTxt(resolver, name, options);
      last = a;
      if (a.status === 'error') continue;
      log.push({ name, resolver: resolver.name, status: a.status });
      if (a.status === 'nxdomain' || a.records.length === 0) return null;
      return a.records.map((r) => r.strings);
    }
    log.push({ name, resolver: null, status: 'error', error: last && last.error });
    throw new Error(`DNS-over-HTTPS failed: ${last && last.error}`);
  };
}
