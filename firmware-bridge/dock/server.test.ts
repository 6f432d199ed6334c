import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/peers/ports.ts';
import { DockServer, type DataMsg } from './server.ts';
import { DockController } from './simulator.ts';

const servers: DockServer[] = [];
const sims: DockController[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) s.close();
  for (const s of servers.splice(0)) await s.close();
});

async function start(opts: ConstructorParameters<typeof DockServer>[1] = {}) {
  const got: { station: string; msg: DataMsg; lost: number }[] = [];
  const closed: string[] = [];
  const srv = new DockServer({
    authorize: (h) => (h.token === 'tok' ? undefined : { code: 'DOCK_AUTH', text: 'bad token' }),
    message: (station, msg, info) => got.push({ station, msg, lost: info.lost }),
    closed: (station, code) => closed.push(`${station}:${code}`),
  }, opts);
  servers.push(srv);
  const port = await srv.listen();
  return { srv, port, got, closed };
}

/** A raw socket that collects server lines. */
async function rawClient(port: number) {
  const s = net.connect(port, '127.0.0.1');
  const lines: string[] = [];
  let buf = '';
  let ended = false;
  s.on('data', (c) => { buf += c.toString(); let i; while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); } });
  s.on('close', () => { ended = true; });
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  return { s, lines, isEnded: () => ended };
}

