/**
 * One upstream platform (上级平台): a TCP client that forwards every queued record as an HJ 212
 * data frame, in queue order, one frame in flight, each with the reply bit set and retried until
 * the platform's CN 9014 data ack with its QN arrives (HJ 212-2017 §6.6 / 2025 Table 12). The queue
 * is the `hj212_outbox` table (durable): a platform down for a day gets every record when it is
 * back; records that waited longer than `backfillAfterMs`, were retried, or came re-sent from the
 * logger go out with RF=1 on HJ 212-2025 links (Table 3, "补传"). On the same connection the
 * platform's history requests (CN 2051/2061/2031 with BeginTime/EndTime) are answered from the
 * series store: 9011 QnRtn=1, the data frames (with the request's QN), 9012 ExeRtn=1 (100: no data).
 */
import net from 'node:net';
import { CodedError, errMessage } from '../../lib/errors.ts';
import { makeQn } from '../../lib/hj212/codec.ts';
import { buildFlag, CN, QN_RTN } from '../../lib/hj212/codes.ts';
import { encodeFrame } from '../../lib/hj212/codec.ts';
import { Deframer } from '../../lib/hj212/deframer.ts';
import { parseSm4Key } from '../../lib/hj212/sm4.ts';
import type { Logger } from '../../lib/log.ts';
import type { CloudDb } from '../db.ts';
import type { SeriesStore } from '../store/types.ts';
import { stOf, type Period, type Registry, type UpstreamConfig } from './config.ts';
import { effectiveFlag } from './flags.ts';
import { classifyUpstreamFrame, CN_OF_PERIOD, dataFrames, EXE_RTN, replyFrame, type FrameTarget, type UpstreamMessage } from './frames.ts';
import { HJ212_MEASUREMENT, type RecordStore } from './records.ts';

interface OutboxRow { id: number; mn: string; period: Period; ts: number; attempts: number; resent: number; enqueued: number }
export interface UpstreamStatus { id: string; connected: boolean; pending: number; acked: number; lastAckAt: number | null; lastError: string | null; requests: number }
export interface UpstreamCounters { sent: number; acked: number; timeouts: number; historyFrames: number }

const HISTORY_FIELDS = ['rtd', 'avg', 'min', 'max', 'cou', 'flag', 'zsRtd', 'zsAvg', 'zsMin', 'zsMax'];

export class UpstreamLink {
  private sock?: net.Socket;
  private connecting?: net.Socket;
  private stopped = true;
  private loopDone?: Promise<void>;
  private wakeUp?: () => void;
  private awaiting?: { qn: string; resolve: (ok: boolean) => void };
  private lastQn = '';
  private lastError: string | null = null;
  private lastAckAt: number | null = null;
  private requestChain: Promise<void> = Promise.resolve();
  private readonly key?: Buffer;
  private readonly reverse = new Map<string, string>();
  private readonly forwards: Set<string>;
  readonly counters: UpstreamCounters = { sent: 0, acked: 0, timeouts: 0, historyFrames: 0 };

  constructor(readonly cfg: UpstreamConfig, private readonly d: { db: CloudDb; records: RecordStore; store: SeriesStore; registry: Registry; offsetMinutes: number; log: Logger; now?: () => number }) {
    if (cfg.sm4Key) this.key = parseSm4Key(cfg.sm4Key);
    this.forwards = new Set(cfg.stations ?? d.registry.all().map((r) => r.outlet.mn));
    for (const mn of this.forwards) this.reverse.set(cfg.mnMap[mn] ?? mn, mn);
  }

  private now(): number { return (this.d.now ?? Date.now)(); }

  /** Whether this link forwards records of this MN and period. */
  forwardsRecord(mn: string, period: Period): boolean {
    return this.forwards.has(mn) && this.cfg.periods.includes(period);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connecting?.destroy();
    this.sock?.destroy();
    this.awaiting?.resolve(false);
    this.wakeUp?.();
    await this.loopDone;
    await this.requestChain;
  }

  /** New rows were queued: send them now instead of at the next poll. */
  notify(): void { this.wakeUp?.(); }

