// An injectable wall clock for ONE process (not the machine's): `node --import ./clock-preload.mjs …`
// with CHAOS_CLOCK_FILE=<file>. The file holds a JSON `{ "offsetMs": <number> }` (or a bare
// number) written by the chaos harness; Date.now(), new Date() and Date() then read the real
// wall clock plus that offset. The file is read at start and re-read every 100 ms, so the harness
// steps this process's clock forward or backward while it runs — the way an NTP step or a
// drifted RTC being corrected moves a gateway's wall clock. Monotonic clocks (timers,
// performance.now(), process.hrtime) are left alone, as a real wall-clock step leaves them.
// Only the main thread is patched (an edge without cameras runs no workers).
import fs from 'node:fs';

const file = process.env.CHAOS_CLOCK_FILE;
const RealDate = globalThis.Date;
const realNow = RealDate.now.bind(RealDate);
let offset = 0;

function read() {
  if (!file) return;
  let text;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return; } // absent: keep the last offset
  const t = text.trim();
  if (!t) return;
  let v;
  try { v = JSON.parse(t); } catch { return; } // half-written: keep the last offset
  const n = typeof v === 'number' ? v : v?.offsetMs;
  if (typeof n === 'number' && Number.isFinite(n)) offset = n;
}

if (file) {
  read();
  const timer = setInterval(read, 100);
  timer.unref();

  const now = () => realNow() + offset;
  const FakeDate = new Proxy(RealDate, {
    // new Date() → the shifted now; new Date(x, …) → exactly what the real Date gives
    construct(target, args, newTarget) {
      return Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget === FakeDate ? target : newTarget);
    },
    // Date() called as a function returns the (shifted) current time as a string
    apply() {
      return new RealDate(now()).toString();
    },
    get(target, prop, receiver) {
      if (prop === 'now') return now;
      return Reflect.get(target, prop, receiver);
    },
  });
  globalThis.Date = FakeDate;
  // for the harness's own check that the preload is active in a child
  globalThis.__chaosClock = { offset: () => offset, file };
}
