/**
 * DOCK/1 TCP server (README §6 connection policy, §4 sequence numbers).
 * Transport and sequencing only: parsed, de-duplicated messages go to a handler;
 * station semantics live in edge/bikes.
 */
import net from 'node:net';
import { isCoded, errMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { rootLogger, component } from '../../lib/log.ts';
import {
  DEFAULT_MAX_LINE_BYTES, DOCK_PROTO, formatServerLine, parseLine,
  type DockCode, type DockMsg, type HelloMsg, type ServerLine,
} from './protocol.ts';

export type DataMsg = Exclude<DockMsg, HelloMsg>;

export interface DockServerHandler {
  /** Decide whether a HELLO is accepted (auth, known station). Default: accept all. */
  authorize?(hello: HelloMsg): { code: DockCode; text: string } | undefined;
  hello?(hello: HelloMsg, info: { newBoot: boolean; remote: string }): void;
  /**
   * An accepted, in-order or late (gap) message. `lost` = seqs skipped just before it. The ACK goes
   * out only after this returns: it must store what the message means durably (the edge source
   * commits it to the outbox) or throw, and a throw answers NAK DOCK_STORE so the controller sends
   * the line again.
   */
  message(station: string, msg: DataMsg, info: { lost: number }): void;
  closed?(station: string, code: string): void;
}

export interface DockServerOptions {
  host?: string;
  port?: number;
  maxLineBytes?: number;
  /** §6: no line for this long → BYE DOCK_IDLE (default 90 s = 3 missed heartbeats). */
  idleTimeoutMs?: number;
  helloTimeoutMs?: number;
  maxConnections?: number;
  /** §6: bad lines tolerated per connection before BYE DOCK_TOO_MANY_BAD. */
  maxBadLines?: number;
  /** Heartbeat period told to controllers in WELCOME. */
  heartbeatS?: number;
  log?: Logger;
}

export interface DockServerStats {
  /** Messages the handler could not store (answered NAK DOCK_STORE, not acknowledged). */
  storeFailures: number;
  connections: number;
  accepted: number;
  rejectedBusy: number;
  lines: number;
  messages: number;
  duplicates: number;
  gaps: number;
  lost: number;
  badLines: number;
  badByCode: Record<string, number>;
  disconnects: Record<string, number>;
}

interface SeqState { boot: string; last: number }

export class DockServer {
  private server?: net.Server;
  private readonly opts: Required<Omit<DockServerOptions, 'log'>>;
  private readonly log: Logger;
  private readonly sessions = new Set<Session>();
  private readonly byStation = new Map<string, Session>();
  /** §4: last accepted seq per (station, boot), kept across reconnects. */
  readonly seq = new Map<string, SeqState>();
  readonly counters: DockServerStats = { storeFailures: 0, connections: 0, accepted: 0, rejectedBusy: 0, lines: 0, messages: 0, duplicates: 0, gaps: 0, lost: 0, badLines: 0, badByCode: {}, disconnects: {} };

  constructor(readonly handler: DockServerHandler, opts: DockServerOptions = {}) {
    this.opts = {
      host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, maxLineBytes: opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      idleTimeoutMs: opts.idleTimeoutMs ?? 90_000, helloTimeoutMs: opts.helloTimeoutMs ?? 10_000,
      maxConnections: opts.maxConnections ?? 2000, maxBadLines: opts.maxBadLines ?? 20, heartbeatS: opts.heartbeatS ?? 30,
    };
    this.log = (opts.log ? component(opts.log, 'server') : component(rootLogger, 'dock.server'));
  }

  async listen(): Promise<number> {
    const srv = net.createServer((s) => this.accept(s));
    this.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.opts.port, this.opts.host, () => { srv.off('error', reject); resolve(); });
    });
    return (srv.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.bye('DOCK_IDLE', 'server shutting down');
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  stats(): DockServerStats & { open: number; stations: number } {
    return { ...this.counters, badByCode: { ...this.counters.badByCode }, disconnects: { ...this.counters.disconnects }, open: this.sessions.size, stations: this.byStation.size };
  }

  connected(station: string): boolean {
    return this.byStation.has(station);
  }

  private accept(socket: net.Socket): void {
    this.counters.connections++;
    if (this.sessions.size >= this.opts.maxConnections) {
      this.counters.rejectedBusy++;
      socket.end(formatServerLine({ verb: 'BYE', code: 'DOCK_BUSY', text: `server at max ${this.opts.maxConnections} connections, retry later` }) + '\n');
      socket.on('error', () => undefined);
      return;
    }
    this.counters.accepted++;
    const s = new Session(this, socket, this.opts);
    this.sessions.add(s);
  }

  /** @internal */ bad(code: string): void {
    this.counters.badLines++;
    this.counters.badByCode[code] = (this.counters.badByCode[code] ?? 0) + 1;
  }

  /** @internal */ ended(s: Session, code: string): void {
    this.sessions.delete(s);
    this.counters.disconnects[code] = (this.counters.disconnects[code] ?? 0) + 1;
    if (s.station && this.byStation.get(s.station) === s) {
      this.byStation.delete(s.station);
      try { this.handler.closed?.(s.station, code); } catch (err) { this.log.error({ err: errMessage(err) }, 'closed handler threw'); }
    }
  }

  /** @internal Returns the `last` seq for WELCOME. */
  registerHello(s: Session, h: HelloMsg): { last: number; newBoot: boolean } {
    const prev = this.byStation.get(h.station);
    if (prev && prev !== s) prev.bye('DOCK_REPLACED', 'another connection said HELLO for this station');
    this.byStation.set(h.station, s);
    const boot = h.boot ?? '-';
    const known = this.seq.get(h.station);
    const newBoot = !known || known.boot !== boot;
    if (newBoot) this.seq.set(h.station, { boot, last: 0 });
    return { last: this.seq.get(h.station)!.last, newBoot };
  }

  /** @internal §4 sequence accounting. Returns lost count, or -1 for a duplicate. */
  account(station: string, seq: number): number {
    const st = this.seq.get(station)!;
    if (seq <= st.last) { this.counters.duplicates++; return -1; }
    const lost = seq - st.last - 1;
    if (lost > 0) { this.counters.gaps++; this.counters.lost += lost; }
    st.last = seq;
    return lost;
  }

  /** @internal The message could not be stored: forget its seq, so its re-send is not taken for a duplicate. */
  unaccount(station: string, seq: number, lost: number): void {
    const st = this.seq.get(station);
    if (!st || st.last !== seq) return;
    st.last = seq - lost - 1;
    if (lost > 0) { this.counters.gaps--; this.counters.lost -= lost; }
  }

  /** @internal Hand a message to the handler; false when it could not store it (no ACK then). */
  dispatch(station: string, msg: DataMsg, lost: number): boolean {
    this.counters.messages++;
    try {
      this.handler.message(station, msg, { lost });
      return true;
    } catch (err) {
      this.counters.storeFailures++;
      this.log.error({ err: errMessage(err), station, verb: msg.verb, code: 'DOCK_STORE' }, 'dock message not stored; NAK, the controller sends it again');
      return false;
    }
  }

  /** @internal */ helloHandler(h: HelloMsg, info: { newBoot: boolean; remote: string }): void {
    try { this.handler.hello?.(h, info); } catch (err) { this.log.error({ err: errMessage(err) }, 'hello handler threw'); }
  }
}

