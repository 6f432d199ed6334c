import net from 'node:net';
import { CodedError, isCoded } from '../../lib/errors.ts';
import { buildCp, decodeFrame, encodeFrame, formatDataTime, makeQn, type Hj212Frame } from './codec.ts';
import { buildFlag, CN, HJ212_ERRORS as E, QN_RTN } from './codes.ts';
import { Deframer } from './deframer.ts';
import { parseSm4Key } from './sm4.ts';

export interface FactorValues {
  code: string;
  fields: Record<string, string | number>;
}

export interface Hj212ClientOptions {
  host?: string;
  port: number;
  mn: string;
  password: string;
  revision: '2017' | '2025';
  /** System code, default 22 (ambient air). */
  st?: string;
  /** HJ 212-2025: encrypt the CP of data commands with this SM4 key (§6.4.2). */
  sm4Key?: string;
  /** Ask for a data ack (Flag bit 0). Default true. */
  needsAck?: boolean;
  ackTimeoutMs?: number;
  /** Attempts per frame before it goes to the backlog (default 3). */
  maxAttempts?: number;
  /** DataTime/QN offset from UTC in minutes (default 480). */
  offsetMinutes?: number;
  lengthOf?: 'plaintext' | 'wire';
}

export interface SendResult {
  acked: boolean;
  attempts: number;
  qn: string;
}

interface Pending {
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A data logger ("field computer") of HJ 212-2017 or -2025, for tests and the demo.
 * Sends real-time/minute/hourly/daily frames and heartbeats (CN 9015), waits for the
 * 9014 data ack matched by QN, retries, and re-sends unacknowledged data with RF=1
 * (HJ 212-2025 Table 3: "RF=1，标志数据报文属于补传报文"; 2017 has no RF field and
 * re-sends the frame unchanged). A 9011 reply with QnRtn 3/4 fails the send with
 * HJ212_AUTH.
 */
export class Hj212Client {
  private sock?: net.Socket;
  private readonly deframer = new Deframer();
  private readonly pending = new Map<string, Pending>();
  private readonly key?: Buffer;
  private lastQn = '';
  /** Data that was never acknowledged: re-sent with RF=1 by resendBacklog(). */
  readonly backlog: Array<{ cn: string; dataTime: number; factors: FactorValues[] }> = [];
  readonly stats = { sent: 0, acked: 0, retries: 0, resent: 0, heartbeats: 0, replies: 0 };
  readonly received: Hj212Frame[] = [];

  constructor(private readonly opts: Hj212ClientOptions) {
    if (opts.sm4Key) this.key = parseSm4Key(opts.sm4Key);
  }

  async connect(): Promise<void> {
    const sock = net.connect(this.opts.port, this.opts.host ?? '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    sock.on('error', () => {});
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('close', () => {
      for (const p of this.pending.values()) { clearTimeout(p.timer); p.resolve(false); }
      this.pending.clear();
    });
    this.sock = sock;
  }

  get connected(): boolean {
    return !!this.sock && !this.sock.destroyed;
  }

  close(): void {
    this.sock?.destroy();
  }

  /** Write raw bytes (tests: split frames, garbage). */
  write(data: string | Buffer): void {
    if (!this.connected) throw new CodedError('HJ212_NOT_CONNECTED', 'logger is not connected');
    this.sock!.write(data);
  }

  private onData(chunk: Buffer): void {
    for (const part of this.deframer.push(chunk)) {
      if (part instanceof CodedError) continue;
      let f: Hj212Frame;
      try { f = decodeFrame(part); } catch { continue; }
      this.received.push(f);
      this.stats.replies++;
      const p = f.qn ? this.pending.get(f.qn) : undefined;
      if (!p) continue;
      if (f.cn === CN.DATA_ACK) { this.pending.delete(f.qn!); clearTimeout(p.timer); p.resolve(true); }
      else if (f.cn === CN.REQUEST_REPLY) {
        const rtn = Number(f.cp.QnRtn);
        if (rtn !== QN_RTN.READY) {
          this.pending.delete(f.qn!); clearTimeout(p.timer);
          p.reject(new CodedError(rtn === QN_RTN.PW_ERROR || rtn === QN_RTN.MN_ERROR ? E.AUTH : 'HJ212_REFUSED', `server refused the frame: QnRtn=${rtn}`, { qnRtn: rtn }));
        }
      }
    }
  }

  private nextQn(): string {
    let qn = makeQn(Date.now(), this.opts.offsetMinutes ?? 480);
    if (qn <= this.lastQn) qn = String(BigInt(this.lastQn) + 1n);
    this.lastQn = qn;
    return qn;
  }

  private frameText(cn: string, cp: string, qn: string, resent: boolean): string {
    const needsAck = this.opts.needsAck !== false;
    const encrypt = this.key && this.opts.revision === '2025' && /^2\d{3}$/.test(cn);
    return encodeFrame(
      { qn, st: this.opts.st ?? '22', cn, pw: this.opts.password, mn: this.opts.mn, flag: buildFlag(this.opts.revision, { needsAck }), resent: resent && this.opts.revision === '2025', cp },
      encrypt ? { sm4Key: this.key, lengthOf: this.opts.lengthOf } : {},
    );
  }

  private sendAndWait(text: string, qn: string): Promise<boolean> {
    if (!this.connected) return Promise.resolve(false);
    if (this.opts.needsAck === false) { this.sock!.write(text); return Promise.resolve(true); }
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(qn); resolve(false); }, this.opts.ackTimeoutMs ?? 5000);
      this.pending.set(qn, { resolve, reject, timer });
      this.sock!.write(text);
    });
  }

  /** Upload one data frame (CN 2011/2051/2061/2031), retrying until acked. */
  async sendData(cn: string, dataTime: number, factors: FactorValues[], opts: { resent?: boolean } = {}): Promise<SendResult> {
    const cp = buildCp({ DataTime: formatDataTime(dataTime, this.opts.offsetMinutes ?? 480) }, factors);
    const qn = this.nextQn();
    const max = this.opts.maxAttempts ?? 3;
    let resent = opts.resent ?? false;
    for (let attempt = 1; attempt <= max; attempt++) {
      if (attempt > 1) { this.stats.retries++; resent = true; }
      this.stats.sent++;
      if (resent) this.stats.resent++;
      const ok = await this.sendAndWait(this.frameText(cn, cp, qn, resent), qn);
      if (ok) { this.stats.acked++; return { acked: true, attempts: attempt, qn }; }
      if (!this.connected) break;
    }
    this.backlog.push({ cn, dataTime, factors });
    return { acked: false, attempts: max, qn };
  }

  /** Re-send backlog data (after a reconnect) marked RF=1. Returns how many were acked. */
  async resendBacklog(): Promise<number> {
    let acked = 0;
    const items = this.backlog.splice(0);
    for (const it of items) {
      try {
        if ((await this.sendData(it.cn, it.dataTime, it.factors, { resent: true })).acked) acked++;
      } catch (err) {
        if (!isCoded(err)) throw err;
        this.backlog.push(it);
      }
    }
    return acked;
  }

  /** Heartbeat CN 9015 (HJ 212-2025 Table 12), CP empty. Resolves true when acked. */
  async heartbeat(): Promise<boolean> {
    const qn = this.nextQn();
    this.stats.heartbeats++;
    return this.sendAndWait(this.frameText(CN.HEARTBEAT, '', qn, false), qn);
  }
}