  status(): UpstreamStatus {
    const c = this.d.db.prepare("SELECT sum(state = 'pending') AS p, sum(state = 'acked') AS a FROM hj212_outbox WHERE upstream = ?").get(this.cfg.id) as { p: number | null; a: number | null };
    const requests = (this.d.db.prepare('SELECT count(*) AS n FROM hj212_upstream_requests WHERE upstream = ?').get(this.cfg.id) as { n: number }).n;
    return { id: this.cfg.id, connected: !!this.sock && !this.sock.destroyed, pending: c.p ?? 0, acked: c.a ?? 0, lastAckAt: this.lastAckAt, lastError: this.lastError, requests };
  }

  private target(localMn: string): FrameTarget {
    const reg = this.d.registry.byMn(localMn);
    return { revision: this.cfg.revision, password: this.cfg.password, mn: this.cfg.mnMap[localMn] ?? localMn, st: reg ? stOf(reg.outlet) : '31', ...(this.key ? { key: this.key } : {}) };
  }

  private nextQn(): string {
    let qn = makeQn(this.now(), this.d.offsetMinutes);
    if (qn <= this.lastQn) qn = String(BigInt(this.lastQn) + 1n);
    this.lastQn = qn;
    return qn;
  }

  private async loop(): Promise<void> {
    let backoff = this.cfg.reconnectMinMs;
    while (!this.stopped) {
      try {
        await this.connect();
        backoff = this.cfg.reconnectMinMs;
        await this.pump();
      } catch (err) {
        this.lastError = errMessage(err);
        this.d.log.debug({ upstream: this.cfg.id, err: this.lastError }, 'upstream link down');
      }
      this.sock?.destroy();
      this.sock = undefined;
      if (this.stopped) break;
      await this.sleep(backoff);
      backoff = Math.min(this.cfg.reconnectMaxMs, backoff * 2);
    }
  }

