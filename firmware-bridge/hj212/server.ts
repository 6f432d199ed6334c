import net from 'node:net';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CodedError, errMessage, isCoded } from '../../lib/errors.ts';
import { rootLogger, type Logger, component } from '../../lib/log.ts';
import { decodeFrame, encodeFrame, DEFAULT_MAX_FRAME_BYTES, type Hj212Frame } from './codec.ts';
import { buildFlag, CN, HJ212_ERRORS as E, QN_RTN, type Revision } from './codes.ts';
import { Deframer } from './deframer.ts';
import { frameValues, type FactorValue } from './values.ts';
import { parseSm4Key } from './sm4.ts';

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
  values: FactorValue[];
  station: StationConfig;
  duplicate: boolean;
  remote: string;
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
 *    no reply: their header cannot be trusted.
 * Never throws on input: every bad frame is counted by its code.
 */
export class Hj212Server extends EventEmitter {
  private server?: net.Server;
  private readonly stations = new Map<string, { cfg: StationConfig; key?: Buffer; pw: Buffer }>();
  private readonly sockets = new Set<net.Socket>();
  private readonly seen = new Map<string, true>();
  private readonly log: Logger;
  readonly counters: Hj212ServerStats = {
    connections: { current: 0, total: 0, refused: 0, idleTimeouts: 0, slowTimeouts: 0 },
    accepted: 0, duplicates: 0, heartbeats: 0, acks: 0, rejectReplies: 0, rejected: {}, readings: 0,
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
    try {
      readings = frameValues(frame, { offsetMinutes: this.opts.offsetMinutes });
    } catch (err) {
      this.reject(isCoded(err) ? err.code : E.BAD_FIELD, err, remote);
      return;
    }
    if (frame.cn === CN.HEARTBEAT) this.counters.heartbeats++;
    const key = `${frame.mn}|${frame.cn}|${frame.cp.DataTime ?? frame.qn}|${frame.pno ?? ''}`;
    const duplicate = readings.length > 0 && this.seen.has(key);
    const ev: AcceptedFrame = { frame, values: duplicate ? [] : readings, station: st.cfg, duplicate, remote };
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
    if (frame.flagBits?.needsAck && (/^2\d{3}$/.test(frame.cn) || frame.cn === CN.HEARTBEAT)) {
      this.reply(sock, frame, CN.DATA_ACK, '');
      this.counters.acks++;
    }
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
