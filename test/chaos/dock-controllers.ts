/**
 * Chaos run device process: DOCK/1 dock controllers (firmware-bridge/dock/simulator.ts
 * `DockController`), one per station of the bike site, replaying the real Oslo day
 * 2022-10-24 hour by hour (edge/bikes/replay.ts `planHour`, looping over the day) against the
 * bike edge's dock server. Run as its own process:
 * `node bin/run-ts.mjs test/chaos/dock-controllers.ts <config.json>`.
 *
 * Ledger: every RELEASED (→ bike.rental) and DOCKED (→ bike.return) line is recorded with its
 * controller time and seq; once the server answered, as `acked` (the edge took it) — or `nak`;
 * lines whose connection died before an answer are `unacked` (the edge may or may not have
 * them: the simulator, like the protocol's SHOULD, does not resend). A controller that is not
 * connected sends nothing (its station's hour is skipped) and reconnects in the background.
 * At the end each controller sends a full STATUS, waits for its ACK and records its true dock
 * states (`final`), then keeps heart-beating until the harness stops the process.
 */
import fs from 'node:fs';
import { DockController } from '../../firmware-bridge/dock/simulator.ts';
import { layout, osloFiles, planHour, readHourly, type GbfsStatusDoc } from '../../edge/bikes/replay.ts';
import { appendJsonl, prng, subSeed, type DockLedgerLine } from './ledger.ts';