  private connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sock = net.connect(this.cfg.port, this.cfg.host);
      this.connecting = sock;
      const fail = (err: Error) => { sock.destroy(); reject(err); };
      sock.once('close', () => { if (this.connecting === sock) { this.connecting = undefined; reject(new CodedError('HJ212_TIMEOUT', 'connection closed while connecting')); } });
      sock.once('error', fail);
      sock.setTimeout(this.cfg.ackTimeoutMs * 3, () => fail(new CodedError('HJ212_TIMEOUT', 'connect timed out')));
      sock.once('connect', () => {
        this.connecting = undefined;
        sock.off('error', fail);
        sock.setTimeout(0);
        sock.setNoDelay(true);
        sock.on('error', (err) => { this.lastError = err.message; });
        const deframer = new Deframer();
        sock.on('data', (chunk: Buffer) => {
          for (const part of deframer.push(chunk)) if (Buffer.isBuffer(part)) this.onFrame(part, sock);
        });
        sock.on('close', () => { this.awaiting?.resolve(false); this.wakeUp?.(); });
        this.sock = sock;
        this.d.log.info({ upstream: this.cfg.id, host: this.cfg.host, port: this.cfg.port }, 'upstream platform connected');
        resolve();
      });
    });
  }

  /** Send queued records in order until the connection drops or the link stops. */
  private async pump(): Promise<void> {
    let idleSince = this.now();
    let timeouts = 0;
    const next = this.d.db.prepare("SELECT id, mn, period, ts, attempts, resent, enqueued FROM hj212_outbox WHERE upstream = ? AND state = 'pending' ORDER BY id LIMIT 1");
    while (!this.stopped && this.sock && !this.sock.destroyed) {
      const row = next.get(this.cfg.id) as OutboxRow | undefined;
      if (!row) {
        if (this.cfg.heartbeatMs > 0 && this.now() - idleSince >= this.cfg.heartbeatMs) {
          this.write(encodeFrame({ qn: this.nextQn(), st: '91', cn: CN.HEARTBEAT, pw: this.cfg.password, flag: buildFlag(this.cfg.revision), cp: '' }));
          idleSince = this.now();
        }
        await this.sleep(this.cfg.heartbeatMs > 0 ? Math.min(1000, this.cfg.heartbeatMs) : 1000);
        continue;
      }
      let frame: { texts: string[]; qn: string } | undefined;
      try {
        frame = this.frameFor(row);
      } catch (err) {
        // a record that cannot be framed at all (one factor longer than a data segment) would block the queue
        this.d.log.error({ upstream: this.cfg.id, mn: row.mn, ts: row.ts, err: errMessage(err) }, 'record cannot be sent upstream; dropped from the queue');
        this.d.db.prepare("UPDATE hj212_outbox SET state = 'dropped', last_error = ? WHERE id = ?").run(errMessage(err), row.id);
        continue;
      }
      if (!frame) { this.d.db.prepare("UPDATE hj212_outbox SET state = 'dropped', last_error = 'record no longer stored' WHERE id = ?").run(row.id); continue; }
      this.d.db.prepare('UPDATE hj212_outbox SET attempts = attempts + 1, sent_at = ?, qn = ? WHERE id = ?').run(this.now(), frame.qn, row.id);
      this.counters.sent++;
      const ok = await this.sendAndAwaitAck(frame.texts, frame.qn);
      if (ok) {
        timeouts = 0;
        this.counters.acked++;
        this.lastAckAt = this.now();
        this.d.db.prepare("UPDATE hj212_outbox SET state = 'acked', acked_at = ?, last_error = NULL WHERE id = ?").run(this.lastAckAt, row.id);
      } else {
        this.counters.timeouts++;
        this.d.db.prepare("UPDATE hj212_outbox SET resent = 1, last_error = 'no 9014 ack' WHERE id = ?").run(row.id);
        // a platform that stops acknowledging is probably half gone: reconnect after 3 misses
        if (++timeouts >= 3) { this.lastError = 'no data ack for 3 frames'; this.sock?.destroy(); }
      }
      idleSince = this.now();
    }
  }

  /** The frame(s) of a queued record as of now (effective flags; split packets when long), or undefined when the record is gone. */
  private frameFor(row: OutboxRow): { texts: string[]; qn: string } | undefined {
    const rec = this.d.records.get(row.mn, row.period, row.ts);
    if (!rec) return undefined;
    const corr = this.d.records.corrections(row.mn, row.period, row.ts);
    const factors = Object.entries(rec.factors).map(([code, e]) => ({ code, fields: e.fields, flag: effectiveFlag(code, e.fields.flag as string | undefined, corr) }));
    const loggerResent = Object.values(rec.factors).some((e) => e.fields.resent === true);
    const resent = row.resent === 1 || row.attempts > 0 || loggerResent || this.now() - row.enqueued > this.cfg.backfillAfterMs;
    const qn = this.nextQn();
    return { qn, texts: dataFrames(this.target(row.mn), CN_OF_PERIOD[row.period], row.ts, factors, this.d.offsetMinutes, { qn, needsAck: true, resent }) };
  }

  /** Write the frame (or the split packets of one record, in order) and wait for the 9014 ack of its QN. */
  private sendAndAwaitAck(texts: string[], qn: string): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), this.cfg.ackTimeoutMs);
      const done = (ok: boolean) => { clearTimeout(timer); if (this.awaiting?.qn === qn) this.awaiting = undefined; resolve(ok); };
      this.awaiting = { qn, resolve: done };
      for (const text of texts) if (!this.write(text)) { done(false); return; }
    });
  }

  private write(text: string): boolean {
    if (!this.sock || this.sock.destroyed) return false;
    this.sock.write(text);
    return true;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.wakeUp = undefined; resolve(); }, ms);
      this.wakeUp = () => { clearTimeout(t); this.wakeUp = undefined; resolve(); };
    });
  }

  private onFrame(bytes: Buffer, sock: net.Socket): void {
    const m = classifyUpstreamFrame(bytes, {
      password: this.cfg.password, knowsMn: (mn) => this.reverse.has(mn), offsetMinutes: this.d.offsetMinutes,
      maxHistoryDays: this.cfg.maxHistoryDays, ...(this.key ? { key: this.key } : {}),
    });
    if (m.kind === 'ack') { if (this.awaiting?.qn === m.qn) this.awaiting.resolve(true); return; }
    if (m.kind === 'ignore') return;
    this.requestChain = this.requestChain.then(() => this.answer(m, sock)).catch((err) => this.d.log.warn({ upstream: this.cfg.id, err: errMessage(err) }, 'upstream request not answered'));
  }

  /** Answer a platform request on the connection it came on. */
  private async answer(m: Exclude<UpstreamMessage, { kind: 'ack' | 'ignore' }>, sock: net.Socket): Promise<void> {
    const send = (text: string) => { if (!sock.destroyed) sock.write(text); };
    const log = this.d.db.prepare('INSERT INTO hj212_upstream_requests (upstream, at, qn, cn, mn, begin_ts, end_ts, qn_rtn, exe_rtn, frames) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const t = { revision: this.cfg.revision, password: this.cfg.password };
    if (m.kind === 'refuse') {
      send(replyFrame(t, CN.REQUEST_REPLY, m.qn, m.mn, `QnRtn=${m.qnRtn}`));
      log.run(this.cfg.id, this.now(), m.qn ?? null, 'refused', m.mn ?? null, null, null, m.qnRtn, null, 0);
      return;
    }
    send(replyFrame(t, CN.REQUEST_REPLY, m.qn, m.mn, `QnRtn=${QN_RTN.READY}`));
    const local = this.reverse.get(m.mn)!;
    if (m.kind === 'realtime') {
      // real-time data is forwarded as it arrives; the request is acknowledged as executed
      send(replyFrame(t, CN.EXEC_RESULT, m.qn, m.mn, `ExeRtn=${EXE_RTN.SUCCESS}`));
      log.run(this.cfg.id, this.now(), m.qn ?? null, CN.REALTIME, m.mn, null, null, QN_RTN.READY, EXE_RTN.SUCCESS, 0);
      return;
    }
    let frames = 0, exe: number = EXE_RTN.SUCCESS;
    try {
      const records = await this.history(local, m.period, m.begin, m.end);
      const target = this.target(local);
      for (const r of records) {
        for (const text of dataFrames(target, m.cn, r.ts, r.factors, this.d.offsetMinutes, { qn: m.qn ?? this.nextQn(), needsAck: false })) {
          send(text);
          frames++;
        }
      }
      if (!frames) exe = EXE_RTN.NO_DATA;
    } catch (err) {
      exe = EXE_RTN.FAILED;
      this.d.log.warn({ upstream: this.cfg.id, err: errMessage(err) }, 'history request: series store query failed');
    }
    this.counters.historyFrames += frames;
    send(replyFrame(t, CN.EXEC_RESULT, m.qn, m.mn, `ExeRtn=${exe}`));
    log.run(this.cfg.id, this.now(), m.qn ?? null, m.cn, m.mn, m.begin, m.end, QN_RTN.READY, exe, frames);
  }

  /** Stored records of one MN and period with BeginTime ≤ DataTime ≤ EndTime, from the series store, flags corrected. */
  async history(mn: string, period: Period, begin: number, end: number): Promise<Array<{ ts: number; factors: Array<{ code: string; fields: Record<string, unknown>; flag?: string }> }>> {
    // field names beyond the statistics (Ia, Ua, Pt…) as the records of this MN carry them
    const extra = new Set<string>();
    for (const r of this.d.db.prepare('SELECT factors FROM hj212_records WHERE mn = ? AND period = ? AND ts >= ? AND ts <= ? LIMIT 2000').all(mn, period, begin, end) as Array<{ factors: string }>) {
      for (const e of Object.values(JSON.parse(r.factors) as Record<string, { fields: Record<string, unknown> }>)) for (const [k, v] of Object.entries(e.fields)) if (typeof v === 'number') extra.add(k);
    }
    const fields = [...new Set([...HISTORY_FIELDS, ...extra])].filter((f) => /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(f) && f !== 'received_ms' && f !== 'o2');
    const res = await this.d.store.query({ measurement: HJ212_MEASUREMENT, fields, from: begin, to: end + 1, tags: { station: mn, period }, groupBy: ['code'] });
    const corr = this.d.records.correctionsIn([mn], period, begin, end + 1);
    const byTs = new Map<number, Array<{ code: string; fields: Record<string, unknown>; flag?: string }>>();
    for (const s of res.series) {
      for (const v of s.values) {
        const ts = Number(v[0]);
        const f: Record<string, unknown> = {};
        fields.forEach((name, i) => { if (v[i + 1] !== null) f[name] = v[i + 1]; });
        const flag = effectiveFlag(s.tags.code, typeof f.flag === 'string' ? f.flag : undefined, corr.get(`${mn}|${ts}`) ?? []);
        const list = byTs.get(ts) ?? [];
        list.push({ code: s.tags.code, fields: f, flag });
        byTs.set(ts, list);
      }
    }
    return [...byTs].sort(([a], [b]) => a - b).map(([ts, factors]) => ({ ts, factors }));
  }
}
