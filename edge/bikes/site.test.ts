import { afterEach, describe, expect, it } from 'vitest';
import { DockServer } from '../../firmware-bridge/dock/server.ts';
import { DockController } from '../../firmware-bridge/dock/simulator.ts';
import { checkers, type NewItem } from '../../protocol/schemas.ts';
import { waitFor } from '../../test/peers/ports.ts';
import { BikeSite, RULES } from './site.ts';

const KEY = 'test-card-key-0123456789';
const cleanup: (() => unknown)[] = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

async function setup(opts: Partial<ConstructorParameters<typeof BikeSite>[0]> = {}) {
  let now = 1_700_000_000_000;
  let mono = 1_000;
  // advance() moves both clocks, as time passing does; step() moves the wall clock only, as an NTP step does
  const clock = { now: () => now, mono: () => mono, advance: (ms: number) => { now += ms; mono += ms; }, step: (ms: number) => { now += ms; } };
  const site = new BikeSite({ cardKey: KEY, clock: clock.now, monotonic: clock.mono, ...opts });
  const server = new DockServer(site.handler);
  const port = await server.listen();
  cleanup.push(() => server.close());
  const items: NewItem[] = [];
  const drain = () => { site.tick(); const out = site.drain(); items.push(...out); return out; };
  const sim = async (station: string, docks: number | string, extra: Partial<ConstructorParameters<typeof DockController>[0]> = {}) => {
    const c = new DockController({ station, docks, port, boot: 'b1', clock: clock.now, ...extra });
    cleanup.push(() => c.close());
    await c.connect();
    return c;
  };
  const countsOf = (station: string) => site.stations.get(station)!.st.counts();
  return { site, server, clock, items, drain, sim, countsOf };
}

const alerts = (items: NewItem[], rule: string) => items.filter((i) => i.kind === 'alert' && i.rule === rule).map((i) => (i.kind === 'alert' ? `${i.state}:${i.source}` : ''));

