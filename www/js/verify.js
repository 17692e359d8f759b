// Step 4: verify a message; for each signature the result and, when it
// fails, why: which signed header field is missing or changed, or that the
// body changed, with what was hashed, and a side-by-side comparison with
// the sender's copy when there is one.
import { verify } from 'waxseal';
import { dohResolveTxt } from './doh.js';
import { $, announce, busy, fill, h, statusBadge } from './dom.js';
import { explain, inlineDiff } from './explain.js';
import { messageInput } from './message-input.js';
import { dkimSignatureFields, prependField } from './message.js';
import { parsePastedRecord } from './record.js';
import { messageError } from './sign.js';
import { keyRecord, onChange, state } from './state.js';

// RFC 8601 2.7.1 result words, for people
const RESULTS = {
  pass: ['ok', 'Pass'],
  fail: ['problem', 'Fail'],
  permerror: ['problem', 'Permanent error'],
  temperror: ['warning', 'Temporary error'],
  policy: ['warning', 'Not accepted by policy'],
  neutral: ['info', 'Not checked'],
};

const HEADER_STATUS = {
  same: ['ok', 'unchanged'],
  present: ['info', 'signed'],
  absent: ['info', 'not present'],
  changed: ['problem', 'changed'],
  missing: ['problem', 'removed'],
  added: ['problem', 'added'],
};

export function setUpVerify() {
  const form = $('#verify-form');
  const received = messageInput({
    textarea: $('#verify-message'), file: $('#verify-file'), note: $('#verify-message-note'),
    zone: form.querySelector('[data-drop="verify"]'), what: 'Message to verify',
  });
  const sender = messageInput({
    textarea: $('#sender-message'), file: $('#sender-file'), note: $('#sender-message-note'),
    zone: form.querySelector('[data-drop="sender"]'), what: 'Sender\'s copy',
  });
  const button = $('#verify-button');
  const error = $('#verify-error');
  const output = $('#verify-output');
  const pasteField = $('#paste-record-field');

  form.addEventListener('change', (e) => {
    if (e.target.name === 'key-source') pasteField.hidden = form.elements['key-source'].value !== 'paste';
  });
  $('#verify-use-signed').addEventListener('click', () => received.set(state.signed, 'The signed message from step 3'));
  $('#sender-use-signed').addEventListener('click', () => sender.set(state.signed, 'The signed message from step 3'));
  onChange((what) => {
    if (what === 'signed') {
      $('#verify-use-signed').disabled = !state.signed;
      $('#sender-use-signed').disabled = !state.signed;
    }
  });
  button.disabled = false;

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const message = received.get();
    const source = form.elements['key-source'].value;
    const pasted = source === 'paste' ? parsePastedRecord($('#paste-record').value) : null;
    const problem = !message ? 'Paste or choose the message to verify.'
      : source === 'paste' && !pasted ? 'Paste the key record, or choose another source for the key.' : '';
    if (problem) {
      error.textContent = problem;
      error.hidden = false;
      return;
    }
    const origins = new Map(); // record name -> where its answer came from
    const resolveTxt = resolverFor(source, pasted, origins);
    try {
      const { report, senders } = await busy(button, $('#verify-busy'),
        source === 'doh' ? 'Verifying (asking DNS over HTTPS)…' : 'Verifying…', async () => {
          const report = await verify(message.bytes, { resolveTxt, diagnostics: true, authservId: location.hostname || 'localhost' });
          return { report, senders: await senderResults(message.bytes, sender.get(), report) };
        });
      draw(output, report, senders, origins, pasted);
      output.dataset.runs = String(Number(output.dataset.runs ?? 0) + 1);
      const words = report.results.length === 0 ? 'No DKIM signature in this message.'
        : report.results.map((r, i) => `Signature ${i + 1}: ${RESULTS[r.result]?.[1] ?? r.result}`
          + (r.result === 'pass' ? '.' : `. ${explain(r, senders[i]).words[0] ?? r.reason}`)).join(' ');
      announce(`Verified. ${words}`);
    } catch (err) {
      error.textContent = messageError(err);
      error.hidden = false;
    }
  });
}

function resolverFor(source, pasted, origins) {
  if (source === 'paste') {
    return async (name) => {
      origins.set(name, pasted.name && pasted.name.toLowerCase() !== name.toLowerCase()
        ? `the record you pasted (it names ${pasted.name})` : 'the record you pasted');
      return [[pasted.value]];
    };
  }
  if (source === 'doh') {
    const log = [];
    const doh = dohResolveTxt({}, log);
    return async (name) => {
      try {
        return await doh(name);
      } finally {
        const entry = log.find((l) => l.name === name);
        origins.set(name, entry && entry.resolver
          ? `DNS over HTTPS (${entry.resolver})${entry.status === 'ok' ? '' : ': no record'}`
          : 'DNS over HTTPS: no resolver answered');
      }
    };
  }
  return async (name) => {
    const key = state.keys.find((k) => state.domain && `${k.selector}._domainkey.${state.domain}`.toLowerCase() === name.toLowerCase());
    origins.set(name, key ? 'the key made on this page' : 'no key made on this page has this name');
    return key ? [keyRecord(key).strings] : null;
  };
}

