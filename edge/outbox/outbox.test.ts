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
    const o = new Outbox(path.join(tempDir(), 'o.db'), { capBytes: 256 * 1024 });
    for (let i = 0; i < 1500; i++) o.append([alert(i)]);
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

// ── review findings: real bytes, priorities, the cap on disk, rollback, too-large items ──

const STATION = '朝阳区奥体中心监测站';
const ENTERPRISE = '某某化工有限公司';
/** Telemetry whose tags and string fields are Chinese text (3 UTF-8 bytes per character). */
const cn = (i: number, repeat = 4): NewItem => ({ kind: 'telemetry', ts: T + i, m: 'air', tags: { station: STATION, enterprise: ENTERPRISE }, fields: { value: i, note: `${STATION}${ENTERPRISE}`.repeat(repeat) } });
const event = (i: number): NewItem => ({ kind: 'event', ts: T + i, type: 'enterprise.exceedance', source: 's1', phase: 'instant', data: { enterprise: ENTERPRISE, station: STATION, i } });
/** A real JPEG (noise, so it does not compress away), as the protocol carries it: base64. */
async function jpeg(width = 200, height = 150, seed = 1): Promise<string> {
  const sharp = (await import('sharp')).default;
  const raw = Buffer.alloc(width * height * 3);
  let x = seed * 2654435761;
  for (let k = 0; k < raw.length; k++) { x = (x * 1103515245 + 12345) >>> 0; raw[k] = x >>> 24; }
  return (await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer()).toString('base64');
}
const snapOf = (i: number, data: string): NewItem => ({ kind: 'snapshot', ts: T + i, ref: '01890000-0000-7000-8000-000000000000', role: 'frame', contentType: 'image/jpeg', data });
const onDisk = (file: string) => ['', '-wal', '-shm'].reduce((n, s) => { try { return n + fs.statSync(file + s).size; } catch { return n; } }, 0);
const ALL = Number.MAX_SAFE_INTEGER;
const kindRows = (o: Outbox, prio: number) => o.take(prio, 0, ALL, 1_000_000);

