// Small DOM helpers: elements built with the DOM API (the page's policy
// forbids HTML strings: Trusted Types 'none'), announcements for screen
// readers, copy, download, busy buttons.

/**
 * Creates an element: `h('p', { class: 'hint', id: 'x' }, 'text', child)`.
 * Attributes with `on` handlers (`onclick`) become listeners; `hidden`,
 * `disabled`, `checked` and friends become properties; null or false
 * children and attributes are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (['hidden', 'disabled', 'checked', 'value', 'readOnly', 'open'].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

let announceTimer;
/**
 * Says something to screen readers (the page's polite live region); the
 * same words are visible where the action happened.
 */
export function announce(text) {
  const region = document.getElementById('announce');
  clearTimeout(announceTimer);
  region.textContent = '';
  // a fresh text node after a tick, so the same words twice are read twice
  announceTimer = setTimeout(() => { region.textContent = text; }, 50);
}

/** Copies text; says so. */
export async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    announce(`Copied ${what}.`);
    return true;
  } catch {
    announce(`Could not copy ${what}: select it and copy it yourself.`);
    return false;
  }
}

/** Offers bytes or text as a file download (nothing leaves the browser). */
export function download(name, data, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/**
 * Runs `work` with `button` busy: disabled, aria-busy, and `words` in the
 * status slot next to it (a slot that is always there, so nothing moves).
 */
export async function busy(button, slot, words, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  slot.textContent = words;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    slot.textContent = '';
  }
}

/** Shows or clears a field's error message and its aria-invalid. */
export function fieldError(input, errorEl, message) {
  if (message) {
    input.setAttribute('aria-invalid', 'true');
    errorEl.textContent = message;
    errorEl.hidden = false;
  } else {
    input.removeAttribute('aria-invalid');
    errorEl.textContent = '';
    errorEl.hidden = true;
  }
}

/** A status word with its icon: meaning in words, colour only as help. */
export function statusBadge(level, words) {
  const icon = { ok: '✓', problem: '✗', warning: '⚠', info: 'ℹ' }[level] ?? '•';
  return h('span', { class: `status ${level}` }, h('span', { 'aria-hidden': 'true' }, icon), words);
}

/** A copy button for the text of `source` (an element or a function). */
export function copyButton(label, what, source) {
  return h('button', {
    type: 'button',
    class: 'copy',
    'aria-label': label,
    onclick: () => copyText(typeof source === 'function' ? source() : source.textContent, what),
  }, 'Copy');
}
