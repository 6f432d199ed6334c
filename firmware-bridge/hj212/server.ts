import net from 'node:net';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CodedError, errMessage, isCoded } from '../../lib/errors.ts';
import { rootLogger, type Logger, component } from '../../lib/log.ts';
import { decodeFrame, encodeFrame, makeQn, DEFAULT_MAX_FRAME_BYTES, type Hj212Frame } from './codec.ts';
import { buildFlag, CN, cnIsEncryptable, HJ212_ERRORS as E, QN_RTN, type Revision } from './codes.ts';
import { classifyFrame, type FrameClass, type FrameKind } from './classify.ts';
import { Deframer } from './deframer.ts';
import { frameValues, type FactorValue } from './values.ts';
import { parseSm4Key } from './sm4.ts';

/** Codes of the platform → logger requests (Hj212Server.request). */
export const HJ212_REQUEST_ERRORS = {
  NOT_CONNECTED: 'HJ212_NOT_CONNECTED', // no logger with that MN is connected (or it disconnected before answering)
  TIMEOUT: 'HJ212_TIMEOUT', // no execution result (9012) within the timeout
  REFUSED: 'HJ212_REFUSED', // the logger's 9011 QnRtn was not 1 (ready)
} as const;

export interface StationConfig {
  mn: string;
  password: string;
  /** Expected revision; frames of another revision are rejected. */
  revision?: '2005' | '2017' | '2025';
  /** SM4 key (32 hex digits or 16 characters) for HJ 212-2025 encrypted CPs. */
  sm4Key?: string;
  /** Reject plaintext data commands from this station (HJ 212-2025 §6.4.1: Internet links "应" encrypt). */
  requireEncryption?: boolean;
}

export interface Hj212ServerOptions {
  host?: string;
  port?: number;
  stations: StationConfig[];
  /** Close a connection with no bytes for this long (default 5 min; loggers heartbeat every minute or so). */
  idleTimeoutMs?: number;
  /** Close a connection whose started frame has not completed within this long (slowloris guard, default 30 s). */
  frameTimeoutMs?: number;
  maxFrameBytes?: number;
  maxConnections?: number;
  /** DataTime offset from UTC in minutes (default 480, Beijing time). */
  offsetMinutes?: number;
  /** Reply 9011 with a QnRtn code to a frame that asked for a reply but was refused (default true). */
  replyOnReject?: boolean;
  /** Called for every accepted frame before its ack is sent; a throw/rejection suppresses the ack (the logger re-sends). */
  onFrame?: (ev: AcceptedFrame) => void | Promise<void>;
  log?: Logger;
}

export interface AcceptedFrame {
  frame: Hj212Frame;
  /** Direction and kind (lib/hj212/classify.ts); values only come from `data` frames. */
  cls: FrameClass;
  values: FactorValue[];
  station: StationConfig;
  duplicate: boolean;
  remote: string;
  /** The frame answers a request this server sent (same QN): the request's CN. */
  answers?: { qn: string; cn: string };
}

/** What a logger answered to a request (Hj212Server.request). */
export interface RequestResult {
  mn: string;
  cn: string;
  qn: string;
  /** 9011 QnRtn (1 = ready to execute). */
  qnRtn?: number;
  /** 9012 ExeRtn (1 = success, 100 = no data, …). */
  exeRtn?: number;
  /** The logger's parameter answer (1011 SystemTime, 1061 RtdInterval, 1063 MinInterval, …): its CN and CP. */
  answer?: { cn: string; cp: Record<string, string> };
  /** Data frames that answered it (history requests). */
  records: number;
}

interface PendingRequest {
  mn: string;
  cn: string;
  result: RequestResult;
  timer: NodeJS.Timeout;
  sock: net.Socket;
  resolve: (r: RequestResult) => void;
  reject: (err: Error) => void;
}

export interface Hj212ServerStats {
  connections: { current: number; total: number; refused: number; idleTimeouts: number; slowTimeouts: number };
  accepted: number;
  duplicates: number;
  heartbeats: number;
  acks: number;
  rejectReplies: number;
  rejected: Record<string, number>;
  readings: number;
  /** Accepted frames by kind (lib/hj212/classify.ts). */
  kinds: Record<FrameKind, number>;
  /** Requests sent to loggers and how they ended. */
  requests: { sent: number; executed: number; refused: number; timeouts: number; disconnected: number };
}