describe('Outbox sizes, priorities and the cap on disk', () => {
  it('counts sizes in UTF-8 bytes, not UTF-16 code units', () => {
    const o = new Outbox(path.join(tempDir(), 'o.db'), { capBytes: 8 * 1024 * 1024 });
    o.append([cn(1)]);
    const row = kindRows(o, 3)[0];
    const utf8 = Buffer.byteLength(row.body);
    expect(utf8).toBeGreaterThan(row.body.length * 1.5); // the Chinese text weighs 3 bytes a character
    expect(row.bytes).toBe(utf8);
    expect(o.stats().payloadBytes).toBe(utf8);
    o.close();
  });

  it('an incoming item never evicts one of higher priority: it is dropped and counted instead', () => {
    const file = path.join(tempDir(), 'o.db');
    const o = new Outbox(file, { capBytes: 512 * 1024 });
    // fill with alerts until alerts evict alerts (the outbox is full of the highest priority)
    let i = 0;
    while (o.stats().evicted.alert.rows === 0) o.append([alert(i++)]);
    const alerts = o.stats().rowsByPriority.alert;
    const evictedAlerts = o.stats().evicted.alert.rows;
    for (let k = 0; k < 10; k++) o.append([tel(i++, 200)]);
    o.append([event(i++)]);
    let st = o.stats();
    expect(st.evicted.alert.rows).toBe(evictedAlerts);
    expect(st.rowsByPriority.alert).toBe(alerts);
    expect(st.rowsByPriority.telemetry).toBe(0);
    expect(st.dropped.telemetry.rows).toBe(10);
    expect(st.dropped.event.rows).toBe(1);
    expect(st.dropped.telemetry.bytes).toBeGreaterThan(10 * 200);
    // a new alert still gets in: it evicts the oldest alert (same priority)
    const [fresh] = o.append([alert(i++)]);
    st = o.stats();
    expect(st.evicted.alert.rows).toBeGreaterThan(evictedAlerts);
    expect(st.dropped.alert.rows).toBe(0);
    expect(kindRows(o, 0).at(-1)!.seq).toBe(fresh.seq);
    o.close();
    // dropped counters are durable
    const again = new Outbox(file, { capBytes: 512 * 1024 });
    expect(again.stats().dropped.telemetry.rows).toBe(10);
    again.close();
  });

  it('a higher-priority item evicts lower ones, lowest priority and oldest first', () => {
    const o = new Outbox(path.join(tempDir(), 'o.db'), { capBytes: 512 * 1024 });
    let i = 0;
    while (o.stats().evicted.telemetry.rows === 0) o.append([tel(i++, 300)]);
    const telBefore = o.stats().rowsByPriority.telemetry;
    for (let k = 0; k < 20; k++) o.append([event(i++)]);
    const st = o.stats();
    expect(st.rowsByPriority.event).toBe(20);
    expect(st.dropped.event.rows).toBe(0);
    expect(st.rowsByPriority.telemetry).toBeLessThan(telBefore);
    // what is left of the telemetry is the newest tail
    const left = kindRows(o, 3).map((r) => JSON.parse(r.body).fields.value as number);
    const lastTel = Math.max(...left);
    expect(left[0]).toBe(lastTel - left.length + 1);
    o.close();
  });

  it('an append larger than the whole budget is dropped and counted, never stored by evicting everything', () => {
    const file = path.join(tempDir(), 'o.db');
    const cap = 1024 * 1024;
    const o = new Outbox(file, { capBytes: cap });
    o.append([alert(0), event(1), tel(2, 100)]);
    // one item bigger than the whole outbox
    o.append([snapOf(3, 'A'.repeat(1_300_000))]);
    let st = o.stats();
    expect(st.evicted.alert.rows + st.evicted.event.rows + st.evicted.telemetry.rows).toBe(0);
    expect(st.rows).toBe(3);
    expect(st.dropped.snapshot.rows).toBe(1);
    // one append of many items that together exceed the budget: alerts and events survive,
    // the append keeps its newest telemetry that fits and drops the rest
    const big: NewItem[] = [];
    for (let k = 0; k < 700; k++) big.push(tel(10 + k, 2000));
    o.append(big);
    st = o.stats();
    expect(st.rowsByPriority.alert).toBe(1);
    expect(st.rowsByPriority.event).toBe(1);
    expect(st.payloadBytes).toBeLessThanOrEqual(st.budgetBytes);
    expect(onDisk(file)).toBeLessThanOrEqual(cap);
    expect(st.dropped.telemetry.rows).toBeGreaterThan(0);
    expect(st.rowsByPriority.telemetry + st.dropped.telemetry.rows + st.evicted.telemetry.rows).toBe(701);
    o.close();
  });

  it('keeps db + WAL + SHM under the cap after every append, with Chinese text and JPEG snapshots', async () => {
    const file = path.join(tempDir(), 'o.db');
    const cap = 1024 * 1024;
    const o = new Outbox(file, { capBytes: cap });
    const jpegs = [await jpeg(200, 150, 1), await jpeg(240, 180, 2), await jpeg(160, 120, 3)];
    const appended = [0, 0, 0, 0, 0];
    let max = 0;
    for (let i = 0; i < 3000; i++) {
      const items: NewItem[] = [cn(i)];
      if (i % 50 === 0) items.push(alert(i));
      if (i % 40 === 0) items.push(event(i));
      if (i % 25 === 0) items.push(snapOf(i, jpegs[i % 3]));
      o.append(items);
      appended[3]++;
      if (i % 50 === 0) appended[0]++;
      if (i % 40 === 0) appended[1]++;
      if (i % 25 === 0) appended[4]++;
      max = Math.max(max, onDisk(file));
    }
    const st = o.stats();
    expect(max).toBeLessThanOrEqual(cap);
    expect(st.rowsByPriority.alert).toBe(appended[0]);
    expect(st.rowsByPriority.event).toBe(appended[1]);
    expect(st.evicted.telemetry.rows).toBeGreaterThan(0);
    const names = ['alert', 'event', 'aggregate', 'telemetry', 'snapshot'] as const;
    for (let p = 0; p < 5; p++) expect(st.rowsByPriority[names[p]] + st.evicted[names[p]].rows + st.dropped[names[p]].rows).toBe(appended[p]);
    // the telemetry left is the newest tail
    const left = kindRows(o, 3).map((r) => JSON.parse(r.body).fields.value as number);
    expect(left.at(-1)).toBe(2999);
    expect(left[0]).toBe(3000 - left.length);
    o.close();
  });

  it('keeps its counters consistent when an append rolls back', () => {
    const file = path.join(tempDir(), 'o.db');
    const o = new Outbox(file, { capBytes: 512 * 1024 });
    let i = 0;
    while (o.stats().evicted.telemetry.rows === 0) o.append([tel(i++, 300), ...(i % 10 === 0 ? [alert(i)] : [])]);
    const before = o.stats();
    // the checkpoint write violates NOT NULL after the evictions and inserts ran: the transaction rolls back
    expect(() => o.append([tel(i++, 300), tel(i++, 300), alert(i++)], { key: 'src', value: null as unknown as string })).toThrow();
    const after = o.stats();
    const fresh = new Outbox(file, { capBytes: 512 * 1024 });
    const truth = fresh.stats();
    fresh.close();
    for (const st of [after, truth]) {
      expect(st.rows).toBe(before.rows);
      expect(st.payloadBytes).toBe(before.payloadBytes);
      expect(st.rowsByPriority).toEqual(before.rowsByPriority);
      expect(st.evicted).toEqual(before.evicted);
    }
    expect(o.checkpoint('src')).toBeUndefined();
    // and the outbox goes on working with the same numbers
    o.append([tel(i++, 300)]);
    expect(o.stats().rows).toBe(kindRows(o, 3).length + kindRows(o, 0).length);
    const rows = o.stats().rows;
    o.close();
    // a closed database: refused, and nothing counted
    expect(() => o.append([tel(i++)])).toThrow();
    expect(o.size).toBe(rows);
  });

  it('refuses an item larger than maxItemBytes with EDGE_ITEM_TOO_LARGE, counts it and stores nothing of that call', () => {
    const file = path.join(tempDir(), 'o.db');
    const o = new Outbox(file, { capBytes: 8 * 1024 * 1024, maxItemBytes: 16 * 1024 });
    const big = snapOf(2, 'A'.repeat(20_000));
    let err: unknown;
    try { o.append([tel(1), big]); } catch (e) { err = e; }
    expect(err).toMatchObject({ code: 'EDGE_ITEM_TOO_LARGE' });
    expect((err as Error).message).toContain('16384');
    expect((err as Error).message).toMatch(/20[0-9]{3} bytes/);
    expect(o.size).toBe(0);
    expect(o.stats().tooLarge.snapshot.rows).toBe(1);
    o.append([tel(3)]);
    o.close();
    const again = new Outbox(file, { capBytes: 8 * 1024 * 1024, maxItemBytes: 16 * 1024 });
    expect(again.stats().tooLarge.snapshot).toEqual({ rows: 1, bytes: expect.any(Number) });
    again.close();
  });
});
