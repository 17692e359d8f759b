// The page: five steps, each set up by its module, once the DKIM engine
// (the waxseal package, WebAssembly) has loaded through the import map.
import { setUpKeys } from './keys.js';
import { setUpPolicy } from './policy-ui.js';
import { setUpRequests } from './requests.js';
import { setUpSign } from './sign.js';
import { setUpVerify } from './verify.js';

export async function start() {
  setUpRequests();
  setUpKeys();
  setUpPolicy();
  setUpSign();
  setUpVerify();
  document.documentElement.dataset.ready = 'true';
}
