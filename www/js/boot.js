// Loads the page's code, which waits for the DKIM engine (WebAssembly). A
// browser that cannot run it gets a sentence instead of a silent page.
const state = document.getElementById('load-state');
try {
  const app = await import('./app.js');
  await app.start();
  state.textContent = 'Ready. Keys and messages stay in this browser.';
} catch (e) {
  state.classList.add('failed');
  state.textContent = `This browser could not start the DKIM engine (${e && e.message ? e.message : e}). `
    + 'It needs WebAssembly and a current version of Chrome, Edge, Firefox or Safari.';
  throw e;
}
