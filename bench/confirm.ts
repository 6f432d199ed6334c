/**
 * What end-to-end receipts cost, side by side in one run: the same edge (synthetic source, a
 * backlog of N rows appended while offline) drains into the same cloud (embedded broker, embedded
 * SQLite series store) with `uplink.confirm: puback` and with `confirm: receipt`. Figures: items/s
 * from the moment the edge connects until its outbox is empty, and the ratio receipt ÷ puback.
 * Rounds alternate the two modes; medians are reported.
 */
import type { Cloud } from '../cloud/cloud.ts';
import { edgeConfig, startCloud, startEdge } from '../test/harness.ts';
import { freePort, tempDir } from '../test/peers/ports.ts';
import { Outbox } from '../edge/outbox/outbox.ts';
import type { NewItem } from '../protocol/schemas.ts';

const N = Number(process.env.BENCH_CONFIRM_ROWS ?? 60_000);
const ROUNDS = Number(process.env.BENCH_CONFIRM_ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function once(cloud: Cloud, mode: 'puback' | 'receipt', round: number): Promise<number> {
  const site = `bench-${mode}-${round}`;
  const password = await cloud.ctx.devices.add(site);
  const stateDir = tempDir('bench-confirm-');
  // the backlog, appended while offline
  const ob = new Outbox(`${stateDir}/outbox.db`, { capBytes: 1 << 30 });
  for (let i = 0; i < N; i += 500) {
    const items: NewItem[] = Array.from({ length: 500 }, (_, k) => ({ kind: 'telemetry', ts: 1_700_000_000_000 + i + k, m: 'bench', tags: { station: `s${k % 20}` }, fields: { value: i + k } }));
    ob.append(items);
  }
  ob.close();
  const t0 = performance.now();
  const edge = await startEdge(edgeConfig({ site, password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`, stateDir, uplink: { confirm: mode, backlogRate: 1e9, statusIntervalMs: 60_000 } }));
  while (edge.outbox.size > 0) await new Promise((r) => setTimeout(r, 5));
  const s = (performance.now() - t0) / 1000;
  await edge.stop();
  return N / s;
}

export async function run(): Promise<Record<string, number>> {
  const cloud = await startCloud({ broker: { port: await freePort() } });
  try {
    await once(cloud, 'puback', -1); // warm-up
    const rates: Record<'puback' | 'receipt', number[]> = { puback: [], receipt: [] };
    const order: Array<Array<'puback' | 'receipt'>> = [['puback', 'receipt'], ['receipt', 'puback']];
    for (let r = 0; r < ROUNDS; r++) for (const mode of order[r % 2]) rates[mode].push(await once(cloud, mode, r));
    const puback = median(rates.puback);
    const receipt = median(rates.receipt);
    console.log(`| mode | items/s (median of ${ROUNDS}, ${N} rows backlog → outbox empty) |`);
    console.log('|---|---|');
    console.log(`| puback  | ${Math.round(puback).toLocaleString('en')} |`);
    console.log(`| receipt | ${Math.round(receipt).toLocaleString('en')} (${(receipt / puback).toFixed(2)}× puback) |`);
    const out = { rows: N, rounds: ROUNDS, puback_ips: Math.round(puback), receipt_ips: Math.round(receipt), ratio_receipt_vs_puback: Number((receipt / puback).toFixed(3)) };
    console.log(JSON.stringify({ bench: 'confirm', ...out }));
    return out;
  } finally {
    await cloud.stop();
  }
}
