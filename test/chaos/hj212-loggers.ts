/**
 * Chaos run device process: HJ 212 data loggers (firmware-bridge/hj212/simulator.ts `Hj212Client`)
 * replaying real Beijing hours (CN 2061) to the HJ 212 edge. Run by the harness as its own
 * process: `node bin/run-ts.mjs test/chaos/hj212-loggers.ts <config.json>`.
 *
 * Like a real logger it keeps a frame until the edge acknowledged it (9014): a frame that timed
 * out or whose connection died is sent again (RF=1 on 2025) after a reconnect, and the next row
 * waits. Every acknowledged frame is appended to the ledger file (`HjAcked`), so at the end the
 * ledger is exactly what the edge promised to keep.
 */
import fs from 'node:fs';
import { Hj212Client } from '../../firmware-bridge/hj212/simulator.ts';
import { prsaCsvPath } from '../../lib/prsa-csv.ts';
import { appendJsonl, loggerRows, type HjAcked, type LoggerSpec } from './ledger.ts';

export interface LoggersConfig {
  port: number;
  loggers: LoggerSpec[];
  /** Data hours per second per logger. */
  rowsPerSecond: number;
  /** Rows available to each logger (it stops earlier when `untilMs` passes). */
  maxRows: number;
  /** Wall-clock end of production (epoch ms); the frame in hand is still delivered. */
  untilMs: number;
  ledgerFile: string;
  statusFile: string;
  ackTimeoutMs: number;
  file?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as LoggersConfig;
  const status: Record<string, { acked: number; attempts: number; reconnects: number; lastRow: number; done: boolean }> = {};
  let stopping = false;
  process.once('SIGTERM', () => { stopping = true; });
  const writeStatus = () => {
    const tmp = `${cfg.statusFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ done: Object.values(status).every((s) => s.done), loggers: status }));
    fs.renameSync(tmp, cfg.statusFile);
  };
  const timer = setInterval(writeStatus, 1000);

  const runLogger = async (spec: LoggerSpec) => {
    const st: (typeof status)[string] = { acked: 0, attempts: 0, reconnects: 0, lastRow: -1, done: false };
    status[spec.mn] = st;
    const rows = await loggerRows(spec, cfg.maxRows, cfg.file ?? prsaCsvPath());
    const client = new Hj212Client({ port: cfg.port, mn: spec.mn, password: spec.password, revision: spec.revision, st: spec.st, sm4Key: spec.sm4Key, ackTimeoutMs: cfg.ackTimeoutMs, maxAttempts: 2 });
    const connect = async () => {
      for (;;) {
        if (stopping) throw new Error('stopping');
        try { await client.connect(); st.reconnects++; return; } catch { await sleep(250); }
      }
    };
    const interval = 1000 / cfg.rowsPerSecond;
    let next = Date.now();
    for (const row of rows) {
      if (Date.now() >= cfg.untilMs || stopping) break;
      let attempts = 0;
      let resent = false;
      for (;;) {
        if (stopping) return;
        if (!client.connected) await connect();
        const r = await client.sendData('2061', row.time, row.factors, { resent }).catch(() => ({ acked: false, attempts: 1 }));
        client.backlog.splice(0); // this loop is the backlog: the same frame again until acked
        attempts += r.attempts;
        st.attempts += r.attempts;
        if (r.acked) break;
        resent = true;
        if (client.connected) await sleep(100);
      }
      const line: HjAcked = { t: 'acked', mn: spec.mn, row: row.index, time: row.time, attempts };
      appendJsonl(cfg.ledgerFile, line);
      st.acked++;
      st.lastRow = row.index;
      next = Math.max(next + interval, Date.now() - 5 * interval); // catch up a little after an outage, not in one burst
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
    }
    st.done = true;
    writeStatus();
    // stay connected (idle) until the harness stops the process
  };

  await Promise.all(cfg.loggers.map((s) => runLogger(s).catch((err) => { if (!stopping) console.error(`logger ${s.mn}: ${(err as Error).message}`); })));
  writeStatus();
  while (!stopping) await sleep(200);
  clearInterval(timer);
  process.exit(0);
}

void main();
