// Step 2: the legacy _policy._domainkey record, explained and marked
// obsolete, next to the DMARC record that does its job.
import { $, copyText, h } from './dom.js';
import { PRACTICES, dmarcValue, legacyValue, policyNames, practice } from './policy.js';
import { onChange, state } from './state.js';

export function setUpPolicy() {
  const box = $('#practices');
  for (const p of PRACTICES) {
    box.append(h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'practice', value: p.o, checked: p.o === '~' }),
      h('span', {}, h('code', {}, `o=${p.o}`), ' ', p.words, h('span', { class: 'hint-inline' }, ` — ${p.detail}`))));
  }
  const form = $('#policy-form');
  // the form has no action: Enter in its field must not submit it
  form.addEventListener('submit', (e) => e.preventDefault());
  const testing = $('#policy-testing');
  const report = $('#policy-report');

  const draw = () => {
    const o = form.elements.practice.value;
    const opts = { o, testing: testing.checked, report: report.validity.valid ? report.value.trim() : '' };
    const names = policyNames(state.domain || 'example.com');
    $('#legacy-name').textContent = names.legacy;
    $('#legacy-value').textContent = legacyValue(opts);
    $('#dmarc-name').textContent = names.dmarc;
    $('#dmarc-value').textContent = dmarcValue(opts);
    $('#legacy-meaning').textContent = `In words: ${practice(o).words.toLowerCase()}. ${practice(o).detail}`
      + (opts.testing ? ' (Testing: receivers are asked not to act on it yet.)' : '');
    // an exclusive policy (o=!, DMARC p=reject) drops your users' list posts
    $('#policy-caveat').hidden = !practice(o).exclusive;
  };
  form.addEventListener('input', draw);
  form.addEventListener('change', draw);
  onChange((what) => { if (what === 'domain') draw(); });
  for (const b of document.querySelectorAll('#policy button.copy')) {
    b.addEventListener('click', () => copyText($(`#${b.dataset.copy}`).textContent, b.getAttribute('aria-label').replace(/^Copy /, '')));
  }
  draw();
}
