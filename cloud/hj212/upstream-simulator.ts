/**
 * An upstream HJ 212 platform (provincial / national 上级平台) for tests and the demo: listens for
 * the cloud's forwarding connection, decodes every frame with the shared codec (SM4 for 2025),
 * acknowledges data uploads that ask for it with CN 9014 (ST=91, the frame's QN, CP=&&&&), can be
 * stopped and started again on the same port (a platform outage), can withhold acks (to show
 * retries), and sends history requests (CN 2051/2061/2031 with BeginTime/EndTime), collecting the
 * 9011 / data frames / 9012 that answer them.
 *
 * As a process (a second server process in tests):
 *   node bin/run-ts.mjs cloud/hj212/upstream-simulator.ts --port 0 --password pw --revision 2025 [--sm4-key hex]
 * It prints one JSON line per event on stdout ({ev:'listening',port}, {ev:'frame',…}, {ev:'answer',…},
 * {ev:'stopped'}) and takes one JSON command per line on stdin: {op:'stop'}, {op:'start'},
 * {op:'dropAcks',n}, {op:'request',cn,mn,begin,end} (begin/end: DataTime YYYYMMDDhhmmss), {op:'exit'}.
 */
import net from 'node:net';
import readline from 'node:readline';
import { decodeFrame, encodeFrame, makeQn, type Hj212Frame } from '../../lib/hj212/codec.ts';
import { buildFlag, CN } from '../../lib/hj212/codes.ts';
import { Deframer } from '../../lib/hj212/deframer.ts';
import { parseSm4Key } from '../../lib/hj212/sm4.ts';

export interface UpstreamSimulatorOptions { host?: string; port?: number; password: string; revision: '2017' | '2025'; sm4Key?: string }
export interface ReceivedFrame { cn: string; qn?: string; mn?: string; pw?: string; resent: boolean; encrypted: boolean; flag?: number; dataTime?: string; cp: Record<string, string>; factors: Record<string, Record<string, string>>; /** the length field: the data segment, plain */ length: number; pnum?: number; pno?: number }
export interface HistoryAnswer { qn: string; qnRtn?: number; exeRtn?: number; frames: ReceivedFrame[] }

const summary = (f: Hj212Frame): ReceivedFrame => ({
  cn: f.cn, ...(f.qn ? { qn: f.qn } : {}), ...(f.mn ? { mn: f.mn } : {}), ...(f.pw !== undefined ? { pw: f.pw } : {}), resent: f.resent, encrypted: f.encrypted,
  ...(f.flag !== undefined ? { flag: f.flag } : {}), ...(f.cp.DataTime ? { dataTime: f.cp.DataTime } : {}), cp: f.cp, factors: f.factors,
  length: f.length, ...(f.pnum !== undefined ? { pnum: f.pnum, pno: f.pno } : {}),
});

export class UpstreamSimulator {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly key?: Buffer;
  private chosenPort = 0;
  private dropAcks = 0;
  private lastQn = '';
  /** Every data frame (CN 2xxx) received, in arrival order; replies and heartbeats are counted apart. */
  readonly frames: ReceivedFrame[] = [];
  readonly stats = { acks: 0, dropped: 0, heartbeats: 0, bad: 0, connections: 0 };
  private readonly answers = new Map<string, HistoryAnswer & { done: (a: HistoryAnswer) => void }>();
  onFrame?: (f: ReceivedFrame) => void;

  constructor(private readonly opts: UpstreamSimulatorOptions) {
    if (opts.sm4Key) this.key = parseSm4Key(opts.sm4Key);
    this.chosenPort = opts.port ?? 0;
  }

  get port(): number { return this.chosenPort; }
  get listening(): boolean { return !!this.server; }