/**
 * HJ 212 TCP server (the "upper computer"/platform side) for loggers of the 2005,
 * 2017 and 2025 revisions. Replies:
 *  - data ack CN 9014 (ST=91, QN of the acknowledged frame, CP=&&&&) when Flag bit 0
 *    asks for a reply — HJ 212-2017 §6.6 (upload with reply, Appendix C example
 *    "QN=…;ST=91;CN=9014;PW=…;MN=…;Flag=4;CP=&&&&"), HJ 212-2025 Table 12 (9014 数据应答);
 *    the ack is sent only after `onFrame` (e.g. the outbox commit) succeeded;
 *  - heartbeat CN 9015 with the reply bit set also gets a 9014 (the 2025 text's
 *    reply for a heartbeat could not be confirmed — see README);
 *  - request reply CN 9011 with QnRtn 3 (PW error) / 4 (MN error) for a refused frame
 *    that asked for a reply (HJ 212-2017 "请求命令返回表"). Frames with a bad CRC get
 *    no reply: their header cannot be trusted;
 *  - notification reply CN 9013 to a notification (1013 time-calibration request) that asks
 *    for a reply; a request sent TO the platform (a logger does not send those) that asks
 *    for a reply gets 9011 QnRtn=2 (rejected). Answers (9011/9012, parameter answers) get none.
 * Every well-formed frame is classified (direction and kind, lib/hj212/classify.ts) and
 * accepted; only data frames yield values and 9014 acks.
 *
 * Requests to loggers (`request`): the platform → logger commands of 2017 §6.5 / 2025 §6.5
 * (1011/1012 clock, 1061–1064 intervals, 2051/2061/2031 history, …) go down the connection the
 * MN last authenticated on, with a fresh QN, the station's PW, its ST and revision, the reply bit
 * set and (2025 with a key) the CP SM4-encrypted for CN 2xxx. Frames coming back with that QN are
 * collected: 9011 (QnRtn ≠ 1 → HJ212_REFUSED), the parameter answer, data records (processed and
 * stored like any upload, `answers` set), and 9012 (ExeRtn) resolves it. No 9012 in time →
 * HJ212_TIMEOUT; logger not connected or gone → HJ212_NOT_CONNECTED.
 * Never throws on input: every bad frame is counted by its code.
 */
export class Hj212Server extends EventEmitter {
  private server?: net.Server;
  private readonly stations = new Map<string, { cfg: StationConfig; key?: Buffer; pw: Buffer }>();
  private readonly sockets = new Set<net.Socket>();
  private readonly seen = new Map<string, true>();
  /** MN → the connection it last authenticated on, with its ST and revision. */
  private readonly conns = new Map<string, { sock: net.Socket; st?: string; revision: Revision }>();
  private readonly pending = new Map<string, PendingRequest>();
  private lastQn = '';
  private readonly log: Logger;
  readonly counters: Hj212ServerStats = {
    connections: { current: 0, total: 0, refused: 0, idleTimeouts: 0, slowTimeouts: 0 },
    accepted: 0, duplicates: 0, heartbeats: 0, acks: 0, rejectReplies: 0, rejected: {}, readings: 0,
    kinds: { data: 0, request: 0, answer: 0, notification: 0, heartbeat: 0, other: 0 },
    requests: { sent: 0, executed: 0, refused: 0, timeouts: 0, disconnected: 0 },
  };

  constructor(private readonly opts: Hj212ServerOptions) {
    super();
    this.log = (opts.log ? component(opts.log, 'server') : component(rootLogger, 'hj212.server'));
    for (const s of opts.stations) {
      this.stations.set(s.mn, { cfg: s, pw: Buffer.from(s.password), ...(s.sm4Key ? { key: parseSm4Key(s.sm4Key) } : {}) });
    }
  }

