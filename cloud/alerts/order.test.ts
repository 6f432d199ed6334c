import { afterEach, describe, expect, it } from 'vitest';
import { alertItem, api, ingestAlerts, startCloudWithAlerts } from '../../test/support/alerts.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

const H = (h: number) => Date.UTC(2024, 0, 1, h);
const rule = { rule: 'pm25-hour', source: 'AOTI/PM2.5' };
// Items carry seqs in the order the edge emitted them (seq = hour × 100 here): the outbox stamps
// seq at append, and the edge's rules emit raise and clear in observed order.

async function setup() {
  const { cloud } = await startCloudWithAlerts({ escalation: false, mqtt: { enabled: false } });
  cleanup.push(() => cloud.stop());
  const viewer = cloud.ctx.tokens.create('wall', 'viewer').token;
  const alerts = async () => (await api(cloud, viewer, 'GET', '/api/v1/alerts?site=site-a')).body.alerts as Array<{ id: number; state: string; lastTs: number; raiseCount: number; data: Record<string, unknown> }>;
  const history = async (id: number) => (await api(cloud, viewer, 'GET', `/api/v1/alerts/${id}`)).body.history as Array<{ action: string; data?: { ts: number } }>;
  return { cloud, alerts, history };
}

/**
 * Alert state follows observed order per (site, rule, source), not arrival order: live data
 * travels before the backlog, and two drain batches are in flight at once, so a raise observed
 * earlier can arrive after a clear observed later.
 */
describe('alert state by observed order', () => {
  it('a backlog raise arriving after a newer live clear does not reopen the alert; it is kept in the history', async () => {
    const { cloud, alerts, history } = await setup();
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'raise', ts: H(1), seq: 100 })]);
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'clear', ts: H(5), seq: 500 })], 'live-stream'); // live
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'raise', ts: H(3), seq: 300 })]); // backlog, observed before the clear
    const list = await alerts();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ state: 'resolved', lastTs: H(1) });
    expect((await history(list[0].id)).map((h) => h.action)).toEqual(['raise', 'clear', 'stale-raise']);
  });

  it('a stale clear (observed before the latest raise) cannot close an open alert', async () => {
    const { cloud, alerts, history } = await setup();
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'raise', ts: H(1), seq: 100 })]);
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'clear', ts: H(2), seq: 200 }), alertItem({ ...rule, state: 'raise', ts: H(4), seq: 400 })]);
    // the backlog's old clear of the first episode arrives again late, after the new raise
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'clear', ts: H(3), seq: 300 })]);
    const open = (await alerts()).filter((a) => a.state === 'open');
    expect(open).toHaveLength(1);
    expect(open[0].lastTs).toBe(H(4));
    expect((await history(open[0].id)).map((h) => h.action)).toEqual(['raise', 'stale-clear']);
  });

  it('arrival order inside one batch does not matter: the newest observation decides', async () => {
    const { cloud, alerts } = await setup();
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'clear', ts: H(6), seq: 600 }), alertItem({ ...rule, state: 'raise', ts: H(2), seq: 200 }), alertItem({ ...rule, state: 'raise', ts: H(4), seq: 400 })]);
    expect((await alerts()).filter((a) => a.state !== 'resolved')).toEqual([]);
    // and a raise newer than everything opens a new episode as usual
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'raise', ts: H(7), seq: 700 })]);
    expect((await alerts()).filter((a) => a.state === 'open')).toHaveLength(1);
  });

  it('a stale raise refreshes nothing on an open alert (it cannot hold it open)', async () => {
    const { cloud, alerts } = await setup();
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'raise', ts: H(5), seq: 500, data: { value: 200 } })]);
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'raise', ts: H(3), seq: 300, data: { value: 90 } })]);
    expect(await alerts()).toMatchObject([{ state: 'open', lastTs: H(5), raiseCount: 1, data: { value: 200 } }]);
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'clear', ts: H(6), seq: 600 })]);
    const [a] = await alerts();
    expect(a).toMatchObject({ state: 'resolved', lastTs: H(5) });
  });

  it('within one outbox stream the sequence decides: a clear after the edge clock stepped back still clears', async () => {
    const { cloud, alerts } = await setup();
    // one stream, in emission order; the edge clock jumped back an hour between the raise and the clear
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'raise', ts: H(5), seq: 1001 })], 'clockstream1');
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'clear', ts: H(4), seq: 1002 })], 'clockstream1');
    expect((await alerts()).map((a) => a.state)).toEqual(['resolved']);
    // and the same stream's older item arriving late (backlog behind live) is still stale
    await ingestAlerts(cloud, 'site-a', [alertItem({ ...rule, state: 'raise', ts: H(6), seq: 1000 })], 'clockstream1');
    expect((await alerts()).map((a) => a.state)).toEqual(['resolved']);
  });
});
