// Minimal stand-in for vitest's describe/it/expect, to run the kernel tests without vitest (device check).
const tests = [];
const prefix = [];
export function describe(name, fn) { prefix.push(name); fn(); prefix.pop(); }
function add(name, fn) { tests.push({ name: [...prefix, name].join(' > '), fn }); }
function fmt(name, args) {
  const obj = args[0];
  return name.replace(/\$(\w+)/g, (_, k) => (obj && typeof obj === 'object' ? JSON.stringify(obj[k]) : String(obj)));
}
export const it = Object.assign(add, {
  each: (table) => (name, fn) => table.forEach((row) => add(fmt(name, [row]), () => fn(row))),
  skipIf: (cond) => (name, fn) => (cond ? tests.push({ name: [...prefix, name].join(' > '), skip: true }) : add(name, fn)),
});
const eq = (a, b) => JSON.stringify(a, (k, v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v)) ===
  JSON.stringify(b, (k, v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v));
export function expect(actual, msg = '') {
  const fail = (what) => { throw new Error(`${msg} expected ${JSON.stringify(actual)?.slice(0, 200)} ${what}`); };
  return {
    toBe: (b) => Object.is(actual, b) || fail(`to be ${b}`),
    toEqual: (b) => eq(Array.isArray(b) || ArrayBuffer.isView(b) ? Array.from(actual) : actual, Array.isArray(b) ? b : b) || fail(`to equal ${JSON.stringify(b)?.slice(0, 200)}`),
    toBeLessThan: (b) => actual < b || fail(`< ${b}`),
    toBeLessThanOrEqual: (b) => actual <= b || fail(`<= ${b}`),
    toBeGreaterThan: (b) => actual > b || fail(`> ${b}`),
    toBeGreaterThanOrEqual: (b) => actual >= b || fail(`>= ${b}`),
    toBeTruthy: () => !!actual || fail('truthy'),
    toThrow: (re) => {
      try { actual(); } catch (e) { if (!re || re.test(String(e.message))) return; fail(`to throw ${re}, got ${e.message}`); }
      fail('to throw');
    },
  };
}
export async function runAll() {
  let passed = 0, failed = 0, skipped = 0;
  const t0 = performance.now();
  for (const t of tests) {
    if (t.skip) { skipped++; console.log(`SKIP ${t.name}`); continue; }
    const s = performance.now();
    try { await t.fn(); passed++; console.log(`ok   ${t.name} (${(performance.now() - s).toFixed(0)} ms)`); }
    catch (e) { failed++; console.log(`FAIL ${t.name}\n     ${String(e.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`); }
  }
  console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return failed;
}
