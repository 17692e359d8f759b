// A message field: paste text, drop or choose a file, or take the message
// signed above. A file's bytes are used exactly as read (never decoded and
// re-encoded); typed or pasted text becomes CRLF bytes, and the field says so.
import { announce } from './dom.js';
import { bytesToText, isUtf8, textToMessage } from './message.js';

/** Bytes of a loaded message shown in its field (the whole message is used). */
const SHOWN = 512 * 1024;

/**
 * Wires a textarea (with its file input, note line and drop zone) and
 * returns `{ get, set, clear }`: `get()` gives `{ bytes, fromFile }` or null
 * when empty.
 */
export function messageInput({ textarea, file, note, zone, what }) {
  let fileBytes = null; // the exact bytes while the text shown is theirs

  const set = (bytes, label) => {
    fileBytes = bytes;
    // a large message is shown in part (the whole is used), and cannot be
    // edited: an edit would replace it with the part shown
    const partial = bytes.length > SHOWN;
    textarea.readOnly = partial;
    textarea.value = bytesToText(partial ? bytes.subarray(0, SHOWN) : bytes)
      + (partial ? `\n[… ${bytes.length - SHOWN} more bytes, not shown]` : '');
    note.textContent = `${label}: ${bytes.length} bytes, used exactly as read`
      + (isUtf8(bytes) ? '' : ' (not UTF-8: the text shown is approximate, the bytes are not)')
      + (partial ? '; shown in part. Choose another file, or a smaller one to edit it.' : '.');
    announce(`${what}: ${label} loaded.`);
  };

  const readFile = async (f) => {
    if (!f) return;
    set(new Uint8Array(await f.arrayBuffer()), `File ${f.name}`);
  };

  textarea.addEventListener('input', () => {
    if (fileBytes) {
      fileBytes = null;
      note.textContent = 'Edited: the text as shown is used, with CRLF line breaks.';
    } else if (!textarea.value) {
      note.textContent = '';
    }
  });
  file.addEventListener('change', () => readFile(file.files[0]).finally(() => { file.value = ''; }));
  zone.addEventListener('dragover', (e) => {
    if ([...e.dataTransfer.types].includes('Files')) e.preventDefault();
  });
  zone.addEventListener('drop', (e) => {
    if (e.dataTransfer.files.length) {
      e.preventDefault();
      readFile(e.dataTransfer.files[0]);
    }
  });

  return {
    get() {
      if (fileBytes) return { bytes: fileBytes, fromFile: true };
      if (!textarea.value.trim()) return null;
      const { bytes, converted } = textToMessage(textarea.value);
      // RFC 5322 lines end in CRLF; a browser hands pasted text over with LF
      note.textContent = converted
        ? 'Pasted text: line breaks were made CRLF (as on the wire); text is UTF-8.'
        : 'Pasted text, used as UTF-8.';
      return { bytes, fromFile: false };
    },
    set,
    clear() {
      fileBytes = null;
      textarea.readOnly = false;
      textarea.value = '';
      note.textContent = '';
    },
  };
}