  /** Listen (again, on the same port after a stop). */
  async start(): Promise<number> {
    if (this.server) return this.chosenPort;
    const server = net.createServer((s) => this.onConnection(s));
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.chosenPort, this.opts.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); }); });
    this.server = server;
    this.chosenPort = (server.address() as net.AddressInfo).port;
    return this.chosenPort;
  }

  /** The platform goes down: the listener closes and every connection is cut. */
  async stop(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  /** Withhold the next n data acks (the cloud must retry those frames). */
  withholdAcks(n: number): void { this.dropAcks += n; }

  private onConnection(sock: net.Socket): void {
    this.stats.connections++;
    this.sockets.add(sock);
    const deframer = new Deframer();
    sock.on('data', (chunk: Buffer) => {
      for (const part of deframer.push(chunk)) {
        if (!Buffer.isBuffer(part)) { this.stats.bad++; continue; }
        let f: Hj212Frame;
        try { f = decodeFrame(part, { keyFor: () => this.key }); } catch { this.stats.bad++; continue; }
        this.handle(f, sock);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => this.sockets.delete(sock));
  }

  private handle(f: Hj212Frame, sock: net.Socket): void {
    if (f.cn === CN.HEARTBEAT) { this.stats.heartbeats++; return; }
    const pending = f.qn ? this.answers.get(f.qn) : undefined;
    if (pending) {
      if (f.cn === CN.REQUEST_REPLY) pending.qnRtn = Number(f.cp.QnRtn);
      else if (f.cn === CN.EXEC_RESULT) { pending.exeRtn = Number(f.cp.ExeRtn); this.answers.delete(f.qn!); pending.done(pending); }
      else pending.frames.push(summary(f));
      if (f.cn === CN.REQUEST_REPLY && pending.qnRtn !== 1) { this.answers.delete(f.qn!); pending.done(pending); }
      return;
    }
    if (!/^2\d{3}$/.test(f.cn)) return;
    const s = summary(f);
    this.frames.push(s);
    this.onFrame?.(s);
    if (!f.flagBits?.needsAck) return;
    if (this.dropAcks > 0) { this.dropAcks--; this.stats.dropped++; return; }
    sock.write(encodeFrame({ ...(f.qn ? { qn: f.qn } : {}), st: '91', cn: CN.DATA_ACK, pw: f.pw, mn: f.mn, flag: buildFlag(this.opts.revision), cp: '' }));
    this.stats.acks++;
  }

  private nextQn(): string {
    let qn = makeQn();
    if (qn <= this.lastQn) qn = String(BigInt(this.lastQn) + 1n);
    return (this.lastQn = qn);
  }

  /**
   * Ask the connected cloud for history: CN 2051/2061/2031, BeginTime/EndTime as DataTime
   * (YYYYMMDDhhmmss, inclusive). Resolves with the 9011 QnRtn, the data frames and the 9012 ExeRtn.
   */
  request(o: { cn: string; mn: string; begin: string; end: string; password?: string; timeoutMs?: number }): Promise<HistoryAnswer> {
    const sock = [...this.sockets].at(-1);
    if (!sock) return Promise.reject(new Error('no cloud connected to this platform'));
    const qn = this.nextQn();
    return new Promise<HistoryAnswer>((resolve, reject) => {
      const timer = setTimeout(() => { this.answers.delete(qn); reject(new Error(`no 9012 for request ${qn} within ${o.timeoutMs ?? 10_000} ms`)); }, o.timeoutMs ?? 10_000);
      this.answers.set(qn, { qn, frames: [], done: (a) => { clearTimeout(timer); resolve({ qn: a.qn, qnRtn: a.qnRtn, exeRtn: a.exeRtn, frames: a.frames }); } });
      const cp = `BeginTime=${o.begin};EndTime=${o.end}`;
      sock.write(encodeFrame({ qn, st: '31', cn: o.cn, pw: o.password ?? this.opts.password, mn: o.mn, flag: buildFlag(this.opts.revision, { needsAck: true }), cp }, this.key && this.opts.revision === '2025' ? { sm4Key: this.key } : {}));
    });
  }
}

/** The simulator as its own process, driven by JSON lines on stdin (see the file comment). */
async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
  const sim = new UpstreamSimulator({ port: Number(arg('port') ?? 0), password: arg('password') ?? '123456', revision: (arg('revision') ?? '2017') as '2017' | '2025', ...(arg('sm4-key') ? { sm4Key: arg('sm4-key') } : {}) });
  const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  sim.onFrame = (f) => out({ ev: 'frame', ...f });
  out({ ev: 'listening', port: await sim.start() });
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    let cmd: { op?: string; n?: number; cn?: string; mn?: string; begin?: string; end?: string; password?: string };
    try { cmd = JSON.parse(line); } catch { out({ ev: 'error', message: 'not JSON' }); return; }
    try {
      if (cmd.op === 'stop') { await sim.stop(); out({ ev: 'stopped' }); }
      else if (cmd.op === 'start') out({ ev: 'listening', port: await sim.start() });
      else if (cmd.op === 'dropAcks') { sim.withholdAcks(cmd.n ?? 1); out({ ev: 'ok', op: 'dropAcks' }); }
      else if (cmd.op === 'request') out({ ev: 'answer', ...(await sim.request({ cn: cmd.cn!, mn: cmd.mn!, begin: cmd.begin!, end: cmd.end!, ...(cmd.password ? { password: cmd.password } : {}) })) });
      else if (cmd.op === 'stats') out({ ev: 'stats', ...sim.stats, frames: sim.frames.length });
      else if (cmd.op === 'exit') { await sim.stop(); process.exit(0); }
      else out({ ev: 'error', message: `unknown op ${cmd.op}` });
    } catch (err) { out({ ev: 'error', message: (err as Error).message }); }
  });
  process.on('SIGTERM', () => { void sim.stop().then(() => process.exit(0)); });
}

if (process.argv[1] && /upstream-simulator\.(ts|js)$/.test(process.argv[1])) void main(process.argv.slice(2));