describe('edge bike site', () => {
  it('lost and duplicated dock events leave counts wrong until the next full status corrects them', async () => {
    const { sim, countsOf, site, drain } = await setup();
    const c = await sim('S1', 'BBBBEEEE', { answerPoll: false });
    c.status();
    await c.drain();
    expect(countsOf('S1')).toMatchObject({ num_bikes_available: 4, num_docks_available: 4 });
    const corrections0 = site.counters.corrections;
    // truth after this: B B B E B B E E  (dock 4 released, 5 and 6 docked)
    c.release(4, 'CARD0001');
    c.dropNext(); c.dock(5, 'AAAA0005'); // lost
    c.dupNext(); c.dock(6, 'AAAA0006'); // duplicated line (same seq)
    c.dock(6, 'AAAA0006'); // firmware re-sends the event with a new seq: idempotent per dock
    await c.drain();
    expect(site.counters.messages).toBe(4); // STATUS, RELEASED, DOCKED 6 twice (new seq); the dropped one never arrived, the same-seq duplicate was discarded
    expect(countsOf('S1')).toMatchObject({ num_bikes_available: 4, num_docks_available: 4 }); // wrong: truth is 5/3
    expect(c.state.join('')).toBe('BBBEBBEE');
    c.status(); // the periodic full status
    await c.drain();
    expect(countsOf('S1')).toMatchObject({ num_bikes_available: 5, num_docks_available: 3, num_docks_disabled: 0 });
    expect(site.stations.get('S1')!.st.stateString()).toBe('BBBEBBEE');
    expect(site.counters.corrections - corrections0).toBe(1); // only dock 5 was wrong
    expect(site.counters.lost).toBeGreaterThanOrEqual(1);
    const tel = drain().filter((i) => i.kind === 'telemetry');
    expect(tel.at(-1)).toMatchObject({ m: 'bike_station', tags: { station: 'S1' }, fields: { num_bikes_available: 5, num_docks_available: 3, capacity: 8 } });
  });

  it('a gap makes the server POLL and the status repairs the station at once', async () => {
    const { sim, countsOf } = await setup();
    const c = await sim('S2', 'EEEE');
    await c.drain();
    c.dropNext(); c.dock(1);
    c.dock(2);
    await c.drain();
    await waitFor(() => countsOf('S2').num_bikes_available === 2, { what: 'repair after POLL' });
    expect(c.counts.polls).toBeGreaterThanOrEqual(2);
  });

  it('rentals and returns are events; the card id never leaves the site raw', async () => {
    const { sim, drain } = await setup();
    const c = await sim('S3', 'BBEE');
    c.release(1, 'RAWCARD12345');
    c.dock(3, 'BEEF0003');
    await c.drain();
    const out = drain();
    for (const i of out) expect(checkers.item.Check({ ...i, id: '01890a5d-ac96-774b-bcce-b302099a8057', seq: 1 }), JSON.stringify(i)).toBe(true);
    expect(JSON.stringify(out)).not.toContain('RAWCARD12345');
    const rental = out.find((i) => i.kind === 'event' && i.type === 'bike.rental');
    expect(rental).toMatchObject({ source: 'S3', phase: 'instant', data: { station: 'S3', dock: 1 } });
    const card = (rental as unknown as { data: { card: string } }).data.card;
    expect(card).toMatch(/^p_[A-Za-z0-9_-]{22}$/);
    expect(new BikeSite({ cardKey: KEY }).handler).toBeDefined();
    expect(out.some((i) => i.kind === 'event' && i.type === 'bike.return' && i.data.bike === 'BEEF0003')).toBe(true);
  });

  it('raises and clears: dock fault, no ride started, station empty/full too long', async () => {
    const { sim, drain, clock, items } = await setup({ noRideMs: 30_000, emptyAlertMs: 10 * 60_000, fullAlertMs: 10 * 60_000 });
    const c = await sim('S4', 'BBE');
    await c.drain();
    c.fault(2, 'LOCK_JAM');
    await c.drain();
    c.enable(2);
    const bike = c.release(1, 'CARD7777');
    clock.advance(10_000);
    c.dock(1, bike); // same bike back in the same dock 10 s later: no ride
    await c.drain();
    drain();
    expect(alerts(items, RULES.fault)).toEqual(['raise:S4/2', 'clear:S4/2']);
    expect(alerts(items, RULES.noRide)).toEqual(['raise:S4/1']);
    c.release(1, 'CARD7777');
    await c.drain();
    clock.advance(31_000);
    drain();
    expect(alerts(items, RULES.noRide)).toEqual(['raise:S4/1', 'clear:S4/1']); // the next ride did start
    c.dock(3); c.dock(1); // full
    await c.drain();
    clock.advance(9 * 60_000); drain();
    expect(alerts(items, RULES.full)).toEqual([]);
    clock.advance(2 * 60_000); drain();
    expect(alerts(items, RULES.full)).toEqual(['raise:S4']);
    c.release(3, 'CARD8888');
    await c.drain();
    drain();
    expect(alerts(items, RULES.full)).toEqual(['raise:S4', 'clear:S4']);
  });

  it('a controller that goes silent raises an alert and marks the station not renting; speaking again clears it', async () => {
    const { sim, drain, clock, items } = await setup({ silentMs: 60_000, stations: [{ id: 'S5', docks: 2 }, { id: 'S6', docks: 2 }] });
    const c = await sim('S5', 'BE');
    c.status();
    await c.drain();
    clock.advance(30_000); drain();
    expect(alerts(items, RULES.silent)).toEqual([]);
    c.heartbeat();
    await c.drain();
    clock.advance(45_000); drain();
    expect(alerts(items, RULES.silent)).toEqual(['raise:S6']); // S6 never connected; S5 heard 45 s ago
    clock.advance(20_000);
    const out = drain();
    expect(alerts(items, RULES.silent)).toEqual(['raise:S6', 'raise:S5']);
    expect(out.find((i) => i.kind === 'telemetry' && i.tags.station === 'S5')).toMatchObject({ fields: { is_renting: false, is_returning: false } });
    c.heartbeat();
    await c.drain();
    drain();
    expect(alerts(items, RULES.silent)).toEqual(['raise:S6', 'raise:S5', 'clear:S5']);
  });

  it('a wall-clock step is not time passing: no controller-silent, empty or full alert from a forward step; real silence still raises', async () => {
    const { sim, drain, clock, items } = await setup({ silentMs: 60_000, emptyAlertMs: 10 * 60_000, fullAlertMs: 10 * 60_000 });
    const c = await sim('S7', 'EE'); // empty from the start: the empty clock runs
    c.status();
    await c.drain();
    drain();
    clock.step(4 * 60 * 60_000); // the gateway's clock is put four hours forward
    clock.advance(5_000);
    drain();
    expect(alerts(items, RULES.silent)).toEqual([]);
    expect(alerts(items, RULES.empty)).toEqual([]);
    clock.advance(61_000); // now the controller really is silent for over a minute
    drain();
    expect(alerts(items, RULES.silent)).toEqual(['raise:S7']);
    clock.advance(10 * 60_000);
    drain();
    expect(alerts(items, RULES.empty)).toEqual(['raise:S7']);
  });
});