/**
 * The sender's copy canonicalized under each signature's own h= and c=:
 * the received DKIM-Signature field put on top of the sender's copy and
 * verified with diagnostics (the result itself does not matter, only
 * what was hashed).
 */
async function senderResults(receivedBytes, senderCopy, report) {
  if (!senderCopy || report.results.length === 0) return [];
  const fields = dkimSignatureFields(receivedBytes);
  return Promise.all(report.results.map(async (r, i) => {
    if (!fields[i] || !r.diagnostics) return undefined;
    try {
      const copy = await verify(prependField(fields[i], senderCopy.bytes), { resolveTxt: () => null, diagnostics: true });
      return copy.results[0];
    } catch {
      return undefined; // the sender's copy is not a message: compare nothing
    }
  }));
}

function draw(output, report, senders, origins, pasted) {
  if (report.results.length === 0) {
    fill(output, h('div', { class: 'result info' },
      h('h3', {}, statusBadge('info', 'No signature'), h('span', { class: 'summary' }, 'dkim=none')),
      h('p', {}, 'This message carries no DKIM-Signature field.')));
    return;
  }
  fill(output,
    h('h3', { id: 'verify-results-title', tabindex: '-1' }, `Results: ${report.results.length} signature${report.results.length > 1 ? 's' : ''}`),
    report.results.map((r, i) => drawResult(r, i, senders[i], origins, pasted)),
    h('h3', {}, 'Authentication-Results'),
    h('p', { class: 'hint' }, 'The field a receiving server adds for these results (RFC 8601):'),
    h('pre', { class: 'value', id: 'auth-results' }, report.authenticationResultsField.replace(/\r\n$/, '')));
}

function drawResult(r, i, sender, origins, pasted) {
  const [level, word] = RESULTS[r.result] ?? ['info', r.result];
  const e = explain(r, sender);
  const keyName = r.selector && r.domain ? `${r.selector}._domainkey.${r.domain}` : null;
  return h('article', { class: `result ${level}`, id: `sig-${i + 1}`, 'aria-labelledby': `sig-${i + 1}-title` },
    h('h4', { id: `sig-${i + 1}-title` }, `Signature ${i + 1}: `, statusBadge(level, word),
      r.reason ? h('span', { class: 'reason' }, r.reason) : null,
      h('span', { class: 'summary' }, `d=${r.domain ?? '?'} s=${r.selector ?? '?'} a=${r.algorithm ?? '?'}`)),
    e.words.map((w) => h('p', { class: 'why' }, w)),
    keyName ? h('p', {}, 'Key record ', h('code', {}, keyName), `: from ${origins.get(keyName) ?? origins.get(keyName.toLowerCase()) ?? 'nowhere'}.`) : null,
    r.testing ? h('p', { class: 'note info' }, 'The key record is in test mode (t=y): receivers treat this signature as if the message were unsigned.') : null,
    pasted && r.result !== 'pass' && r.reasonCode === 'key_algorithm_mismatch'
      ? h('p', { class: 'hint' }, 'The pasted record is used for every signature; this one needs another key.') : null,
    // a failure shows what it was checked against, the part that failed
    // first; a pass keeps it folded
    e.headers.length || e.body
      ? h('details', { open: r.result !== 'pass' },
        h('summary', {}, r.result === 'pass' ? 'What this signature covers' : 'What was checked'),
        e.body && e.body.changed
          ? [bodyPart(e, i), headerPart(r, e, Boolean(sender))]
          : [headerPart(r, e, Boolean(sender)), e.body ? bodyPart(e, i) : null],
        e.body ? hashedPart(r, e) : null)
      : null);
}

// the header table, folded when it shows nothing wrong
function headerPart(r, e, withSender) {
  if (!e.headers.length) return null;
  const table = headerTable(r, e, withSender);
  const wrong = e.headers.some((x) => ['changed', 'missing', 'added'].includes(x.status));
  if (wrong || (r.result !== 'pass' && r.reasonCode === 'bad_signature')) return table;
  return h('details', {},
    h('summary', {}, withSender
      ? `Signed header fields: all ${e.headers.length} as in the sender's copy`
      : `Signed header fields (${e.headers.filter((x) => x.status === 'present').length} present)`),
    table);
}

// a line, with the part that differs from the other version marked
function marked(line, other, side) {
  if (line === null || line === undefined) return '(absent)';
  if (other === null || other === undefined) return line;
  const d = inlineDiff(side === 'sender' ? line : other, side === 'sender' ? other : line);
  const mid = side === 'sender' ? d.a : d.b;
  if (!mid) return line;
  return [d.prefix, h(side === 'sender' ? 'del' : 'ins', { class: 'part' }, mid), d.suffix];
}

