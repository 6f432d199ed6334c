import net from 'node:net';
import { CodedError, isCoded } from '../../lib/errors.ts';
import { buildCp, decodeFrame, encodeFrame, formatDataTime, makeQn, parseDataTime, type Hj212Frame } from './codec.ts';
import { buildFlag, CN, HJ212_ERRORS as E, QN_RTN } from './codes.ts';
import { classifyFrame } from './classify.ts';
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
  /** Answer platform requests (9011/9012, clock, intervals, history). Default true. */
  answerRequests?: boolean;
  /** Reply to every request with this QnRtn instead of 1 (ready), e.g. 2 (rejected). */
  refuseWith?: number;
  /** Real-time data interval, s (CN 1061/1062; default 30) and minute data interval, min (CN 1063/1064; default 10). */
  rtdInterval?: number;
  minInterval?: number;
}

/** A request the logger received from the platform and what it did. */
export interface ReceivedRequest {
  cn: string;
  qn: string;
  cp: Record<string, string>;
  qnRtn: number;
  exeRtn?: number;
  /** Records uploaded in answer (history requests). */
  records?: number;
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
 *
 * It answers platform requests as a logger does (2017 §6.5 request flow: 9011 request reply
 * with QnRtn, the answer, 9012 execution result with ExeRtn; every answer carries the request's
 * QN): 1011 → 1011 with its SystemTime; 1012 sets its clock from SystemTime; 1061/1063 → its
 * RtdInterval/MinInterval; 1062/1064 set them; 2051/2061/2031 with BeginTime/EndTime → the
 * records it holds in that window (everything it was given by sendData or record(), whether
 * it got through or not), uploaded as data frames of that CN (RF=1 in 2025), then ExeRtn=1, or
 * ExeRtn=100 when it holds none. A wrong PW gets QnRtn=3, another MN 4, an unknown CN 8, a
 * malformed command (a field classifyFrame refuses) 2.
 */
export class Hj212Client {
  private sock?: net.Socket;
  private readonly deframer = new Deframer();
  private readonly pending = new Map<string, Pending>();
  private readonly key?: Buffer;
  private lastQn = '';
  /** Data that was never acknowledged: re-sent with RF=1 by resendBacklog(). */
  readonly backlog: Array<{ cn: string; dataTime: number; factors: FactorValues[] }> = [];
  readonly stats = { sent: 0, acked: 0, retries: 0, resent: 0, heartbeats: 0, replies: 0, requests: 0, historyRecords: 0 };
  readonly received: Hj212Frame[] = [];
  /** Requests from the platform, in arrival order, with what the logger answered. */
  readonly requests: ReceivedRequest[] = [];
  /** Every record it was given (sendData or record()), by CN and DataTime: its history. */
  private readonly history = new Map<string, Map<number, FactorValues[]>>();
  private clockOffsetMs = 0;
  rtdInterval: number;
  minInterval: number;
  private requestChain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: Hj212ClientOptions) {
    if (opts.sm4Key) this.key = parseSm4Key(opts.sm4Key);
    this.rtdInterval = opts.rtdInterval ?? 30;
    this.minInterval = opts.minInterval ?? 10;
  }

