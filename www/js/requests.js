// Step 5: every request the page has made, as the browser reports it
// (Resource Timing: the page itself, its files, DNS-over-HTTPS lookups),
// and anything the page's policy blocked, so "the key never leaves the
// browser" is something a person can check.
import { $, fill, h, statusBadge } from './dom.js';

// initiatorType and the address, in words
function kind(entry) {
  const u = new URL(entry.name);
  if (u.origin !== location.origin) return 'DNS-over-HTTPS lookup';
  if (u.pathname.endsWith('.wasm')) return 'WebAssembly (the DKIM engine)';
  if (u.pathname.endsWith('.css')) return 'style sheet';
  if (u.pathname.endsWith('.js')) return 'script';
  if (u.pathname.endsWith('.svg')) return 'icon';
  return entry.initiatorType;
}

/** A path as people read it; as it is when it is not valid percent-encoding (`?ref=50%off`). */
function readable(path) {
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}

export function setUpRequests() {
  const body = $('#request-table tbody');
  const summary = $('#request-summary');
  $('#own-origin').textContent = location.origin;
  const rows = [];

  const add = (url, kind, blocked = false) => {
    let u;
    try {
      u = new URL(url, location.href);
    } catch {
      return;
    }
    if (u.protocol === 'blob:' || u.protocol === 'data:') return; // never on the network
    rows.push({ url: u.href, kind, own: u.origin === location.origin, host: u.host, blocked });
    draw();
  };

  const draw = () => {
    fill(body, rows.map((r, i) => h('tr', { class: r.own ? '' : 'foreign' },
      h('td', {}, String(i + 1)),
      h('td', {}, r.own ? readable(new URL(r.url).pathname + new URL(r.url).search) : r.url),
      h('td', {}, r.blocked ? [statusBadge('problem', 'Blocked'), ' by the page\'s policy, never sent'] : r.kind),
      h('td', {}, r.own ? 'this site' : `other site: ${r.host}`))));
    const made = rows.filter((r) => !r.blocked);
    const own = made.filter((r) => r.own).length;
    const hosts = [...new Set(made.filter((r) => !r.own).map((r) => r.host))];
    const blocked = rows.filter((r) => r.blocked);
    summary.textContent = `${made.length} request${made.length === 1 ? '' : 's'}: ${own} to this site`
      + (hosts.length ? `, ${made.length - own} to ${hosts.join(' and ')} (lookups you asked for)` : ', none anywhere else')
      + (blocked.length ? `; ${blocked.length} blocked by the page's policy (${[...new Set(blocked.map((r) => r.host))].join(', ')})` : '') + '.';
  };

  const nav = performance.getEntriesByType('navigation')[0];
  add(nav ? nav.name : location.href, 'the page');
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) add(e.name, kind(e));
  }).observe({ type: 'resource', buffered: true });
  // a request the Content-Security-Policy stopped never shows up above
  // (the policy is both a header and a <meta>, so each refusal is reported
  // twice at once: one row for both)
  let last = { uri: '', at: -1 };
  document.addEventListener('securitypolicyviolation', (e) => {
    if (!e.blockedURI || !/^https?:/.test(e.blockedURI)) return;
    if (last.uri === e.blockedURI && e.timeStamp - last.at < 100) return;
    last = { uri: e.blockedURI, at: e.timeStamp };
    add(e.blockedURI, e.effectiveDirective, true);
  });
}
