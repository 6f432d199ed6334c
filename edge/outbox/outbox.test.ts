import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/peers/ports.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import { Outbox } from './outbox.ts';

const T = 1_700_000_000_000;
const tel = (i: number, pad = 0): NewItem => ({ kind: 'telemetry', ts: T + i, m: 'air', tags: { station: 's1' }, fields: { value: i, ...(pad ? { pad: 'x'.repeat(pad) } : {}) } });
const alert = (i: number): NewItem => ({ kind: 'alert', ts: T + i, rule: 'pm25', source: 's1', state: 'raise', severity: 'warning', message: `alert ${i}`, data: {} });
const snap = (i: number): NewItem => ({ kind: 'snapshot', ts: T + i, ref: '01890000-0000-7000-8000-000000000000', role: 'frame', contentType: 'image/jpeg', data: 'A'.repeat(2000) });

describe('Outbox', () => {
  it('stamps ids and gap-free sequence numbers, and keeps them across reopen', () => {
    const file = path.join(tempDir(), 'outbox.db');
    const a = new Outbox(file, { capBytes: 8 * 1024 * 1024 });
    const items = a.append([tel(1), tel(2)], { key: 'src', value: '2' });
    expect(items.map((i) => i.seq)).toEqual([1, 2]);
    expect(items[0].id).toMatch(/^[0-9a-f-]{36}$/);
    const stream = a.streamId;
    a.ack([1, 2]);
    a.close();
    const b = new Outbox(file, { capBytes: 8 * 1024 * 1024 });
    expect(b.streamId).toBe(stream);
    expect(b.checkpoint('src')).toBe('2');
    // seq never goes back, even when every row was acknowledged and deleted
    expect(b.append([tel(3)])[0].seq).toBe(3);
    b.close();
  });

  it('refuses an invalid item with a code and stores nothing of that call', () => {
    const o = new Outbox(path.join(tempDir(), 'o.db'), { capBytes: 8 * 1024 * 1024 });
    const bad = { kind: 'telemetry', ts: T, m: 'air', tags: {}, fields: {} } as unknown as NewItem;
    expect(() => o.append([tel(1), bad])).toThrowError(expect.objectContaining({ code: 'EDGE_ITEM_INVALID' }));
    expect(o.size).toBe(0);
    expect(o.append([tel(1)])[0].seq).toBe(1);
    o.close();
  });

  it('hands out rows by priority segment and deletes only acknowledged ones', () => {
    const o = new Outbox(path.join(tempDir(), 'o.db'), { capBytes: 8 * 1024 * 1024 });
    o.append([tel(1), alert(2), tel(3), snap(4)]);
    expect(o.take(0, 0, 100, 10).map((r) => r.seq)).toEqual([2]);
    expect(o.take(3, 0, 100, 10).map((r) => r.seq)).toEqual([1, 3]);
    expect(o.take(3, 1, 100, 10).map((r) => r.seq)).toEqual([3]);
    expect(o.take(4, 0, 100, 10)[0].channel).toBe('snapshots');
    o.ack([1, 2]);
    expect(o.size).toBe(2);
    o.close();
  });

  it('under a long outage stays under its disk cap, keeps every alert, evicts the oldest lowest-priority rows first and counts them', () => {
    const file = path.join(tempDir(), 'o.db');
    const cap = 1024 * 1024;
    const o = new Outbox(file, { capBytes: cap });
    let maxFile = 0;
    for (let i = 0; i < 4000; i++) {
      o.append([tel(i, 400), ...(i % 100 === 0 ? [alert(i)] : []), ...(i % 500 === 0 ? [snap(i)] : [])]);
      if (i % 200 === 0) maxFile = Math.max(maxFile, o.fileBytes());
    }
    maxFile = Math.max(maxFile, o.fileBytes());
    const st = o.stats();
    expect(maxFile).toBeLessThanOrEqual(cap);
    expect(st.rowsByPriority.alert).toBe(40);
    expect(st.evicted.alert.rows).toBe(0);
    expect(st.evicted.snapshot.rows).toBe(8);
    expect(st.evicted.telemetry.rows).toBeGreaterThan(2000);
    // the oldest telemetry went: what is left is a contiguous newest tail
    const left = o.take(3, 0, Number.MAX_SAFE_INTEGER, 10_000).map((r) => JSON.parse(r.body).fields.value as number);
    expect(left[left.length - 1]).toBe(3999);
    expect(left[0]).toBe(4000 - left.length);
    expect(st.evicted.telemetry.rows + left.length).toBe(4000);
    o.close();
    // counters are durable
    const again = new Outbox(file, { capBytes: cap });
    expect(again.stats().evicted.telemetry.rows).toBe(st.evicted.telemetry.rows);
    again.close();
  });

  it('evicts alerts only when nothing else is left', () => {
    const o = new Outbox(path.join(tempDir(), 'o.db'), { capBytes: 64 * 1024 });
    for (let i = 0; i < 400; i++) o.append([alert(i)]);
    const st = o.stats();
    expect(st.evicted.alert.rows).toBeGreaterThan(0);
    expect(st.payloadBytes).toBeLessThanOrEqual(st.budgetBytes);
    o.close();
  });

  it('estimates hours of autonomy from the measured append rate', () => {
    let now = T;
    const o = new Outbox(path.join(tempDir(), 'o.db'), { capBytes: 10 * 1024 * 1024, now: () => now });
    expect(o.stats().autonomyHours).toBeNull();
    // one 500-byte row a minute for an hour
    for (let i = 0; i < 60; i++) { o.append([tel(i, 420)]); now += 60_000; }
    const st = o.stats();
    const perHour = st.appendRateBytesPerHour;
    // nothing was sent or evicted, so everything stored is what an hour appended
    expect(perHour).toBeGreaterThan(st.payloadBytes * 0.95);
    expect(perHour).toBeLessThan(st.payloadBytes * 1.05);
    expect(st.autonomyHours).toBeCloseTo((st.budgetBytes - st.payloadBytes) / perHour, 1);
    o.close();
  });

  it('rejects a cap too small to be useful', () => {
    expect(() => new Outbox(path.join(tempDir(), 'o.db'), { capBytes: 1000 })).toThrowError(expect.objectContaining({ code: 'EDGE_OUTBOX_CONFIG' }));
  });

  it('refuses a corrupt file with a coded error', () => {
    const file = path.join(tempDir(), 'o.db');
    fs.writeFileSync(file, Buffer.alloc(8192, 7));
    expect(() => new Outbox(file, { capBytes: 1024 * 1024 })).toThrowError(expect.objectContaining({ code: 'EDGE_OUTBOX_OPEN' }));
  });
});
