// One key made on this page: saving it, its DNS record in the forms people
// publish it (RFC 6376 3.6.2), test mode, and "check what I published".
import { dnsRecord } from 'waxseal';
import { checkPublished, worstLevel } from './check.js';
import { queryAll } from './doh.js';
import { announce, busy, copyButton, download, fieldError, fill, h, statusBadge } from './dom.js';
import { byteLength, hostNames, zoneStrings } from './record.js';
import { changed, keyRecord, nameProblem, onChange, state } from './state.js';

const LEVEL_WORDS = { ok: 'Fine', problem: 'Problem', warning: 'Warning', info: 'Note' };
const ORDER = ['problem', 'warning', 'ok', 'info'];

function title(key) {
  return key.algorithm === 'rsa' ? `RSA ${key.bits}-bit key` : 'Ed25519 key';
}

/** The card of a key; redraws itself when the domain or the key changes. */
export function keyCard(key, { onRemove }) {
  const id = `key-${key.id}`;
  const heading = h('h3', { id: `${id}-title`, tabindex: '-1' }, title(key));
  const savedState = h('p', { class: 'key-meta' });
  const selector = h('input', {
    id: `${id}-selector`, type: 'text', value: key.selector, autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': `${id}-selector-error`,
  });
  const selectorError = h('p', { id: `${id}-selector-error`, class: 'error', hidden: true });
  const testing = h('input', { id: `${id}-testing`, type: 'checkbox', checked: key.testing });
  const record = h('div', { class: 'record-area' });
  const checkButton = h('button', { type: 'button', id: `${id}-check` }, 'Check what I published');
  const checkBusy = h('span', { class: 'busy', role: 'status' });
  // the outcome is announced in words (announce); the region itself stays quiet
  const checkOut = h('div', { class: 'check-output' });

  const save = () => {
    const name = `${key.selector}._domainkey.${state.domain || 'your-domain'}.private.pem`;
    download(name, key.privateKey, 'application/x-pem-file');
    key.saved = name;
    drawSaved();
    changed('keys');
    announce(`Private key handed to the browser as ${name}. Keep it secret: it signs mail as your domain. If the browser asked where to save it and you cancelled, press Save again.`);
  };

  function drawSaved() {
    fill(savedState, key.saved
      ? [statusBadge('ok', 'Saved'), ` as ${key.saved} (handed to the browser's downloads: if it asked where to save it and you cancelled, press Save again). Keep it secret and give it to your mail server.`]
      : [statusBadge('problem', 'Not saved'), ' The private key exists only in this page: save it before you leave.']);
  }

  selector.addEventListener('input', () => {
    const s = selector.value.trim();
    let problem = s ? nameProblem({ selector: s }) : 'Enter a selector.';
    if (!problem && state.keys.some((k) => k !== key && k.selector.toLowerCase() === s.toLowerCase())) problem = 'Another key on this page uses this selector.';
    fieldError(selector, selectorError, problem);
    if (!problem) {
      key.selector = s;
      drawRecord();
      changed('keys');
    }
  });
  testing.addEventListener('change', () => {
    key.testing = testing.checked;
    drawRecord();
    changed('keys');
    announce(key.testing ? 'Test mode on: t=y is in the record.' : 'Test mode off: t=y removed from the record.');
  });

  function drawRecord() {
    fill(checkOut);
    if (!state.domain) {
      fill(record, h('p', { class: 'note info' }, 'Enter your domain in the form above to see the record to publish.'));
      checkButton.disabled = true;
      return;
    }
    checkButton.disabled = false;
    const r = keyRecord(key);
    const names = hostNames(key.selector, state.domain);
    const zone = `${names.fqdn} IN TXT ${r.strings.length > 1 ? `( ${zoneStrings(r.strings)} )` : zoneStrings(r.strings)}`;
    const value = h('pre', { class: 'value', id: `${id}-value` }, r.value);
    const zoneEl = h('pre', { class: 'value', id: `${id}-zone` }, zone);
    const bytes = byteLength(r.value);
    fill(record,
      h('h4', {}, 'The record to publish'),
      h('dl', { class: 'record' },
        h('dt', {}, 'Name'),
        h('dd', {},
          h('div', { class: 'value-row' },
            h('code', { id: `${id}-host` }, names.relative),
            copyButton('Copy the name', 'the name', () => names.relative)),
          h('p', { class: 'hint' }, 'What most DNS providers\' web forms want: they add ', h('code', {}, state.domain), ' themselves.',
            ...(state.domain.split('.').length > 2
              ? [' If ', h('code', {}, state.domain), ' is not a zone of its own (its DNS is managed as part of a parent domain), enter the full name less that zone\'s domain: for example ',
                h('code', {}, `${names.relative}.${state.domain.split('.').slice(0, -2).join('.')}`), ' in the zone of ',
                h('code', {}, state.domain.split('.').slice(-2).join('.')), '.']
              : [])),
          h('div', { class: 'value-row' },
            h('span', {}, 'Full name: ', h('code', { id: `${id}-full` }, names.full)),
            copyButton('Copy the full name', 'the full name', () => names.full))),
        h('dt', {}, 'Type'),
        h('dd', {}, h('code', {}, 'TXT')),
        h('dt', {}, 'Value'),
        h('dd', {},
          h('p', { class: 'hint' }, 'One string, for web forms (they split it themselves):'),
          h('div', { class: 'value-row' }, value, copyButton('Copy the value', 'the value', () => r.value)),
          h('p', { class: 'size', id: `${id}-size` },
            `${bytes} bytes`, r.strings.length > 1
              ? `: longer than one DNS string (255 bytes), so a zone file holds it as ${r.strings.length} strings.`
              : ': one DNS string.')),
        h('dt', {}, 'Zone file'),
        h('dd', {},
          h('p', { class: 'hint' }, 'For BIND and other zone files: quoted strings of at most 255 bytes each.'),
          h('div', { class: 'value-row' }, zoneEl, copyButton('Copy the zone-file line', 'the zone-file line', () => zone)))),
      h('div', { class: 'note warning', id: `${id}-doubled` },
        h('p', {}, h('span', { class: 'icon', 'aria-hidden': 'true' }, '⚠ '), h('strong', {}, 'Enter the name only once. '),
          'If you type the full name into a web form that adds the domain itself, the record ends up at ',
          h('code', {}, names.doubled), ', where no receiver looks. “Check what I published” finds that mistake.')),
      key.testing
        ? h('div', { class: 'note info', id: `${id}-testing-note` },
          h('p', {}, h('span', { class: 'icon', 'aria-hidden': 'true' }, 'ℹ '), h('strong', {}, 'Test mode is on (t=y). '),
            'Receivers treat your signed mail as if it were unsigned (RFC 6376 3.6.1), so a mistake costs nothing while you set up. ',
            h('strong', {}, 'Remember to remove it'), ' once signed test messages verify at a few receivers: untick test mode and publish the record again.'))
        : null,
      h('div', { class: 'actions' },
        h('button', {
          type: 'button',
          onclick: () => {
            const file = `${names.full}.txt`;
            download(file, `${zoneStrings(r.strings)}\n`, 'text/plain');
            announce(`Record saved as ${file}.`);
          },
        }, 'Save the record (.txt)')));
  }

  checkButton.addEventListener('click', async () => {
    const expected = { selector: key.selector, domain: state.domain, algorithm: key.algorithm, publicKey: key.publicKey };
    const result = await busy(checkButton, checkBusy, 'Asking Cloudflare and Google…', () => checkPublished({
      expected,
      lookup: (name) => queryAll(name),
      normalizeKey: (p, algorithm) => dnsRecord(p, { selector: 's', domain: 'example.com', keyType: algorithm }).value.replace(/^.*p=/, ''),
    }));
    drawCheck(result);
  });

  function drawCheck({ name, findings, answers }) {
    const level = worstLevel(findings);
    const headline = { problem: 'Something is wrong', warning: 'Published, with a warning', ok: 'Published correctly', info: 'Looked up' }[level];
    fill(checkOut,
      h('div', { class: `result ${level}` },
        h('h4', {}, statusBadge(level, headline), h('span', { class: 'summary' }, name)),
        h('ul', { class: 'findings' }, [...findings].sort((a, b) => ORDER.indexOf(a.level) - ORDER.indexOf(b.level))
          .map((f) => h('li', {}, statusBadge(f.level, LEVEL_WORDS[f.level]), h('span', {}, f.text)))),
        h('details', {},
          h('summary', {}, 'What the resolvers answered'),
          answers.map(({ resolver, answer }) => h('div', {},
            h('p', {}, h('strong', {}, resolver.name), ': ', answer.status === 'ok'
              ? `${answer.records.length} TXT record${answer.records.length === 1 ? '' : 's'}` : answer.status === 'nxdomain' ? 'no such name' : `no answer (${answer.error})`),
            answer.records.map((r) => h('pre', { class: 'value' }, r.strings.map((s) => JSON.stringify(s)).join(' ')))))),
      ));
    announce(`${headline}: ${findings.map((f) => f.text).join(' ')}`);
  }

  const card = h('article', { class: 'key-card', id, 'aria-labelledby': `${id}-title` },
    heading,
    savedState,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: save }, 'Save the private key (.pem)'),
      h('button', { type: 'button', onclick: onRemove }, 'Remove this key')),
    h('div', { class: 'field' },
      h('label', { for: `${id}-selector` }, 'Selector'),
      selector,
      selectorError),
    h('div', { class: 'field' },
      h('label', { class: 'choice' }, testing, ' Test mode (t=y): receivers treat failures as unsigned mail')),
    record,
    h('h4', {}, 'Check what I published'),
    h('p', {}, 'Once the record is in DNS, this asks two public resolvers, Cloudflare and Google, for it over HTTPS and compares it '
      + 'with this key. It sends them the record\'s name only; nothing is looked up until you press the button.'),
    h('div', { class: 'actions' }, checkButton, checkBusy),
    checkOut);

  drawSaved();
  drawRecord();
  // a card removed from the page lets go of its key (the private key with
  // it); one not yet on the page waits
  let shown = false;
  const stop = onChange((what) => {
    if (card.isConnected) {
      shown = true;
      if (what === 'domain') drawRecord();
    } else if (shown) {
      stop();
    }
  });
  return card;
}
