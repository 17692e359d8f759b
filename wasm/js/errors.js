// waxseal's errors: every error leaving the package is a WaxsealError.

/** An error from waxseal, with a stable machine-readable `code`. */
export class WaxsealError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'WaxsealError';
    this.code = code;
  }
}

// Every error leaving the package is a WaxsealError: the core's errors
// arrive as `{ code, message }`; anything else (a WebAssembly trap, a bug)
// is ERR_INTERNAL with the original as `cause`.
export function rethrow(e) {
  if (e instanceof WaxsealError) throw e;
  if (e && typeof e === 'object' && !(e instanceof Error) && typeof e.code === 'string') {
    throw new WaxsealError(e.code, String(e.message));
  }
  throw new WaxsealError('ERR_INTERNAL', `internal error: ${e && e.message !== undefined ? e.message : String(e)}`, { cause: e });
}

export function call(fn) {
  try {
    return fn();
  } catch (e) {
    return rethrow(e);
  }
}

export function invalid(message, options) {
  return new WaxsealError('ERR_INVALID_OPTION', message, options);
}
