import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryContext } from '../../test/support/source-context.ts';
import { validateConfig } from '../../lib/config.ts';
import { isCoded } from '../../lib/errors.ts';
import { rootLogger } from '../../lib/log.ts';
import { dataFile } from '../../lib/data-dir.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { checkers, type Item, type NewItem } from '../../protocol/schemas.ts';
import { DockController } from '../../firmware-bridge/dock/simulator.ts';
import { waitFor } from '../../test/peers/ports.ts';
import type { SourceContext } from '../../lib/contract/source.ts';
import { bikeDockFactory, BikeDockSource } from './bike-docks.ts';

const cleanup: (() => unknown)[] = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

function ctx(): SourceContext & { items: Item[] } {
  const items: Item[] = [];
  let seq = 0;
  return {
    items, site: 'oslo-1', log: rootLogger, metrics: new Registry(), stateDir: '/tmp', configDir: dataFile('bikes'),
    emit(batch: NewItem[]) {
      const stamped = batch.map((i) => ({ ...i, id: newMessageId(), seq: ++seq }) as Item);
      for (const s of stamped) if (!checkers.item.Check(s)) throw new Error(`invalid item ${JSON.stringify(s)}`);
      items.push(...stamped);
      return stamped;
    },
    checkpoint: () => undefined,
  };
}

describe('bike-docks edge source', () => {
  it('validates its config with defaults and rejects a short card key', () => {
    const cfg = validateConfig(bikeDockFactory.schema, { type: 'bike-docks', id: 'docks', port: 0, cardKey: 'k'.repeat(16) }, 'test');
    expect(cfg).toMatchObject({ host: '0.0.0.0', flushMs: 1000, maxLineBytes: 512, silentS: 120 });
    try {
      validateConfig(bikeDockFactory.schema, { type: 'bike-docks', id: 'docks', cardKey: 'short' }, 'test');
      expect.unreachable();
    } catch (err) {
      expect(isCoded(err, 'CONFIG_INVALID')).toBe(true);
    }
  });

  it('runs the dock server for configured stations and emits valid items through ctx.emit', async () => {
    const cfg = validateConfig(bikeDockFactory.schema, {
      type: 'bike-docks', id: 'docks', host: '127.0.0.1', port: 0, token: 'station-token', cardKey: 'source-test-key-0123456789',
      stationsFile: 'oslo_station_information_2022-10-23.json', stationIds: ['2351', '2350'], flushMs: 50,
    }, 'test');
    const src = bikeDockFactory.create(cfg) as BikeDockSource;
    const c = ctx();
    await src.start(c);
    cleanup.push(() => src.stop());
    const bad = new DockController({ station: '9999', docks: 2, port: src.port, token: 'station-token' });
    await expect(bad.connect()).resolves.toMatchObject({ verb: 'BYE', code: 'DOCK_UNKNOWN_STATION' });
    bad.close();
    const wrong = new DockController({ station: '2351', docks: 18, port: src.port, token: 'nope-nope' });
    await expect(wrong.connect()).resolves.toMatchObject({ verb: 'BYE', code: 'DOCK_AUTH' });
    wrong.close();
    const ctl = new DockController({ station: '2351', docks: 'B'.repeat(10) + 'E'.repeat(8), port: src.port, token: 'station-token', boot: 'a' });
    cleanup.push(() => ctl.close());
    await ctl.connect();
    await ctl.drain();
    ctl.release(1, 'CARD00001');
    await ctl.drain();
    await waitFor(() => c.items.some((i) => i.kind === 'event' && i.type === 'bike.rental'), { what: 'rental event' });
    await waitFor(() => c.items.some((i) => i.kind === 'telemetry' && i.tags.station === '2351' && i.fields.num_bikes_available === 9), { what: 'telemetry' });
    expect(src.health()).toMatchObject({ server: { badLines: 2 }, site: { rentals: 1 } }); // the two refused HELLOs
    expect(JSON.stringify(c.items)).not.toContain('CARD00001');
  });

  it('a controller line is in the outbox before it is ACKed (kill -9 after the ACK loses nothing); a failed commit answers NAK DOCK_STORE', async () => {
    const cfg = validateConfig(bikeDockFactory.schema, {
      type: 'bike-docks', id: 'docks', host: '127.0.0.1', port: 0, token: 'station-token', cardKey: 'source-test-key-0123456789',
      stations: [{ id: 's1', docks: 4 }], flushMs: 600_000, // the flush timer never runs in this test
    }, 'test');
    const src = bikeDockFactory.create(cfg) as BikeDockSource;
    const c = ctx();
    let failNext = false;
    const emit = c.emit.bind(c);
    c.emit = (batch) => { if (failNext) { failNext = false; throw new Error('disk full'); } return emit(batch); };
    await src.start(c);
    cleanup.push(() => src.stop());
    const ctl = new DockController({ station: 's1', docks: 'BBEE', port: src.port, token: 'station-token', boot: 'b' });
    cleanup.push(() => ctl.close());
    await ctl.connect();
    await ctl.drain();
    ctl.release(1, 'CARD00042');
    await ctl.drain(); // its ACK came back …
    expect(c.items.filter((i) => i.kind === 'event' && i.type === 'bike.rental')).toHaveLength(1); // … so it was already stored
    failNext = true;
    ctl.release(2, 'CARD00043');
    await waitFor(() => ctl.received.some((l) => l.verb === 'NAK' && (l as { code?: string }).code === 'DOCK_STORE'), { what: 'NAK DOCK_STORE' });
    expect(c.items.filter((i) => i.kind === 'event' && i.type === 'bike.rental')).toHaveLength(1);
    expect(src.health()).toMatchObject({ server: { storeFailures: 1 } });
  });

  it('open alerts survive a restart (outbox checkpoint): the empty-station alert raised before is cleared after, not left open', async () => {
    const cfg = validateConfig(bikeDockFactory.schema, {
      type: 'bike-docks', id: 'docks', host: '127.0.0.1', port: 0, token: 'station-token', cardKey: 'source-test-key-0123456789',
      stations: [{ id: 's9', docks: 2 }], flushMs: 50, emptyAlertMin: 0.001,
    }, 'test');
    const c = memoryContext();
    const alerts = () => c.items.filter((i) => i.kind === 'alert') as Array<{ rule: string; state: string }>;
    let src = bikeDockFactory.create(cfg) as BikeDockSource;
    await src.start(c);
    let ctl = new DockController({ station: 's9', docks: 'EE', port: src.port, token: 'station-token', boot: 'c' });
    await ctl.connect();
    await ctl.drain();
    await waitFor(() => alerts().some((a) => a.state === 'raise' && a.rule.includes('empty')), { what: 'empty alert raised' });
    ctl.close();
    await src.stop(); // a restart (the checkpoint is all that survives, as after kill -9)
    src = bikeDockFactory.create(cfg) as BikeDockSource;
    await src.start(c);
    cleanup.push(() => src.stop());
    ctl = new DockController({ station: 's9', docks: 'EE', port: src.port, token: 'station-token', boot: 'c' });
    cleanup.push(() => ctl.close());
    await ctl.connect();
    await ctl.drain();
    ctl.dock(1);
    await ctl.drain();
    await waitFor(() => alerts().some((a) => a.state === 'clear' && a.rule.includes('empty')), { what: 'empty alert cleared after the restart' });
    expect(alerts().filter((a) => a.rule.includes('empty')).map((a) => a.state)).toEqual(['raise', 'clear']);
  });
});
