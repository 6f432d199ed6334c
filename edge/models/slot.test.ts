import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/peers/ports.ts';
import { readJournal, writeJournal, emptyJournal } from './journal.ts';
import { closeWhenDrained, ModelSlot, type LoadedModel } from './slot.ts';
import type { DetectResult } from '../vision/detector/types.ts';
import { loadCard } from '../../models/card.ts';

/** A runtime whose frames complete when the test says so (to put frames in flight across a swap). */
function gated(name: string) {
  const waiting: Array<() => void> = [];
  let inFlight = 0;
  let closed = false;
  const rt = {
    get inFlight() { return inFlight; },
    detect: () => { inFlight++; return new Promise<DetectResult>((r) => waiting.push(() => { inFlight--; r({ detections: [{ cls: 0, label: name, score: 1, box: [0, 0, 1, 1] }], timings: { preMs: 0, inferMs: 1, postMs: 0 } }); })); },
    close: async () => { if (inFlight) throw new Error('closed with frames in flight'); closed = true; },
  };
  const m: LoadedModel = { name, version: '1', digest: name, card: loadCard('nanodet_m_320'), runtime: rt };
  return { m, release: () => waiting.splice(0).forEach((f) => f()), isClosed: () => closed };
}

describe('ModelSlot', () => {
  it('a swap takes effect for the next frame; frames in flight finish on the old model, which closes only when drained', async () => {
    const slot = new ModelSlot();
    const a = gated('a');
    const b = gated('b');
    slot.install(a.m);
    const f1 = slot.detect({ data: new Uint8Array(3), width: 1, height: 1 });
    const old = slot.install(b.m);
    const f2 = slot.detect({ data: new Uint8Array(3), width: 1, height: 1 });
    const closing = closeWhenDrained(old!.runtime);
    await new Promise((r) => setTimeout(r, 30));
    expect(a.isClosed()).toBe(false);
    a.release(); b.release();
    expect((await f1).model.name).toBe('a');
    expect((await f2).model.name).toBe('b');
    await closing;
    expect(a.isClosed()).toBe(true);
    const stats = slot.takeStats();
    expect(stats.map((s) => [s.model, s.frames, s.detections])).toEqual([['a', 1, 1], ['b', 1, 1]]);
    expect(slot.takeStats()).toEqual([]);
  });
  it('refuses frames before any model is installed, with a code', async () => {
    await expect(new ModelSlot().detect({ data: new Uint8Array(3), width: 1, height: 1 })).rejects.toMatchObject({ code: 'MODEL_NOT_LOADED' });
  });
});

describe('journal', () => {
  it('round-trips atomically and reports damage with a code', () => {
    const f = path.join(tempDir('journal-'), 'journal.json');
    expect(readJournal(f)).toEqual(emptyJournal());
    const j = emptyJournal();
    j.active = { name: 'x', version: '1', digest: 'd', dir: '/x', source: 'bundle' };
    writeJournal(f, j);
    expect(readJournal(f).active?.name).toBe('x');
    expect(fs.existsSync(`${f}.tmp`)).toBe(false);
    fs.writeFileSync(f, '{"v":1,"act');
    expect(() => readJournal(f)).toThrow(expect.objectContaining({ code: 'MODEL_JOURNAL_CORRUPT' }));
  });
});
