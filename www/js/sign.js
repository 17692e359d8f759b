// Step 3: sign a message with the keys made on this page (one signature
// per key, in one pass: RSA and Ed25519 side by side, RFC 8463 3).
import { signMessage } from 'waxseal';
import { $, announce, busy, copyText, download, fill, h } from './dom.js';
import { messageInput } from './message-input.js';
import { bytesToText, sampleMessage } from './message.js';
import { changed, onChange, state } from './state.js';

/** Plain words for the errors a person can fix. */
export function messageError(e) {
  const words = {
    ERR_MALFORMED_MESSAGE: 'This is not a mail message: it needs header fields (Name: value), an empty line, then the body.',
    ERR_MISSING_FROM: 'The message has no From field; DKIM always signs From (RFC 6376 5.4).',
    ERR_SEVERAL_FROM: 'The message has more than one From field; a receiver could show one and check the other (RFC 6376 8.15).',
    ERR_HEADER_TOO_LARGE: 'The header block is too large.',
  }[e && e.code];
  return words ? `${words} (${e.message})` : (e && e.message) || String(e);
}

export function setUpSign() {
  const form = $('#sign-form');
  const input = messageInput({
    textarea: $('#sign-message'), file: $('#sign-file'), note: $('#sign-message-note'),
    zone: form.querySelector('[data-drop="sign"]'), what: 'Message to sign',
  });
  const keysBox = $('#sign-keys');
  const button = $('#sign-button');
  const error = $('#sign-error');
  const output = $('#sign-output');
  const signedText = $('#signed-message');

  $('#sign-sample').addEventListener('click', () => {
    input.clear();
    $('#sign-message').value = sampleMessage(state.domain);
    $('#sign-message-note').textContent = 'A sample message from your domain.';
    announce('Sample message inserted.');
  });

  // a new key is ticked; the others keep what the person chose
  const shown = new Set();
  const drawKeys = () => {
    const unticked = new Set([...keysBox.querySelectorAll('input:not(:checked)')].map((i) => i.value));
    if (state.keys.length === 0) {
      fill(keysBox, h('p', { class: 'hint' }, 'Make a key first (step 1).'));
    } else {
      fill(keysBox, state.keys.map((k) => h('label', { class: 'choice' },
        h('input', { type: 'checkbox', name: 'sign-key', value: String(k.id), checked: !(shown.has(k.id) && unticked.has(String(k.id))) }),
        `${k.algorithm === 'rsa' ? `RSA ${k.bits}-bit` : 'Ed25519'} key, selector ${k.selector}`)));
      for (const k of state.keys) shown.add(k.id);
    }
    button.disabled = state.keys.length === 0;
  };
  onChange((what) => { if (what === 'keys') drawKeys(); });
  drawKeys();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const message = input.get();
    const keys = state.keys.filter((k) => keysBox.querySelector(`input[value="${k.id}"]`)?.checked);
    const problem = !state.domain ? 'Enter your domain in step 1 first.'
      : !message ? 'Paste or choose the message to sign.'
        : keys.length === 0 ? 'Choose at least one key to sign with.' : '';
    if (problem) {
      error.textContent = problem;
      error.hidden = false;
      return;
    }
    try {
      const signed = await busy(button, $('#sign-busy'), 'Signing…', () => signMessage(message.bytes,
        keys.map((k) => ({ domain: state.domain, selector: k.selector, privateKey: k.privateKey }))));
      state.signed = signed;
      signedText.value = bytesToText(signed);
      output.hidden = false;
      changed('signed');
      announce(`Signed with ${keys.length} key${keys.length > 1 ? 's' : ''}. The signed message is below.`);
      output.querySelector('h3').setAttribute('tabindex', '-1');
      output.querySelector('h3').focus();
    } catch (err) {
      error.textContent = messageError(err);
      error.hidden = false;
    }
  });

  $('#signed-download').addEventListener('click', () => {
    download('signed.eml', state.signed, 'message/rfc822');
    announce('Signed message saved as signed.eml.');
  });
  output.querySelector('button.copy').addEventListener('click', () => copyText(signedText.value, 'the signed message'));
  $('#signed-to-verify').addEventListener('click', () => {
    $('#verify-use-signed').click();
    $('#verify-message').focus();
  });
}
