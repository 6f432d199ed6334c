import net from 'node:net';

/**
 * A TCP proxy the chaos harness owns between one edge and the broker (loopback). It forwards
 * bytes both ways until it is told to **black-hole** the link: from then on nothing moves in
 * either direction and nothing is closed — no FIN, no RST towards either end, also when one
 * end gives up on its side. Bytes already sent wait, unread, the way a partitioned network
 * holds them (TCP retransmits them when the path heals): both peers only notice through their
 * own timers (MQTT keepalive, connect timeout). `restore()` heals the path: held bytes flow,
 * and closes that happened meanwhile reach the other side. A connection that arrives while
 * black-holed is accepted and held (its CONNECT goes nowhere) and is joined to the broker on
 * restore if its client still wants it.
 *
 * When the broker side refuses (cloud or mosquitto down) the client is closed at once, as a
 * refused connect would be.
 */
export class BlackholeProxy {
  private server?: net.Server;
  private readonly pairs = new Set<Pair>();
  private holed = false;
  port = 0;
  readonly stats = { connections: 0, refused: 0, blackholes: 0, brokerCloses: 0, clientCloses: 0, bytesUp: 0, bytesDown: 0 };
  /** Called when the broker side closes a live (not black-holed) connection. */
  onBrokerClose?: (at: number) => void;

  constructor(readonly name: string, private readonly upstreamPort: () => number) {}

  get blackholed(): boolean {
    return this.holed;
  }

  async listen(port = 0): Promise<number> {
    const srv = net.createServer((s) => this.accept(s));
    this.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => { srv.off('error', reject); resolve(); });
    });
    this.port = (srv.address() as net.AddressInfo).port;
    return this.port;
  }

  blackhole(): void {
    if (this.holed) return;
    this.holed = true;
    this.stats.blackholes++;
    for (const p of this.pairs) p.hold();
  }

  restore(): void {
    if (!this.holed) return;
    this.holed = false;
    for (const p of [...this.pairs]) p.release();
  }

  openConnections(): number {
    return this.pairs.size;
  }

  private accept(down: net.Socket): void {
    this.stats.connections++;
    const p = new Pair(this, down);
    this.pairs.add(p);
    if (this.holed) p.hold();
    else p.join();
  }

  /** @internal */ connectUp(): net.Socket {
    return net.connect(this.upstreamPort(), '127.0.0.1');
  }

  /** @internal */ ended(p: Pair): void {
    this.pairs.delete(p);
  }

  async close(): Promise<void> {
    for (const p of [...this.pairs]) p.destroy();
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }
}

type Deferred = () => void;

/** One client connection and its broker connection. */
class Pair {
  private up?: net.Socket;
  private upReady = false;
  private held = false;
  private done = false;
  /** Actions (closes, errors) that happened while held: run on release, in order. */
  private deferred: Deferred[] = [];
  /** Client bytes read before the broker connection was up. */
  private pending: Buffer[] = [];

  constructor(private readonly proxy: BlackholeProxy, private readonly down: net.Socket) {
    down.setNoDelay(true);
    down.on('error', () => this.onDownGone());
    down.on('close', () => this.onDownGone());
    down.on('end', () => this.whenFlowing(() => { this.up?.end(); }));
    down.on('data', (b: Buffer) => {
      this.proxy.stats.bytesUp += b.length;
      if (this.up && this.upReady) this.up.write(b);
      else this.pending.push(b);
    });
    down.pause();
  }

  /** Connect to the broker and start forwarding. */
  join(): void {
    if (this.done || this.up) return;
    const up = this.proxy.connectUp();
    this.up = up;
    up.setNoDelay(true);
    up.on('connect', () => {
      this.upReady = true;
      if (!this.held) this.flow();
    });
    up.on('data', (b: Buffer) => {
      this.proxy.stats.bytesDown += b.length;
      this.down.write(b);
    });
    up.on('end', () => this.whenFlowing(() => this.down.end()));
    up.on('error', () => this.onUpGone());
    up.on('close', () => this.onUpGone());
    if (this.held) up.pause();
  }

  hold(): void {
    this.held = true;
    this.down.pause();
    this.up?.pause();
  }

  release(): void {
    this.held = false;
    if (this.done) return;
    if (!this.up) { this.join(); return; }
    if (this.upReady) this.flow();
    for (const f of this.deferred.splice(0)) f();
  }

  private flow(): void {
    for (const b of this.pending.splice(0)) this.up!.write(b);
    this.up!.resume();
    this.down.resume();
  }

  private whenFlowing(f: Deferred): void {
    if (this.held) this.deferred.push(f);
    else f();
  }

  private onDownGone(): void {
    if (this.done) return;
    // The client gave up on its side. While held the broker must not hear of it (no FIN through a partition).
    this.whenFlowing(() => {
      if (this.done) return;
      this.proxy.stats.clientCloses++;
      this.finish();
    });
  }

  private onUpGone(): void {
    if (this.done) return;
    const refused = !this.upReady;
    this.whenFlowing(() => {
      if (this.done) return;
      if (refused) this.proxy.stats.refused++;
      else {
        this.proxy.stats.brokerCloses++;
        this.proxy.onBrokerClose?.(Date.now());
      }
      this.finish();
    });
  }

  private finish(): void {
    this.done = true;
    this.proxy.ended(this);
    this.down.destroy();
    this.up?.destroy();
  }

  destroy(): void {
    this.held = false;
    this.deferred = [];
    this.finish();
  }
}