class Session {
  station?: string;
  private docks = 0;
  private buf = '';
  private discarding = false;
  private badCount = 0;
  private closed = false;

  constructor(private readonly srv: DockServer, private readonly socket: net.Socket, private readonly o: Required<Omit<DockServerOptions, 'log'>>) {
    socket.setNoDelay(true);
    socket.setTimeout(o.helloTimeoutMs);
    socket.on('timeout', () => this.bye('DOCK_IDLE', this.station ? `no line for ${o.idleTimeoutMs} ms` : `no HELLO within ${o.helloTimeoutMs} ms`));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.finish('closed'));
  }

  private finish(code: string): void {
    if (this.closed) return;
    this.closed = true;
    this.srv.ended(this, code);
  }

  send(l: ServerLine): void {
    if (!this.closed && this.socket.writable) this.socket.write(formatServerLine(l) + '\n');
  }

  bye(code: DockCode, text: string): void {
    if (this.closed) return;
    this.send({ verb: 'BYE', code, text });
    this.finish(code);
    this.socket.end();
    this.socket.destroySoon();
  }

  private onData(chunk: Buffer): void {
    // latin1 keeps one char per byte, so length checks are byte checks; non-ASCII is rejected by the parser.
    this.buf += chunk.toString('latin1');
    this.socket.cork();
    try {
      let nl: number;
      while (!this.closed && (nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (this.discarding) { this.discarding = false; continue; }
        if (line.length > this.o.maxLineBytes) { this.reject('DOCK_TOO_LONG', `line of ${line.length} bytes exceeds ${this.o.maxLineBytes}`, 0); continue; }
        this.onLine(line);
      }
      if (!this.closed && !this.discarding && this.buf.length > this.o.maxLineBytes) {
        // §6: an over-long line is NAK'd once and its remainder skipped up to the next LF.
        this.buf = '';
        this.discarding = true;
        this.reject('DOCK_TOO_LONG', `line exceeds ${this.o.maxLineBytes} bytes`, 0);
      } else if (this.discarding) {
        this.buf = '';
      }
    } finally {
      this.socket.uncork();
    }
  }

  private reject(code: string, text: string, seq: number): void {
    this.srv.bad(code);
    this.send({ verb: 'NAK', seq, code, text });
    if (++this.badCount >= this.o.maxBadLines) this.bye('DOCK_TOO_MANY_BAD', `${this.badCount} bad lines on this connection`);
  }

  private onLine(line: string): void {
    this.srv.counters.lines++;
    let msg: DockMsg;
    try {
      msg = parseLine(line);
    } catch (err) {
      const code = isCoded(err) ? err.code : 'DOCK_BAD_LINE';
      const seq = isCoded(err) && typeof err.details?.seq === 'number' ? err.details.seq : 0;
      // §4: a rejected line with a readable seq still consumes it (no false gap later).
      if (seq > 0 && this.station) this.srv.account(this.station, seq);
      this.reject(code, errMessage(err), seq);
      return;
    }
    if (msg.verb === 'HELLO') return this.onHello(msg);
    if (!this.station) {
      this.srv.bad('DOCK_NO_HELLO');
      this.send({ verb: 'NAK', seq: msg.seq, code: 'DOCK_NO_HELLO', text: 'first line must be HELLO' });
      this.bye('DOCK_NO_HELLO', 'first line must be HELLO');
      return;
    }
    const lost = this.srv.account(this.station, msg.seq);
    if (lost < 0) { this.send({ verb: 'ACK', seq: msg.seq, dup: true }); return; }
    if ('dock' in msg && msg.dock > this.docks) { this.reject('DOCK_DOCK_RANGE', `dock ${msg.dock} > docks=${this.docks} announced in HELLO`, msg.seq); return; }
    if (msg.verb === 'STATUS' && msg.docks.length !== this.docks) { this.reject('DOCK_BAD_FIELD', `STATUS has ${msg.docks.length} dock states, HELLO announced ${this.docks}`, msg.seq); return; }
    // stored first (the edge source commits it to the outbox), acknowledged after: an ACKed line survives kill -9
    if (!this.srv.dispatch(this.station, msg, lost)) {
      this.srv.unaccount(this.station, msg.seq, lost);
      this.send({ verb: 'NAK', seq: msg.seq, code: 'DOCK_STORE', text: 'not stored; send it again' });
      return;
    }
    this.send({ verb: 'ACK', seq: msg.seq });
    if (lost > 0) this.send({ verb: 'POLL' });
  }

  private onHello(h: HelloMsg): void {
    if (this.station) { this.reject('DOCK_BAD_LINE', 'HELLO already received on this connection', h.seq); return; }
    if (h.proto !== DOCK_PROTO) {
      this.srv.bad('DOCK_PROTO_VERSION');
      this.bye('DOCK_PROTO_VERSION', `server speaks ${DOCK_PROTO}, controller offered ${h.proto}`);
      return;
    }
    const refusal = this.srv.handler.authorize?.(h);
    if (refusal) {
      this.srv.bad(refusal.code);
      this.bye(refusal.code, refusal.text);
      return;
    }
    this.station = h.station;
    this.docks = h.docks;
    this.socket.setTimeout(this.o.idleTimeoutMs);
    const { last, newBoot } = this.srv.registerHello(this, h);
    this.send({ verb: 'WELCOME', seq: h.seq, last, hb: this.o.heartbeatS });
    if (newBoot) this.send({ verb: 'POLL' });
    this.srv.helloHandler(h, { newBoot, remote: `${this.socket.remoteAddress}:${this.socket.remotePort}` });
  }
}