export interface DocksConfig {
  port: number;
  token: string;
  stations: string[];
  seed: number;
  /** Wall-clock ms per data hour. */
  hourMs: number;
  untilMs: number;
  ledgerFile: string;
  statusFile: string;
  heartbeatMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Ctl = DockController & { lastT: number };

/** The simulator's seq counter has no accessor; the line just sent carries this number. */
const lastSeq = (c: DockController): number => (c as unknown as { seq: number }).seq;

async function main(): Promise<void> {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as DocksConfig;
  const files = osloFiles();
  const info = JSON.parse(fs.readFileSync(files.informationFile, 'utf8')) as { data: { stations: Array<{ station_id: string; capacity: number }> } };
  const initial = JSON.parse(fs.readFileSync(files.initialStatusFile, 'utf8')) as GbfsStatusDoc;
  const hours = readHourly(files.hourlyFile);
  const cap = new Map(info.data.stations.map((s) => [s.station_id, s.capacity]));
  const init = new Map(initial.data.stations.map((s) => [s.station_id, s]));
  let stopping = false;
  process.once('SIGTERM', () => { stopping = true; });
  const status: Record<string, { acked: number; unacked: number; naks: number; skippedHours: number; reconnects: number; done: boolean; final?: string }> = {};
  const writeStatus = () => {
    const tmp = `${cfg.statusFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ done: Object.values(status).every((s) => s.done), stations: status }));
    fs.renameSync(tmp, cfg.statusFile);
  };
  const timer = setInterval(writeStatus, 1000);

  const runStation = async (id: string, k: number) => {
    const st = (status[id] = { acked: 0, unacked: 0, naks: 0, skippedHours: 0, reconnects: 0, done: false } as (typeof status)[string]);
    const s0 = init.get(id)!;
    const ctl = new DockController({
      station: id, docks: layout(cap.get(id)!, s0.num_bikes_available, s0.num_docks_available), port: cfg.port, token: cfg.token,
      boot: `chaos-${cfg.seed}`, heartbeatMs: cfg.heartbeatMs, seed: subSeed(cfg.seed, `dock-${id}`),
    }) as Ctl;
    ctl.lastT = 0;
    const r = prng(subSeed(cfg.seed, `plan-${id}`));
    /** Lines sent and not yet answered, by seq. */
    const pending = new Map<number, DockLedgerLine>();
    const record = (type: DockLedgerLine['type'], dock: number, ts: number, bike: string | null) => {
      const seq = lastSeq(ctl);
      pending.set(seq, { t: 'unacked', type, station: id, dock, ts, seq, ...(bike ? { bike } : {}) });
    };
    // Wrap the two event verbs so each line sent is in `pending` with its seq and time. A verb
    // called on a dead socket throws before its line is sent: not recorded (the edge never saw it).
    const release = ctl.release.bind(ctl);
    const dock = ctl.dock.bind(ctl);
    ctl.release = (d: number, card: string, t?: number) => { const bike = ctl.bikes[d - 1]; const out = release(d, card, t); record('bike.rental', d, t!, bike); return out; };
    ctl.dock = (d: number, bike?: string, t?: number) => { const seq = dock(d, bike, t); record('bike.return', d, t!, ctl.bikes[d - 1]); return seq; };
    /** Settle pending lines from the server's answers seen so far; when the connection is gone, the rest are unacked. */
    const settle = (connectionGone: boolean) => {
      for (const l of ctl.received) {
        if (l.verb !== 'ACK' && l.verb !== 'NAK') continue;
        const p = pending.get(l.seq);
        if (!p) continue;
        pending.delete(l.seq);
        const line: DockLedgerLine = { ...p, t: l.verb === 'ACK' ? 'acked' : 'nak' };
        appendJsonl(cfg.ledgerFile, line);
        if (l.verb === 'ACK') st.acked++; else st.naks++;
      }
      ctl.received.length = 0;
      if (connectionGone) {
        for (const p of pending.values()) { appendJsonl(cfg.ledgerFile, p); st.unacked++; }
        pending.clear();
      }
    };
    const ensureConnected = async (): Promise<boolean> => {
      if (ctl.connected) return true;
      settle(true);
      try {
        const w = await ctl.connect();
        st.reconnects++;
        if (w.verb !== 'WELCOME') { ctl.close(); return false; }
        return true;
      } catch {
        ctl.close();
        return false;
      }
    };
    const nextT = () => (ctl.lastT = Math.max(ctl.lastT + 1, Date.now()));
    const drain = async () => {
      try { await ctl.drain(30_000); } catch { /* still unanswered: settled as unacked if the connection goes */ }
      settle(!ctl.connected);
    };

    // stagger the controllers a little, as real boards do not boot in the same millisecond
    await sleep((k * 37) % 500);
    while (!stopping && !(await ensureConnected())) await sleep(250);
    let h = 0;
    while (!stopping && Date.now() < cfg.untilMs) {
      const snap = hours[h % hours.length].data.stations.find((x) => x.station_id === id);
      h++;
      const hourEnd = Date.now() + cfg.hourMs;
      if (!snap || !(await ensureConnected())) { st.skippedHours++; await sleep(Math.max(0, hourEnd - Date.now())); continue; }
      const ops = planHour(ctl, { bikes: snap.num_bikes_available, docks: snap.num_docks_available }, 1, r);
      const gap = cfg.hourMs / (ops.length + 2);
      for (const op of ops) {
        if (stopping || !ctl.connected) break; // the rest of this hour is not sent; the STATUS repairs the view
        try { op(nextT()); } catch { break; } // socket died under it: that line was never sent
        await sleep(gap * (0.5 + r()));
      }
      try { if (ctl.connected) ctl.status(nextT()); } catch { /* repaired by the next hour's STATUS */ }
      await drain();
      await sleep(Math.max(0, hourEnd - Date.now()));
    }
    // final full status, acknowledged
    const deadline = Date.now() + 90_000;
    while (!stopping && Date.now() < deadline) {
      if (!(await ensureConnected())) { await sleep(250); continue; }
      try { ctl.status(nextT()); } catch { continue; }
      const seq = lastSeq(ctl);
      try { await ctl.drain(10_000); } catch { /* retry */ }
      const acked = ctl.received.some((l) => l.verb === 'ACK' && l.seq === seq);
      settle(!ctl.connected);
      if (acked) break;
    }
    st.final = ctl.state.join('');
    st.done = true;
    appendJsonl(cfg.ledgerFile, { t: 'final', station: id, states: st.final });
    writeStatus();
    // keep heart-beating (the controller timer does) so no silent alert raises while the harness drains
    while (!stopping) {
      if (!ctl.connected) await ensureConnected();
      await sleep(500);
    }
    ctl.close();
  };

  await Promise.all(cfg.stations.map((id, k) => runStation(id, k).catch((err) => console.error(`station ${id}: ${(err as Error).message}`))));
  writeStatus();
  clearInterval(timer);
  process.exit(0);
}

void main();