function headerTable(r, e, withSender) {
  return h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Signed header fields' },
    h('table', {},
      h('caption', {}, `Signed header fields (h=), in the order they were hashed (c=${r.canonicalization}, canonicalized). `,
        h('span', { class: 'hint' }, 'A name listed more often than the field occurs means none may be added (“not present”).')),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Field'),
        h('th', { scope: 'col' }, 'State'),
        withSender ? h('th', { scope: 'col' }, 'As the sender sent it') : null,
        h('th', { scope: 'col' }, withSender ? 'As received' : 'As hashed'))),
      h('tbody', {}, e.headers.map((f) => {
        const [lvl, words] = HEADER_STATUS[f.status];
        return h('tr', { class: `h-${f.status}` },
          h('th', { scope: 'row' }, f.label),
          h('td', {}, statusBadge(lvl, words)),
          withSender ? h('td', { class: 'code' }, f.status === 'changed' ? marked(f.sender, f.received, 'sender') : f.sender ?? '(absent)') : null,
          h('td', { class: 'code' }, f.status === 'changed' ? marked(f.received, f.sender, 'received') : f.received ?? '(absent)'));
      }))));
}

function bodyPart(e, i) {
  const b = e.body;
  const parts = [
    h('p', {}, 'Body hash: ', b.changed ? statusBadge('problem', 'different') : statusBadge('ok', 'same'),
      ' computed here ', h('code', {}, b.computed), b.changed ? [', in the signature (bh=) ', h('code', {}, b.declared)] : null),
  ];
  if (b.sender) {
    if (b.tooDifferent) {
      parts.push(h('p', {}, 'The body differs from the sender\'s copy in too many lines to show side by side.'));
    } else if (b.hunks.length === 0) {
      parts.push(h('p', {}, statusBadge('ok', 'Same body'), ' The canonicalized body equals the sender\'s copy.'));
    } else {
      parts.push(diffTable(b, i));
    }
  }
  return parts;
}

function diffTable(b, i) {
  const rows = [];
  let lastA = -1;
  const mark = { change: '✗ changed', delete: '✗ removed', insert: '✗ added', equal: '' };
  for (const hunk of b.hunks) {
    const firstA = hunk.rows.find((x) => x.a !== undefined)?.a;
    if (firstA !== undefined && firstA > lastA + 1) {
      rows.push(h('tr', { class: 'gap' }, h('td', { colspan: '5' }, `${firstA - lastA - 1} unchanged line${firstA - lastA - 1 > 1 ? 's' : ''}`)));
    }
    for (const row of hunk.rows) {
      if (row.a !== undefined) lastA = row.a;
      const cls = { change: 'change', delete: 'del', insert: 'ins', equal: 'same' }[row.op];
      rows.push(h('tr', { class: cls },
        h('td', { class: 'num' }, row.a !== undefined ? String(row.a + 1) : ''),
        h('td', { class: 'code sender' }, row.a === undefined ? ''
          : row.op === 'change' ? marked(b.sender[row.a], b.received[row.b], 'sender') : b.sender[row.a]),
        h('td', { class: 'num' }, row.b !== undefined ? String(row.b + 1) : ''),
        h('td', { class: 'code received' }, row.b === undefined ? ''
          : row.op === 'change' ? marked(b.received[row.b], b.sender[row.a], 'received') : b.received[row.b]),
        h('td', { class: 'mark' }, mark[row.op])));
    }
  }
  return h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': `Body compared with the sender's copy, signature ${i + 1}` },
    h('table', { class: 'diff' },
      h('caption', {}, 'The body, canonicalized, line by line: the sender\'s copy and the message as received'),
      h('colgroup', {}, h('col', { class: 'num' }), h('col'), h('col', { class: 'num' }), h('col'), h('col', { class: 'mark' })),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Sender line number'), 'No.'),
        h('th', { scope: 'col' }, 'Sender\'s copy'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Received line number'), 'No.'),
        h('th', { scope: 'col' }, 'As received'),
        h('th', { scope: 'col' }, 'Change'))),
      h('tbody', {}, rows)));
}

function hashedPart(r, e) {
  return h('details', {},
    h('summary', {}, 'What was hashed (canonicalized header data and body)'),
    h('p', { class: 'hint' }, `c=${r.canonicalization}: the header fields named in h=, then this signature's own field with b= emptied `
      + '(RFC 6376 3.7); each line ends in CRLF. The body hash covers the canonicalized body.'),
    // scrollable, so focusable: keyboard users can scroll them too
    h('pre', { class: 'hashed', tabindex: '0', 'aria-label': 'Canonicalized header data' },
      [...e.headers.filter((x) => x.received !== null).map((x) => x.received), e.signature].join('\n')),
    h('p', {}, 'Body', e.body.truncated ? ' (only the first 1 MiB is shown)' : '', ':'),
    h('pre', { class: 'hashed', tabindex: '0', 'aria-label': 'Canonicalized body' }, e.body.received.join('\n')));
}
