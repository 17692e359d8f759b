// Step 1: the domain, making keys (RSA 1024-4096 or Ed25519, on WebCrypto
// and WebAssembly, in this page), the list of key cards, and the warning
// before leaving the page with a key that was not saved.
import { generateKey } from 'waxseal';
import { $, announce, busy, fieldError, h } from './dom.js';
import { keyCard } from './keycard.js';
import { changed, cleanDomain, nameProblem, newKeyId, onChange, state, unsavedKeys } from './state.js';

export function setUpKeys() {
  const form = $('#keygen');
  const domain = $('#domain');
  const selector = $('#selector');
  const bits = $('#bits');
  const bitsField = $('#bits-field');
  const button = $('#generate');
  const list = $('#key-list');
  let selectorTyped = false;

  const algorithm = () => form.elements.algorithm.value;
  // a suggestion until the person types their own: the key type and the year
  const suggest = () => {
    if (selectorTyped) return;
    const base = `${algorithm() === 'rsa' ? 'rsa' : 'ed'}${new Date().getFullYear()}`;
    let s = base;
    for (let n = 2; state.keys.some((k) => k.selector.toLowerCase() === s.toLowerCase()); n++) s = `${base}-${n}`;
    selector.value = s;
  };

  const checkDomain = (final) => {
    const d = cleanDomain(domain.value);
    const problem = d ? nameProblem({ domain: d }) : (final ? 'Enter your domain.' : '');
    // while typing, only say so once the name looks finished
    fieldError(domain, $('#domain-error'), final || !problem ? problem : '');
    const value = problem ? '' : d;
    if (value !== state.domain) {
      state.domain = value;
      changed('domain');
    }
    return !problem;
  };
  const checkSelector = () => {
    const s = selector.value.trim();
    let problem = s ? nameProblem({ selector: s }) : 'Enter a selector.';
    if (!problem && state.keys.some((k) => k.selector.toLowerCase() === s.toLowerCase())) problem = 'A key on this page already uses this selector.';
    fieldError(selector, $('#selector-error'), problem);
    return !problem;
  };

  domain.addEventListener('input', () => checkDomain(false));
  domain.addEventListener('change', () => {
    checkDomain(true);
    const d = cleanDomain(domain.value);
    if (d && d !== domain.value && !nameProblem({ domain: d })) {
      domain.value = d;
      announce(`Domain read as ${d}.`);
    }
  });
  selector.addEventListener('input', () => {
    selectorTyped = selector.value.trim() !== '';
    if (!selector.getAttribute('aria-invalid')) return;
    checkSelector();
  });
  form.addEventListener('change', (e) => {
    if (e.target.name === 'algorithm') {
      bitsField.hidden = algorithm() !== 'rsa';
      suggest();
    }
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const okDomain = checkDomain(true);
    const okSelector = checkSelector();
    if (!okDomain || !okSelector) {
      (okDomain ? selector : domain).focus();
      return;
    }
    const alg = algorithm();
    const size = Number(bits.value);
    const words = alg === 'rsa' ? `Making an RSA ${size}-bit key…` : 'Making an Ed25519 key…';
    // the card's place is kept while the key is made, so nothing jumps
    const placeholder = h('article', { class: 'key-card pending', 'aria-busy': 'true' },
      h('h3', {}, alg === 'rsa' ? `RSA ${size}-bit key` : 'Ed25519 key'), h('p', { class: 'hint' }, words));
    list.append(placeholder);
    try {
      const pair = await busy(button, $('#generate-busy'), words,
        () => generateKey(alg === 'rsa' ? { algorithm: 'rsa', bits: size } : { algorithm: 'ed25519' }));
      const key = {
        id: newKeyId(), ...pair, selector: selector.value.trim(), testing: true, saved: false,
      };
      state.keys.push(key);
      const card = keyCard(key, { onRemove: () => removeKey(key, card) });
      placeholder.replaceWith(card);
      selectorTyped = false;
      suggest();
      changed('keys');
      announce(`${card.querySelector('h3').textContent} made, for selector ${key.selector}. Save the private key before you leave the page.`);
      card.querySelector('h3').focus();
    } catch (err) {
      placeholder.remove();
      announce(`The key could not be made: ${err.message}`);
      fieldError(selector, $('#selector-error'), `The key could not be made: ${err.message}`);
    }
  });

  function removeKey(key, card) {
    if (!key.saved && !window.confirm(`The ${card.querySelector('h3').textContent} was not saved. Remove it anyway? It cannot be recovered.`)) return;
    state.keys.splice(state.keys.indexOf(key), 1);
    card.remove();
    changed('keys');
    announce('Key removed.');
    button.focus();
  }

  // Leaving with a key that exists nowhere else loses it: the browser asks
  // first. The listener is there only while such a key exists (a page with
  // a beforeunload listener is not kept in the back/forward cache).
  const guard = (e) => {
    e.preventDefault();
    e.returnValue = '';
  };
  let guarded = false;
  onChange(() => {
    const need = unsavedKeys().length > 0;
    if (need && !guarded) window.addEventListener('beforeunload', guard);
    if (!need && guarded) window.removeEventListener('beforeunload', guard);
    guarded = need;
  });

  suggest();
  bitsField.hidden = algorithm() !== 'rsa';
  if (domain.value) checkDomain(true);
  button.disabled = false;
}
