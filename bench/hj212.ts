/**
 * HJ 212 bench: frames decoded per second vs the physical limits of the same bytes
 * (a plain Buffer.indexOf CR-LF scan = framing only; the table CRC over every data
 * segment = integrity check only), SM4 2025 frames, and connections held at once
 * (N loggers on loopback, each sending one acked hourly frame and staying connected).
 * Ends with one JSON line.
 */
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { decodeFrame, encodeFrame } from '../firmware-bridge/hj212/codec.ts';
import { crc16 } from '../firmware-bridge/hj212/crc.ts';
import { Deframer } from '../firmware-bridge/hj212/deframer.ts';
import { frameValues } from '../firmware-bridge/hj212/values.ts';
import { Hj212Server } from '../firmware-bridge/hj212/server.ts';
import { sharedFrames } from '../test/support/hj212.ts';

function timeIt(fn: () => number, minMs = 800): { perSec: number; n: number } {
  fn(); // warm-up
  let n = 0;
  const t0 = performance.now();
  let el = 0;
  while ((el = performance.now() - t0) < minMs) n += fn();
  return { perSec: (n / el) * 1000, n };
}

async function connections(count: number): Promise<Record<string, number>> {
  const server = new Hj212Server({ host: '127.0.0.1', port: 0, stations: [{ mn: 'BENCH', password: '123456' }], maxConnections: count + 10, onFrame: () => {} });
  const port = await server.listen();
  const frame = encodeFrame({ qn: '20260301000000000', st: '22', cn: '2061', pw: '123456', mn: 'BENCH', flag: 5, cp: 'DataTime=20260301000000;a34004-Avg=35,a34004-Flag=N' });
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const socks: net.Socket[] = [];
  let acks = 0;
  const batch = 200;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - i) }, () => new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('error', reject);
      s.once('connect', () => { socks.push(s); s.write(frame); });
      s.once('data', (d) => { if (d.includes('CN=9014')) acks++; resolve(); });
    })));
  }
  const ms = performance.now() - t0;
  const held = server.stats().connections.current;
  const rssPerConnKiB = (process.memoryUsage().rss - rss0) / count / 1024;
  for (const s of socks) s.destroy();
  await server.close();
  return { loggers: count, held, acks, msToConnectAndAckAll: Math.round(ms), rssPerConnKiB: Math.round(rssPerConnKiB * 10) / 10 };
}

export async function run(): Promise<Record<string, unknown>> {
  const base = sharedFrames('frames_valid.txt').map((f) => Buffer.from(f));
  const reps = 2000;
  const stream = Buffer.concat(Array.from({ length: reps }, () => base).flat());
  const frames = reps * base.length;
  const mb = stream.length / 1e6;

  const scan = timeIt(() => { let n = 0, p = 0; for (;;) { const i = stream.indexOf('\r\n', p, 'latin1'); if (i < 0) break; n++; p = i + 2; } return n; });
  const crc = timeIt(() => { let x = 0; for (const f of base) x ^= crc16(f, 6, f.length - 6); return base.length; }, 800);
  const deframeOnly = timeIt(() => new Deframer().push(stream).length);
  const decode = timeIt(() => { let n = 0; for (const p of new Deframer().push(stream)) { decodeFrame(p as Buffer); n++; } return n; });
  const withReadings = timeIt(() => { let n = 0; for (const p of new Deframer().push(stream)) { frameValues(decodeFrame(p as Buffer)); n++; } return n; });
  const key = Buffer.alloc(16, 0x30);
  const f0 = decodeFrame(base[base.length - 3]);
  const enc = Buffer.from(encodeFrame({ qn: f0.qn, st: f0.st, cn: f0.cn, pw: f0.pw, mn: f0.mn, flag: 9, cp: f0.cpText }, { sm4Key: key }));
  const sm4 = timeIt(() => { for (let i = 0; i < 200; i++) decodeFrame(enc, { keyFor: () => key }); return 200; });
  const conns = await connections(Number(process.env.HJ212_BENCH_CONNS ?? 2000));

  const rows: Array<[string, number, string]> = [
    ['CR-LF indexOf scan (framing limit)', scan.perSec, 'frames/s'],
    ['table CRC over data segments', crc.perSec, 'frames/s'],
    ['deframe only', deframeOnly.perSec, 'frames/s'],
    ['deframe + decode (2017 frames)', decode.perSec, 'frames/s'],
    ['deframe + decode + readings', withReadings.perSec, 'frames/s'],
    ['decode SM4-encrypted 2025 frame', sm4.perSec, 'frames/s'],
  ];
  console.log(`HJ 212 bench: ${frames} frames, ${mb.toFixed(2)} MB per pass (frames_valid.txt x ${reps})`);
  for (const [name, v, unit] of rows) console.log(`  ${name.padEnd(40)} ${Math.round(v).toLocaleString('en-US').padStart(14)} ${unit}`);
  console.log(`  connections: ${conns.held}/${conns.loggers} loggers held, ${conns.acks} acks, ${conns.msToConnectAndAckAll} ms to connect+ack all, ~${conns.rssPerConnKiB} KiB RSS per connection`);
  const out = {
    bench: 'hj212',
    framesPerPass: frames,
    avgFrameBytes: Math.round(stream.length / frames),
    scanFramesPerSec: Math.round(scan.perSec),
    crcFramesPerSec: Math.round(crc.perSec),
    deframeFramesPerSec: Math.round(deframeOnly.perSec),
    decodeFramesPerSec: Math.round(decode.perSec),
    decodeReadingsFramesPerSec: Math.round(withReadings.perSec),
    sm4DecodeFramesPerSec: Math.round(sm4.perSec),
    decodeMBps: Math.round(((decode.perSec * stream.length) / frames / 1e6) * 10) / 10,
    ratioDecodeVsScan: Math.round((decode.perSec / scan.perSec) * 1000) / 1000,
    ratioDecodeVsCrc: Math.round((decode.perSec / crc.perSec) * 1000) / 1000,
    ...Object.fromEntries(Object.entries(conns).map(([k, v]) => [`conn_${k}`, v])),
  };
  console.log(JSON.stringify(out));
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
