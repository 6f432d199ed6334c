import type { Command } from 'commander';

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/**
 * `cityedge hj212 decode` — frames from stdin (any segmentation, garbage skipped), one
 * JSON object per frame on stdout: {"ok":true,"frame":{…},"readings":[…]} or
 * {"ok":false,"error":{"code":"HJ212_BAD_CRC","message":…}}; exit 1 if any was bad.
 * `cityedge hj212 replay` — plays a data logger replaying the Beijing hourly CSV as CN 2061 frames.
 */
export function register(program: Command): void {
  const hj = program.command('hj212').description('HJ 212 (2017/2025) environmental data transmission: decode frames, replay a logger');

  hj.command('decode')
    .description('decode HJ 212 frames from stdin; prints one JSON object per frame (exit 1 if any frame is bad)')
    .option('-k, --key <MN=hex>', 'SM4 key of a station for HJ 212-2025 encrypted CPs (repeatable)', collect, [])
    .option('--no-readings', 'do not add the normalised readings')
    .option('--max-frame-bytes <n>', 'frame size bound', '8192')
    .action(async (opts: { key: string[]; readings: boolean; maxFrameBytes: string }) => {
      const { Deframer } = await import('../../firmware-bridge/hj212/deframer.ts');
      const { decodeFrame } = await import('../../firmware-bridge/hj212/codec.ts');
      const { frameValues } = await import('../../firmware-bridge/hj212/values.ts');
      const { parseSm4Key } = await import('../../firmware-bridge/hj212/sm4.ts');
      const { CodedError, isCoded } = await import('../../lib/errors.ts');
      const keys = new Map<string, Buffer>();
      for (const k of opts.key) {
        const eq = k.indexOf('=');
        if (eq <= 0) throw new CodedError('CLI_BAD_OPTION', `--key expects MN=hexkey, got ${JSON.stringify(k)}`);
        keys.set(k.slice(0, eq), parseSm4Key(k.slice(eq + 1)));
      }
      const max = Number(opts.maxFrameBytes);
      const deframer = new Deframer({ maxFrameBytes: max });
      let bad = 0;
      const emit = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
      const data = await readStdin();
      for (const part of [...deframer.push(data), ...(deframer.pending ? [new CodedError('HJ212_BAD_FRAME', `input ends inside a frame (${deframer.pending} bytes without CR LF)`)] : [])]) {
        if (part instanceof CodedError) { bad++; emit({ ok: false, error: part.toJSON() }); continue; }
        try {
          const frame = decodeFrame(part, { maxFrameBytes: max, keyFor: (mn) => keys.get(mn) });
          emit({ ok: true, frame, ...(opts.readings ? { readings: frameValues(frame) } : {}) });
        } catch (err) {
          if (!isCoded(err)) throw err;
          bad++;
          emit({ ok: false, error: err.toJSON(), raw: part.toString('latin1').slice(0, 120) });
        }
      }
      if (deframer.stats.frames === 0 && bad === 0) { bad++; emit({ ok: false, error: { code: 'HJ212_BAD_FRAME', message: 'no HJ 212 frame ("##...CRLF") found on stdin' } }); }
      process.exitCode = bad ? 1 : 0;
    });

  hj.command('replay')
    .description('play a data logger: replay Beijing hourly air-quality rows as CN 2061 frames to an HJ 212 server')
    .requiredOption('--port <port>', 'server port')
    .option('--host <host>', 'server host', '127.0.0.1')
    .option('--mn <mn>', 'station MN', 'AOTIZHONGXIN0000000000001')
    .option('--password <pw>', 'station password', '123456')
    .option('--revision <rev>', '2017 or 2025', '2017')
    .option('--sm4-key <hex>', 'SM4 key (2025)')
    .option('--skip <n>', 'rows to skip', '0')
    .option('--limit <n>', 'rows to send', '24')
    .option('--interval-ms <ms>', 'pause between frames', '0')
    .action(async (o: { port: string; host: string; mn: string; password: string; revision: string; sm4Key?: string; skip: string; limit: string; intervalMs: string }) => {
      const { Hj212Client } = await import('../../firmware-bridge/hj212/simulator.ts');
      const { beijingHours } = await import('../../firmware-bridge/hj212/replay.ts');
      const { CodedError } = await import('../../lib/errors.ts');
      if (o.revision !== '2017' && o.revision !== '2025') throw new CodedError('CLI_BAD_OPTION', '--revision must be 2017 or 2025');
      const c = new Hj212Client({ host: o.host, port: Number(o.port), mn: o.mn, password: o.password, revision: o.revision, ...(o.sm4Key ? { sm4Key: o.sm4Key } : {}) });
      await c.connect();
      let acked = 0;
      let sent = 0;
      for await (const h of beijingHours({ skip: Number(o.skip), limit: Number(o.limit) })) {
        const r = await c.sendData('2061', h.time, h.factors);
        sent++;
        if (r.acked) acked++;
        if (Number(o.intervalMs) > 0) await new Promise((res) => setTimeout(res, Number(o.intervalMs)));
      }
      c.close();
      console.log(JSON.stringify({ ...c.stats, frames: sent, framesAcked: acked, backlog: c.backlog.length }));
      process.exitCode = acked === sent ? 0 : 1;
    });
}
