/**
 * A DOCK/1 dock controller simulator (tests, replay, bench, demo). It keeps the
 * station's true dock states, speaks the protocol over real TCP, answers POLL with
 * STATUS, and can inject faults: dropped lines (seq consumed, never sent), duplicated
 * lines (same seq twice), raw malformed lines.
 */
import net from 'node:net';
import { CodedError } from '../../lib/errors.ts';
import { DOCK_PROTO, formatLine, parseServerLine, type DockMsg, type DockStateChar, type ServerLine } from './protocol.ts';

export interface ControllerOptions {
  station: string;
  /** Number of docks (all empty) or the initial state string (README §5.7 letters). */
  docks: number | string;
  host?: string;
  port: number;
  token?: string;
  boot?: string;
  /** Send HB every n ms while connected (0 = never). */
  heartbeatMs?: number;
  /** Answer POLL with STATUS (default true). */
  answerPoll?: boolean;
  /** Probability of silently dropping / duplicating each event line. */
  lossRate?: number;
  dupRate?: number;
  seed?: number;
  clock?: () => number;
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Body = DockMsg extends infer M ? (M extends DockMsg ? Omit<M, 'seq'> : never) : never;

export class DockController {
  readonly station: string;
  readonly state: DockStateChar[];
  readonly bikes: (string | null)[];
  readonly received: ServerLine[] = [];
  readonly counts = { sent: 0, dropped: 0, duplicated: 0, acks: 0, dupAcks: 0, naks: 0, polls: 0 };
  private seq = 0;
  private socket?: net.Socket;
  private buf = '';
  private outstanding = new Set<number>();
  private waiters: (() => void)[] = [];
  private hbTimer?: NodeJS.Timeout;
  private dropNextN = 0;
  private dupNextN = 0;
  private readonly rand: () => number;
  private readonly clock: () => number;
  private nextBike = 1;

  constructor(private readonly o: ControllerOptions) {
    this.station = o.station;
    this.state = (typeof o.docks === 'number' ? 'E'.repeat(o.docks) : o.docks).split('') as DockStateChar[];
    this.bikes = this.state.map((c) => (c === 'B' || c === 'd' || c === 'f' ? this.newBikeId() : null));
    this.rand = rng(o.seed ?? 1);
    this.clock = o.clock ?? Date.now;
  }

  newBikeId(): string {
    return (Number.parseInt(this.station.replace(/\D/g, '').slice(-6) || '0', 10) * 10_000 + this.nextBike++).toString(16).toUpperCase().padStart(8, '0');
  }

  get connected(): boolean {
    return !!this.socket && !this.socket.destroyed;
  }

  async connect(): Promise<ServerLine> {
    this.received.length = 0;
    this.buf = "";
    const socket = net.connect(this.o.port, this.o.host ?? '127.0.0.1');
    socket.setNoDelay(true);
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('error', () => undefined);
    socket.on('close', () => { if (this.hbTimer) clearInterval(this.hbTimer); this.wake(true); });
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const hello: Omit<Extract<DockMsg, { verb: 'HELLO' }>, 'seq'> = { verb: 'HELLO', proto: DOCK_PROTO, station: this.station, docks: this.state.length };
    if (this.o.token) hello.token = this.o.token;
    if (this.o.boot) hello.boot = this.o.boot;
    const reply = new Promise<ServerLine>((resolve, reject) => {
      const t = setTimeout(() => reject(new CodedError('DOCK_SIM_TIMEOUT', `${this.station}: no WELCOME within 5 s`)), 5000);
      const check = (): void => {
        const l = this.received.find((r) => r.verb === 'WELCOME' || r.verb === 'BYE');
        if (l) { clearTimeout(t); resolve(l); } else if (!this.connected) { clearTimeout(t); reject(new CodedError('DOCK_SIM_CLOSED', `${this.station}: connection closed before WELCOME`)); } else this.waiters.push(check);
      };
      check();
    });
    this.write(formatLine({ ...hello, seq: this.seq + 1 }));
    const r = await reply;
    if (r.verb === 'WELCOME' && this.o.heartbeatMs) this.hbTimer = setInterval(() => this.heartbeat(), this.o.heartbeatMs);
    return r;
  }

  close(): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.socket?.destroy();
  }