describe('DockServer', () => {
  it('accepts a controller, ACKs, detects duplicates and gaps, POLLs after a gap', async () => {
    const { srv, port, got } = await start();
    const c = new DockController({ station: 'S1', docks: 'EEEB', port, token: 'tok', boot: 'b1' });
    sims.push(c);
    const welcome = await c.connect();
    expect(welcome).toMatchObject({ verb: 'WELCOME', last: 0 });
    await waitFor(() => got.some((g) => g.msg.verb === 'STATUS'), { what: 'STATUS after POLL' }); // new boot → POLL → STATUS
    c.dock(1, 'AB01');
    c.dupNext(); c.release(4, 'CARD1234');
    c.dropNext(); c.dock(2, 'AB02');
    c.dock(3, 'AB03');
    await c.drain();
    await waitFor(() => got.filter((g) => g.msg.verb === 'STATUS').length === 2, { what: 'STATUS after gap POLL' });
    const verbs = got.map((g) => g.msg.verb);
    expect(verbs).toEqual(['STATUS', 'DOCKED', 'RELEASED', 'DOCKED', 'STATUS']);
    expect(got[3]).toMatchObject({ lost: 1, msg: { dock: 3 } });
    expect(srv.stats()).toMatchObject({ duplicates: 1, gaps: 1, lost: 1 });
    expect(c.counts.dupAcks).toBe(1);
  });

  it('codes, counts and NAKs bad lines, then disconnects after maxBadLines', async () => {
    const { srv, port } = await start({ maxBadLines: 4, maxLineBytes: 64 });
    const c = await rawClient(port);
    c.s.write('HELLO 1 proto=DOCK/1 station=S2 docks=4 token=tok\n');
    c.s.write('DOCKED 1 dock=9 bike=ABCD\n'); // out of range
    c.s.write('PARK 2 dock=1\n');
    c.s.write('X'.repeat(100) + '\nHB 3\n'); // too long, then a good line
    c.s.write('DOCKED 4 dock=1\n'); // missing bike → 4th bad line → BYE
    await waitFor(() => c.isEnded(), { what: 'disconnect' });
    const naks = c.lines.filter((l) => l.startsWith('NAK')).map((l) => l.split(' ')[2]);
    expect(naks).toEqual(['DOCK_DOCK_RANGE', 'DOCK_UNKNOWN_VERB', 'DOCK_TOO_LONG', 'DOCK_BAD_FIELD']);
    expect(c.lines).toContain('ACK 3');
    expect(c.lines.at(-1)).toMatch(/^BYE 0 DOCK_TOO_MANY_BAD/);
    const st = srv.stats();
    expect(st.badLines).toBe(4);
    expect(st.badByCode).toEqual({ DOCK_DOCK_RANGE: 1, DOCK_UNKNOWN_VERB: 1, DOCK_TOO_LONG: 1, DOCK_BAD_FIELD: 1 });
    expect(st.disconnects.DOCK_TOO_MANY_BAD).toBe(1);
    expect(st.gaps).toBe(0); // rejected lines with a readable seq still consumed it
  });

  it('splits an over-long line across chunks without losing the next line', async () => {
    const { srv, port } = await start({ maxLineBytes: 60 });
    const c = await rawClient(port);
    c.s.write('HELLO 1 proto=DOCK/1 station=S3 docks=2 token=tok\n');
    c.s.write('HB 1 ' + 'x'.repeat(70));
    await new Promise((r) => setTimeout(r, 30));
    c.s.write('y'.repeat(40) + '\nHB 2\n');
    await waitFor(() => c.lines.includes('ACK 2'), { what: 'ACK 2' });
    expect(srv.stats().badByCode).toEqual({ DOCK_TOO_LONG: 1 });
  });

  it('refuses a wrong token, a missing HELLO, and connections over the limit', async () => {
    const { srv, port } = await start({ maxConnections: 2 });
    const a = await rawClient(port);
    a.s.write('HELLO 1 proto=DOCK/1 station=S4 docks=2 token=nope\n');
    await waitFor(() => a.isEnded());
    expect(a.lines.at(-1)).toMatch(/^BYE 0 DOCK_AUTH/);
    const b = await rawClient(port);
    b.s.write('HB 1\n');
    await waitFor(() => b.isEnded());
    expect(b.lines[0]).toMatch(/^NAK 1 DOCK_NO_HELLO/);
    const c1 = await rawClient(port);
    const c2 = await rawClient(port);
    const c3 = await rawClient(port);
    await waitFor(() => c3.isEnded());
    expect(c3.lines[0]).toMatch(/^BYE 0 DOCK_BUSY/);
    expect(srv.stats().rejectedBusy).toBe(1);
    c1.s.destroy(); c2.s.destroy();
  });

  it('closes idle connections and reports the station closed', async () => {
    const { port, closed } = await start({ idleTimeoutMs: 150 });
    const c = await rawClient(port);
    c.s.write('HELLO 1 proto=DOCK/1 station=S5 docks=2 token=tok\n');
    await waitFor(() => c.isEnded(), { timeoutMs: 3000 });
    expect(c.lines.at(-1)).toMatch(/^BYE 0 DOCK_IDLE/);
    expect(closed).toEqual(['S5:DOCK_IDLE']);
  });

  it('de-duplicates across a reconnect with the same boot id', async () => {
    const { port, got } = await start();
    const c = new DockController({ station: 'S6', docks: 2, port, token: 'tok', boot: 'x', answerPoll: false });
    sims.push(c);
    await c.connect();
    c.dock(1, 'AAAA');
    await c.drain();
    c.close();
    await new Promise((r) => setTimeout(r, 20));
    const w = await c.connect();
    expect(w).toMatchObject({ verb: 'WELCOME', last: 1 });
    c.raw('DOCKED 1 dock=1 bike=AAAA\n'); // controller re-sends an already delivered line
    c.dock(2, 'BBBB');
    await c.drain();
    expect(got.map((g) => g.msg.seq)).toEqual([1, 2]);
  });
});

describe('DockServer under garbage', () => {
  it('fuzz: random byte streams in random chunks never crash the server; it keeps serving a good controller', async () => {
    const fc = (await import('fast-check')).default;
    const { srv, port, got } = await start({ maxBadLines: 1000, maxLineBytes: 128 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 6 }), fc.boolean(), async (chunks, hello) => {
        const c = await rawClient(port);
        if (hello) c.s.write('HELLO 1 proto=DOCK/1 station=FZ docks=4 token=tok\n');
        for (const ch of chunks) c.s.write(Buffer.from(ch));
        c.s.end('\n');
        await waitFor(() => c.isEnded() || c.lines.length > 0, { timeoutMs: 3000 });
        c.s.destroy();
      }),
      { numRuns: 40 },
    );
    const good = new DockController({ station: 'OK1', docks: 'BE', port, token: 'tok', boot: 'z' });
    sims.push(good);
    await good.connect();
    good.release(1, 'CARD9999');
    await good.drain();
    expect(got.some((g) => g.station === 'OK1' && g.msg.verb === 'RELEASED')).toBe(true);
    const st = srv.stats();
    expect(st.badLines).toBeGreaterThan(0);
    expect(Object.keys(st.badByCode).every((k) => k.startsWith('DOCK_'))).toBe(true);
  });
});