  /** The logger's clock (epoch ms): the host clock plus what CN 1012 set. */
  clock(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Keep a record in the logger's history without sending it (its uplink was down): history requests can fetch it. */
  record(cn: string, dataTime: number, factors: FactorValues[]): void {
    let m = this.history.get(cn);
    if (!m) this.history.set(cn, (m = new Map()));
    m.set(dataTime, factors);
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
      let kind: string;
      try { f = decodeFrame(part, { keyFor: () => this.key }); } catch { continue; }
      try { kind = classifyFrame(f).kind; } catch {
        // a malformed command (e.g. 1012 without SystemTime): "请求被拒绝"
        if (f.cn[0] !== '9' && this.connected) this.sock!.write(this.frameText(CN.REQUEST_REPLY, `QnRtn=${QN_RTN.REJECTED}`, f.qn ?? this.nextQn(), false, false));
        continue;
      }
      this.received.push(f);
      if (kind === 'request') {
        this.stats.requests++;
        if (this.opts.answerRequests !== false) this.requestChain = this.requestChain.then(() => this.answer(f)).catch(() => undefined);
        continue;
      }
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

  private frameText(cn: string, cp: string, qn: string, resent: boolean, needsAck = this.opts.needsAck !== false): string {
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

  /** Upload one data frame (CN 2011/2051/2061/2031), retrying until acked. The record is kept in the logger's history. */
  async sendData(cn: string, dataTime: number, factors: FactorValues[], opts: { resent?: boolean } = {}): Promise<SendResult> {
    this.record(cn, dataTime, factors);
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

  /** Answer one platform request (see the class comment). */
  private async answer(f: Hj212Frame): Promise<void> {
    if (!this.connected) return;
    const qn = f.qn ?? this.nextQn();
    const off = this.opts.offsetMinutes ?? 480;
    const send = (cn: string, cp: string) => { if (this.connected) this.sock!.write(this.frameText(cn, cp, qn, false, false)); };
    const known = ['1011', '1012', '1061', '1062', '1063', '1064', '2031', '2051', '2061'];
    let qnRtn: number = QN_RTN.READY;
    if (f.mn !== this.opts.mn) qnRtn = QN_RTN.MN_ERROR;
    else if (f.pw !== this.opts.password) qnRtn = QN_RTN.PW_ERROR;
    else if (!known.includes(f.cn)) qnRtn = QN_RTN.CN_ERROR;
    else if (this.opts.refuseWith !== undefined) qnRtn = this.opts.refuseWith;
    const req: ReceivedRequest = { cn: f.cn, qn, cp: { ...f.cp }, qnRtn };
    this.requests.push(req);
    send(CN.REQUEST_REPLY, `QnRtn=${qnRtn}`);
    if (qnRtn !== QN_RTN.READY) return;
    let exeRtn = 1;
    switch (f.cn) {
      case '1011': send('1011', `SystemTime=${formatDataTime(this.clock(), off)}`); break;
      case '1012': this.clockOffsetMs = parseDataTime(f.cp.SystemTime, off) - Date.now(); break;
      case '1061': send('1061', `RtdInterval=${this.rtdInterval}`); break;
      case '1062': this.rtdInterval = Number(f.cp.RtdInterval); break;
      case '1063': send('1063', `MinInterval=${this.minInterval}`); break;
      case '1064': this.minInterval = Number(f.cp.MinInterval); break;
      default: {
        // history: 2051 / 2061 / 2031 with BeginTime/EndTime
        const from = f.cp.BeginTime ? parseDataTime(f.cp.BeginTime, off) : -Infinity;
        const to = f.cp.EndTime ? parseDataTime(f.cp.EndTime, off) : Infinity;
        const rows = [...(this.history.get(f.cn) ?? new Map<number, FactorValues[]>())].filter(([t]) => t >= from && t <= to).sort((a, b) => a[0] - b[0]);
        let sent = 0;
        for (const [t, factors] of rows) {
          const text = this.frameText(f.cn, buildCp({ DataTime: formatDataTime(t, off) }, factors), qn, true);
          this.stats.sent++;
          if (this.opts.revision === '2025') this.stats.resent++;
          if (await this.sendAndWait(text, qn)) this.stats.acked++;
          sent++;
        }
        this.stats.historyRecords += sent;
        req.records = sent;
        if (!sent) exeRtn = 100;
      }
    }
    req.exeRtn = exeRtn;
    send(CN.EXEC_RESULT, `ExeRtn=${exeRtn}`);
  }

  /** Heartbeat CN 9015 (HJ 212-2025 Table 12), CP empty. Resolves true when acked. */
  async heartbeat(): Promise<boolean> {
    const qn = this.nextQn();
    this.stats.heartbeats++;
    return this.sendAndWait(this.frameText(CN.HEARTBEAT, '', qn, false), qn);
  }
}