  /** Inject: the next n event lines are dropped (seq consumed) / sent twice. */
  dropNext(n = 1): void { this.dropNextN += n; }
  dupNext(n = 1): void { this.dupNextN += n; }

  /** Batch the following lines into one write (bench / replay bursts). */
  cork(): void { this.socket?.cork(); }
  uncork(): void { this.socket?.uncork(); }

  /** Send arbitrary text (malformed-line tests). Not tracked by drain(). */
  raw(text: string): void { this.write(text, false); }

  private send(body: Body, inject = true): number {
    const seq = ++this.seq;
    const line = formatLine({ ...body, seq } as DockMsg);
    if (inject && (this.dropNextN > 0 || (this.o.lossRate ?? 0) > this.rand())) {
      if (this.dropNextN > 0) this.dropNextN--;
      this.counts.dropped++;
      return seq;
    }
    this.outstanding.add(seq);
    this.write(line);
    if (inject && (this.dupNextN > 0 || (this.o.dupRate ?? 0) > this.rand())) {
      if (this.dupNextN > 0) this.dupNextN--;
      this.counts.duplicated++;
      this.write(line);
    }
    return seq;
  }

  private write(line: string, newline = true): void {
    if (!this.connected) throw new CodedError('DOCK_SIM_CLOSED', `${this.station}: not connected`);
    this.counts.sent++;
    this.socket!.write(newline ? line + '\n' : line);
  }

  private t(t?: number): number { return t ?? this.clock(); }

  dock(dock: number, bike = this.newBikeId(), t?: number): number {
    this.state[dock - 1] = 'B';
    this.bikes[dock - 1] = bike;
    return this.send({ verb: 'DOCKED', t: this.t(t), dock, bike });
  }

  release(dock: number, card: string, t?: number): string {
    const bike = this.bikes[dock - 1] ?? undefined;
    this.state[dock - 1] = 'E';
    this.bikes[dock - 1] = null;
    this.send(bike ? { verb: 'RELEASED', t: this.t(t), dock, card, bike } : { verb: 'RELEASED', t: this.t(t), dock, card });
    return bike ?? '';
  }

  fault(dock: number, code = 'LOCK_JAM', t?: number): void {
    this.state[dock - 1] = this.bikes[dock - 1] ? 'f' : 'F';
    this.send({ verb: 'FAULT', t: this.t(t), dock, code });
  }

  disable(dock: number, t?: number): void {
    this.state[dock - 1] = this.bikes[dock - 1] ? 'd' : 'D';
    this.send({ verb: 'DISABLED', t: this.t(t), dock });
  }

  enable(dock: number, t?: number): void {
    this.state[dock - 1] = this.bikes[dock - 1] ? 'B' : 'E';
    this.send({ verb: 'ENABLED', t: this.t(t), dock });
  }

  heartbeat(t?: number): void {
    if (this.connected) this.send({ verb: 'HB', t: this.t(t) }, false);
  }

  /** Periodic full status (never dropped by injection: it is the repair path under test). */
  status(t?: number): void {
    this.send({ verb: 'STATUS', t: this.t(t), docks: this.state.join(''), installed: true, renting: true, returning: true }, false);
  }

  /** Resolves when every line sent so far has been ACK'd or NAK'd (or the socket closed). */
  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.outstanding.size > 0 && this.connected) {
      if (Date.now() > deadline) throw new CodedError('DOCK_SIM_TIMEOUT', `${this.station}: ${this.outstanding.size} lines not acknowledged`);
      await new Promise<void>((r) => { const t = setTimeout(r, 200); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  private wake(all = false): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    void all;
  }

  private onData(chunk: Buffer): void {
    this.buf += chunk.toString('latin1');
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const l = parseServerLine(this.buf.slice(0, nl));
      this.buf = this.buf.slice(nl + 1);
      if (!l) continue;
      this.received.push(l);
      if (this.received.length > 1000) this.received.splice(0, 500);
      if (l.verb === 'ACK') { if (l.dup) this.counts.dupAcks++; else this.counts.acks++; this.outstanding.delete(l.seq); }
      if (l.verb === 'NAK') { this.counts.naks++; this.outstanding.delete(l.seq); }
      if (l.verb === 'POLL') { this.counts.polls++; if (this.o.answerPoll !== false) this.status(); }
    }
    this.wake();
  }
}
