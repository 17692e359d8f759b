// A line diff (Myers, "An O(ND) Difference Algorithm and Its Variations",
// 1986): the shortest edit script between two lists of lines, with a cap
// on the number of edits so a hostile or unrelated pair cannot stall the
// page. No DOM.

/**
 * Compares `a` and `b` (arrays of strings). Returns the edit script as
 * `[{ op: 'equal'|'delete'|'insert', a?: index, b?: index }]` (indices into
 * `a` and `b`), or null when more than `maxEdits` lines differ.
 */
export function diffLines(a, b, { maxEdits = 1000 } = {}) {
  // common prefix and suffix need no search
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const A = a.slice(pre, a.length - suf);
  const B = b.slice(pre, b.length - suf);
  const middle = shortestEdit(A, B, maxEdits);
  if (!middle) return null;
  const ops = [];
  for (let i = 0; i < pre; i++) ops.push({ op: 'equal', a: i, b: i });
  for (const o of middle) {
    ops.push({ op: o.op, a: o.a === undefined ? undefined : o.a + pre, b: o.b === undefined ? undefined : o.b + pre });
  }
  for (let i = 0; i < suf; i++) ops.push({ op: 'equal', a: a.length - suf + i, b: b.length - suf + i });
  return ops;
}

function shortestEdit(a, b, maxEdits) {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, maxEdits);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1])
        ? v[offset + k + 1] // down: an insertion
        : v[offset + k - 1] + 1; // right: a deletion
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, d, offset, a, b);
    }
  }
  return null;
}

function backtrack(trace, dEnd, offset, a, b) {
  const ops = [];
  let x = a.length;
  let y = b.length;
  for (let d = dEnd; d > 0; d--) {
    const v = trace[d];
    const k = x - y;
    const prevK = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? k + 1 : k - 1;
    const prevX = v[offset + prevK];
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      ops.push({ op: 'equal', a: x, b: y });
    }
    if (x === prevX) {
      y--;
      ops.push({ op: 'insert', b: y });
    } else {
      x--;
      ops.push({ op: 'delete', a: x });
    }
  }
  while (x > 0 && y > 0) {
    x--;
    y--;
    ops.push({ op: 'equal', a: x, b: y });
  }
  return ops.reverse();
}

/**
 * Groups an edit script into hunks with `context` equal lines around each
 * change: `[{ rows: [{ op, a?, b? }] }]`. Deletions and insertions next to
 * each other are paired into 'change' rows (side by side).
 */
export function hunks(ops, context = 3) {
  const changed = ops.map((o) => o.op !== 'equal');
  const keep = ops.map((_, i) => {
    for (let j = Math.max(0, i - context); j <= Math.min(ops.length - 1, i + context); j++) if (changed[j]) return true;
    return false;
  });
  const out = [];
  let cur = null;
  for (let i = 0; i < ops.length; i++) {
    if (!keep[i]) {
      cur = null;
      continue;
    }
    if (!cur) {
      cur = { rows: [] };
      out.push(cur);
    }
    cur.rows.push(ops[i]);
  }
  // pair a run of deletions with the run of insertions after it
  for (const h of out) {
    const rows = [];
    for (let i = 0; i < h.rows.length;) {
      if (h.rows[i].op === 'equal') {
        rows.push(h.rows[i++]);
        continue;
      }
      const del = [];
      const ins = [];
      while (i < h.rows.length && h.rows[i].op === 'delete') del.push(h.rows[i++]);
      while (i < h.rows.length && h.rows[i].op === 'insert') ins.push(h.rows[i++]);
      for (let j = 0; j < Math.max(del.length, ins.length); j++) {
        const d = del[j];
        const n = ins[j];
        rows.push(d && n ? { op: 'change', a: d.a, b: n.b } : d ?? n);
      }
    }
    h.rows = rows;
  }
  return out;
}