  async listen(): Promise<number> {
    const server = net.createServer((sock) => this.onConnection(sock));
    server.maxConnections = this.opts.maxConnections ?? 4096;
    server.on('drop', () => { this.counters.connections.refused++; });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '0.0.0.0', () => { server.off('error', reject); resolve(); });
    });
    return (server.address() as net.AddressInfo).port;
  }

  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async close(): Promise<void> {
    for (const [qn, p] of [...this.pending]) this.settle(qn, p, new CodedError(HJ212_REQUEST_ERRORS.NOT_CONNECTED, `server closed before logger ${p.mn} answered CN ${p.cn}`, { mn: p.mn, cn: p.cn }));
    for (const s of this.sockets) s.destroy();
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  stats(): Hj212ServerStats {
    return structuredClone(this.counters);
  }

  private reject(code: string, err: unknown, remote: string): void {
    this.counters.rejected[code] = (this.counters.rejected[code] ?? 0) + 1;
    this.emit('rejected', err, remote);
    this.log.debug({ code, remote, err: errMessage(err) }, 'hj212 frame rejected');
  }

  private onConnection(sock: net.Socket): void {
    const c = this.counters.connections;
    c.current++;
    c.total++;
    this.sockets.add(sock);
    const remote = `${sock.remoteAddress}:${sock.remotePort}`;
    const deframer = new Deframer({ maxFrameBytes: this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
    let slowTimer: NodeJS.Timeout | undefined;
    let chain: Promise<void> = Promise.resolve();
    sock.setNoDelay(true);
    sock.setTimeout(this.opts.idleTimeoutMs ?? 300_000, () => {
      c.idleTimeouts++;
      this.reject(E.TIMEOUT, new CodedError(E.TIMEOUT, 'idle connection closed'), remote);
      sock.destroy();
    });
    sock.on('data', (chunk: Buffer) => {
      let parts: Array<Buffer | CodedError>;
      try {
        parts = deframer.push(chunk);
      } catch (err) {
        this.reject(E.BAD_FRAME, err, remote);
        sock.destroy();
        return;
      }
      for (const p of parts) {
        if (p instanceof CodedError) { this.reject(p.code, p, remote); continue; }
        // frames of one connection are handled in order (acks in order)
        chain = chain.then(() => this.handleFrame(p, sock, remote)).catch((err) => this.log.error({ err: errMessage(err) }, 'hj212 frame handler failed'));
      }
      if (deframer.pending > 0 && !slowTimer) {
        slowTimer = setTimeout(() => {
          c.slowTimeouts++;
          this.reject(E.TIMEOUT, new CodedError(E.TIMEOUT, 'frame not completed in time; slow connection closed'), remote);
          sock.destroy();
        }, this.opts.frameTimeoutMs ?? 30_000);
      } else if (deframer.pending === 0 && slowTimer) {
        clearTimeout(slowTimer);
        slowTimer = undefined;
      }
    });
    sock.on('error', () => { /* reset by peer etc.: close handles it */ });
    sock.on('close', () => {
      if (slowTimer) clearTimeout(slowTimer);
      c.current--;
      this.sockets.delete(sock);
      for (const [mn, conn] of this.conns) if (conn.sock === sock) this.conns.delete(mn);
      // wait for the frames already read from this socket, then fail what is still waiting
      void chain.then(() => {
        for (const [qn, p] of [...this.pending]) {
          if (p.sock !== sock) continue;
          this.counters.requests.disconnected++;
          this.settle(qn, p, new CodedError(HJ212_REQUEST_ERRORS.NOT_CONNECTED, `logger ${p.mn} disconnected before answering CN ${p.cn}`, { mn: p.mn, cn: p.cn }));
        }
      });
    });
  }

  private async handleFrame(bytes: Buffer, sock: net.Socket, remote: string): Promise<void> {
    let frame: Hj212Frame;
    try {
      frame = decodeFrame(bytes, { maxFrameBytes: this.opts.maxFrameBytes, keyFor: (mn) => this.stations.get(mn)?.key });
    } catch (err) {
      let code = isCoded(err) ? err.code : E.BAD_FRAME;
      if (code === E.NO_KEY) {
        const mn = (err as CodedError).details?.mn as string | undefined;
        if (!mn || !this.stations.has(mn)) code = E.AUTH;
      }
      this.reject(code, err, remote);
      return;
    }
    const st = frame.mn !== undefined ? this.stations.get(frame.mn) : undefined;
    if (!st || frame.pw === undefined || !safeEqual(st.pw, frame.pw)) {
      const why = !st ? `unknown station MN ${frame.mn ?? '(none)'}` : 'wrong password (PW)';
      this.reject(E.AUTH, new CodedError(E.AUTH, why, { mn: frame.mn }), remote);
      if (this.opts.replyOnReject !== false && frame.flagBits?.needsAck) {
        this.reply(sock, frame, CN.REQUEST_REPLY, `QnRtn=${st ? QN_RTN.PW_ERROR : QN_RTN.MN_ERROR}`);
        this.counters.rejectReplies++;
      }
      return;
    }
    if (st.cfg.revision && st.cfg.revision !== frame.revision) {
      this.reject(E.BAD_FIELD, new CodedError(E.BAD_FIELD, `station ${frame.mn} is configured for HJ 212-${st.cfg.revision} but sent a ${frame.revision} frame (Flag=${frame.flag})`), remote);
      return;
    }
    if (st.cfg.requireEncryption && !frame.encrypted && /^2\d{3}$/.test(frame.cn)) {
      this.reject(E.DECRYPT, new CodedError(E.DECRYPT, `station ${frame.mn} must send SM4-encrypted data (HJ 212-2025 §6.4)`), remote);
      return;
    }
    let readings: FactorValue[];
    let cls: FrameClass;
    try {
      cls = classifyFrame(frame);
      readings = cls.kind === 'data' ? frameValues(frame, { offsetMinutes: this.opts.offsetMinutes }) : [];
    } catch (err) {
      this.reject(isCoded(err) ? err.code : E.BAD_FIELD, err, remote);
      return;
    }
    this.conns.set(frame.mn!, { sock, st: frame.st, revision: frame.revision });
    this.counters.kinds[cls.kind]++;
    if (cls.kind === 'heartbeat') this.counters.heartbeats++;
    const pend = frame.qn !== undefined ? this.pending.get(frame.qn) : undefined;
    const answers = pend && pend.mn === frame.mn ? { qn: frame.qn!, cn: pend.cn } : undefined;
    const key = `${frame.mn}|${frame.cn}|${frame.cp.DataTime ?? frame.qn}|${frame.pno ?? ''}`;
    const duplicate = readings.length > 0 && this.seen.has(key);
    const ev: AcceptedFrame = { frame, cls, values: duplicate ? [] : readings, station: st.cfg, duplicate, remote, ...(answers ? { answers } : {}) };
    try {
      await this.opts.onFrame?.(ev);
    } catch (err) {
      this.log.warn({ err: errMessage(err), mn: frame.mn }, 'hj212 frame not stored; no ack so the logger re-sends');
      this.reject('HJ212_STORE', err, remote);
      return;
    }
    // remember the frame only once stored, so a re-send after a failed store is not a "duplicate"
    if (readings.length > 0 && !duplicate) {
      this.seen.set(key, true);
      if (this.seen.size > 50_000) this.seen.delete(this.seen.keys().next().value as string);
    }
    if (duplicate) this.counters.duplicates++;
    this.counters.accepted++;
    this.counters.readings += ev.values.length;
    this.emit('frame', ev);
    if (frame.flagBits?.needsAck) {
      if (cls.kind === 'data' || cls.kind === 'heartbeat') {
        this.reply(sock, frame, CN.DATA_ACK, '');
        this.counters.acks++;
      } else if (cls.kind === 'notification') this.reply(sock, frame, CN.NOTIFY_REPLY, '');
      else if (cls.kind === 'request') this.reply(sock, frame, CN.REQUEST_REPLY, `QnRtn=${QN_RTN.REJECTED}`);
    }
    if (answers && pend) this.collect(frame, cls, pend);
  }

  /** Whether a logger with this MN is connected (has authenticated on a live connection). */
  connected(mn: string): boolean {
    const c = this.conns.get(mn);
    return !!c && !c.sock.destroyed;
  }

  /**
   * Send a request (platform → logger) to the logger with this MN and wait for its execution
   * result (9012). `cp` items are written `key=value` separated by `;`. Rejects with
   * HJ212_NOT_CONNECTED, HJ212_REFUSED (details.qnRtn) or HJ212_TIMEOUT (details: what came).
   */
  request(mn: string, cn: string, cp: Record<string, string> = {}, opts: { timeoutMs?: number } = {}): Promise<RequestResult> {
    const conn = this.conns.get(mn);
    const st = this.stations.get(mn);
    if (!conn || conn.sock.destroyed || !st) {
      return Promise.reject(new CodedError(HJ212_REQUEST_ERRORS.NOT_CONNECTED, `no logger with MN ${mn} is connected`, { mn }));
    }
    const qn = this.nextQn();
    const revision: Revision = st.cfg.revision ?? conn.revision;
    const text = encodeFrame(
      { qn, st: conn.st ?? '91', cn, pw: st.cfg.password, mn, flag: buildFlag(revision === 'unknown' ? '2017' : revision, { needsAck: true }), cp: Object.entries(cp).map(([k, v]) => `${k}=${v}`).join(';') },
      st.key && revision === '2025' && cnIsEncryptable(cn) ? { sm4Key: st.key } : {},
    );
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise<RequestResult>((resolve, reject) => {
      const result: RequestResult = { mn, cn, qn, records: 0 };
      const timer = setTimeout(() => {
        const p = this.pending.get(qn);
        if (!p) return;
        this.counters.requests.timeouts++;
        const got = p.result.qnRtn !== undefined ? `QnRtn=${p.result.qnRtn}, ${p.result.records} record(s), no execution result (9012)` : 'no reply at all';
        this.settle(qn, p, new CodedError(E.TIMEOUT, `logger ${mn} did not complete CN ${cn} within ${timeoutMs} ms (${got})`, { timeoutMs, ...p.result }));
      }, timeoutMs);
      this.pending.set(qn, { mn, cn, result, timer, sock: conn.sock, resolve, reject });
      this.counters.requests.sent++;
      conn.sock.write(text);
    });
  }

  private collect(frame: Hj212Frame, cls: FrameClass, p: PendingRequest): void {
    const qn = frame.qn!;
    if (cls.answer === 'request-reply') {
      p.result.qnRtn = cls.qnRtn;
      if (cls.qnRtn !== QN_RTN.READY) {
        this.counters.requests.refused++;
        this.settle(qn, p, new CodedError(HJ212_REQUEST_ERRORS.REFUSED, `logger ${p.mn} refused CN ${p.cn}: QnRtn=${cls.qnRtn}`, { mn: p.mn, cn: p.cn, qnRtn: cls.qnRtn }));
      }
    } else if (cls.answer === 'execution-result') {
      p.result.exeRtn = cls.exeRtn;
      this.counters.requests.executed++;
      this.settle(qn, p);
    } else if (cls.kind === 'data') p.result.records++;
    else if (cls.kind === 'answer' && cls.answer === 'parameters') p.result.answer = { cn: frame.cn, cp: { ...frame.cp } };
  }

  private settle(qn: string, p: PendingRequest, err?: Error): void {
    clearTimeout(p.timer);
    this.pending.delete(qn);
    if (err) p.reject(err);
    else p.resolve(p.result);
  }

  private nextQn(): string {
    let qn = makeQn(Date.now(), this.opts.offsetMinutes ?? 480);
    if (qn <= this.lastQn) qn = String(BigInt(this.lastQn) + 1n);
    this.lastQn = qn;
    return qn;
  }

  private reply(sock: net.Socket, frame: Hj212Frame, cn: string, cp: string): void {
    if (sock.destroyed) return;
    const rev: Revision = frame.revision;
    sock.write(encodeFrame({ ...(frame.qn ? { qn: frame.qn } : {}), st: '91', cn, ...(frame.pw !== undefined ? { pw: frame.pw } : {}), ...(frame.mn !== undefined ? { mn: frame.mn } : {}), ...(frame.flag !== undefined ? { flag: buildFlag(rev) } : {}), cp }));
  }
}

function safeEqual(expected: Buffer, given: string): boolean {
  const g = Buffer.from(given);
  return g.length === expected.length && crypto.timingSafeEqual(g, expected);
}
