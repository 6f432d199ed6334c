import { describe, expect, it } from 'vitest';
import { checkers } from '../protocol/schemas.ts';
import { isValidSiteId } from '../protocol/topics.ts';
import { newMessageId } from '../protocol/ids.ts';
import { parseCityArgs } from './city.ts';
import { cityRates, citySites, CITY, planSites, rng, Schedule, siteStreams, type SiteKind } from './city-plan.ts';

describe('city bench plan', () => {
  it('one city has the stated gateways and devices: 1,058 stations / 26,000 docks, 2,000 cameras, 500 HJ 212 loggers, 30 air stations', () => {
    const sites = citySites(1);
    const of = (k: SiteKind) => sites.filter((s) => s.kind === k);
    expect(sites).toHaveLength(486);
    expect([of('bikes').length, of('cameras').length, of('hj212').length, of('air').length]).toEqual([106, 250, 100, 30]);
    expect(of('bikes').flatMap((s) => s.devices)).toHaveLength(1058);
    expect(of('bikes').flatMap((s) => s.capacity!).reduce((a, b) => a + b)).toBe(26_000);
    expect(of('bikes').flatMap((s) => s.capacity!).every((c) => c === 24 || c === 25)).toBe(true);
    expect(of('cameras').flatMap((s) => s.devices)).toHaveLength(2000);
    expect(of('hj212').flatMap((s) => s.devices)).toHaveLength(500);
    expect(of('air').flatMap((s) => s.devices)).toHaveLength(30);
    const ten = planSites(10);
    expect(new Set(ten.map((s) => s.site)).size).toBe(4860);
    expect(ten.every((s) => isValidSiteId(s.site) && !s.site.startsWith('cityedge'))).toBe(true);
  });

  it('states the per-city rates of the bench header', () => {
    const { byKind, total } = cityRates();
    expect(byKind.bikes.points).toBeCloseTo(1058 / 60 + 14_000 / 3600, 6);
    expect(byKind.cameras.points).toBeCloseTo(2000 / 60, 6);
    expect(byKind.cameras.events).toBeCloseTo(2000 / 60 + 8000 / 3600, 6);
    expect(byKind.hj212.points).toBeCloseTo((500 * 10) / 60, 6);
    expect(byKind.air.points).toBe(3);
    expect(total.gateways).toBe(486);
    expect(total.points).toBeCloseTo(149.3, 1);
    expect(total.events).toBeCloseTo(39.4, 1);
    expect(total.alerts).toBeCloseTo(0.33, 2);
    expect(total.items).toBeCloseTo(189.1, 1);
    expect(total.messages).toBeCloseTo(111.9, 1);
  });

  it('produces those rates over 10 virtual minutes, in items the protocol accepts, one point per series and time', () => {
    const random = rng(1);
    const t0 = Date.UTC(2026, 5, 1);
    const schedule = new Schedule(random);
    for (const s of citySites(1)) for (const st of siteStreams(s, t0, random)) schedule.add(st);
    const seconds = 600;
    const got = { points: 0, events: 0, alerts: 0, messages: 0 };
    const keys = new Set<string>();
    const open = new Map<string, boolean>();
    let dupKeys = 0;
    let badAlertOrder = 0;
    let invalid = 0;
    let late = 0;
    const seq = new Map<string, number>();
    for (let t = t0; t <= t0 + seconds * 1000; t += 1000) {
      schedule.runUntil(t, (st, due, e) => {
        if (due > t) late++;
        const site = st.site.site;
        if (e.status) { if (!checkers.status.Check(e.status)) invalid++; got.messages++; }
        for (const ch of ['telemetry', 'events', 'alerts'] as const) {
          const items = e[ch];
          if (!items?.length) continue;
          got.messages++;
          const stamped = items.map((it) => { const n = (seq.get(site) ?? 0) + 1; seq.set(site, n); return { id: newMessageId(), seq: n, ...it }; });
          if (!checkers.batch.Check({ v: 1, site, stream: 'teststream01', sentAt: t, items: stamped })) invalid++;
          for (const it of stamped) {
            if (!checkers.item.Check(it)) throw new Error(`invalid item ${JSON.stringify(it)}`);
            if (it.kind === 'telemetry' || it.kind === 'aggregate') {
              got.points++;
              const k = `${site}|${it.m}|${JSON.stringify(it.tags)}|${it.ts}`;
              if (keys.has(k)) dupKeys++;
              keys.add(k);
            } else if (it.kind === 'event') got.events++;
            else if (it.kind === 'alert') {
              got.alerts++;
              const k = `${site}|${it.rule}|${it.source}`;
              if ((it.state === 'raise') === (open.get(k) ?? false)) badAlertOrder++; // one raise, then one clear
              open.set(k, it.state === 'raise');
            }
          }
        }
      });
    }
    const { total } = cityRates();
    expect(invalid).toBe(0);
    expect(late).toBe(0);
    expect(dupKeys).toBe(0);
    expect(badAlertOrder).toBe(0);
    expect(got.points / seconds).toBeGreaterThan(total.points * 0.97);
    expect(got.points / seconds).toBeLessThan(total.points * 1.03);
    expect(got.events / seconds).toBeGreaterThan(total.events * 0.95);
    expect(got.events / seconds).toBeLessThan(total.events * 1.05);
    expect(got.alerts / seconds).toBeGreaterThan(total.alerts * 0.7);
    expect(got.alerts / seconds).toBeLessThan(total.alerts * 1.3);
    expect(got.messages / seconds).toBeGreaterThan(total.messages * 0.95);
    expect(got.messages / seconds).toBeLessThan(total.messages * 1.05);
    expect(CITY.hj212Factors).toBe(10);
  });

  it('reads --cities N and --cities=N, refuses nonsense', () => {
    expect(parseCityArgs(['city', '--cities', '10'])).toMatchObject({ cities: 10, broker: 'embedded', nodes: 1 });
    expect(parseCityArgs(['--cities=3', '--broker', 'mosquitto', '--nodes=2'])).toMatchObject({ cities: 3, broker: 'mosquitto', nodes: 2 });
    expect(() => parseCityArgs(['--cities', '0'])).toThrow(/cities/);
    expect(() => parseCityArgs(['--broker', 'emqx'])).toThrow(/broker/);
  });
});
