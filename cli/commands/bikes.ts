import type { Command } from 'commander';

/**
 * `cityedge bikes replay` — plays the Oslo day (260 stations, 24 hourly snapshots) as DOCK/1
 * dock controllers against a running edge's `bike-docks` source (demo).
 * `cityedge bikes parse` — decode DOCK/1 lines from stdin, one JSON object per line (exit 1 if any is bad).
 */
export function register(program: Command): void {
  const bikes = program.command('bikes').description('public bikes: DOCK/1 dock controllers, replay of a real day');

  bikes.command('replay')
    .description('replay the Oslo 2022-10-24 day as dock controllers connecting to an edge bike-docks source')
    .option('--host <host>', 'edge host', '127.0.0.1')
    .requiredOption('--port <port>', 'DOCK/1 port of the bike-docks source')
    .option('--token <token>', 'controller token')
    .option('--hours <n>', 'hours to replay', '24')
    .option('--hour-ms <ms>', 'wall time per replayed hour', '2000')
    .option('--churn <n>', 'net-zero rental/return pairs per station per hour', '1')
    .option('--loss <rate>', 'fraction of event lines dropped (repaired by the hourly STATUS)', '0')
    .option('--dup <rate>', 'fraction of event lines duplicated', '0')
    .action(async (o: { host: string; port: string; token?: string; hours: string; hourMs: string; churn: string; loss: string; dup: string }) => {
      const { replayDay } = await import('../../edge/bikes/replay.ts');
      const res = await replayDay({
        host: o.host, port: Number(o.port), token: o.token, hours: Number(o.hours), hourDelayMs: Number(o.hourMs),
        churn: Number(o.churn), lossRate: Number(o.loss), dupRate: Number(o.dup),
        onHour: (hour, snap) => { console.log(JSON.stringify({ hour, snapshot: new Date(snap.last_updated * 1000).toISOString(), stations: snap.data.stations.length })); },
      });
      console.log(JSON.stringify({ done: true, ...res }));
    });

  bikes.command('parse')
    .description('decode DOCK/1 controller lines from stdin')
    .action(async () => {
      const { parseLine } = await import('../../firmware-bridge/dock/protocol.ts');
      const { isCoded } = await import('../../lib/errors.ts');
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      let bad = 0;
      for (const line of Buffer.concat(chunks).toString('latin1').split('\n')) {
        if (!line.trim()) continue;
        try {
          console.log(JSON.stringify({ ok: true, msg: parseLine(line) }));
        } catch (err) {
          if (!isCoded(err)) throw err;
          bad++;
          console.log(JSON.stringify({ ok: false, error: err.toJSON(), raw: line.slice(0, 120) }));
        }
      }
      process.exitCode = bad ? 1 : 0;
    });
}
