import type { Command } from 'commander';
import { untilSignal } from './common.ts';

export function register(program: Command): void {
  program.command('demo')
    .description('run a whole city on this machine: cloud (embedded broker, ingest, embedded store unless $INFLUX_URL) and simulated street sites replaying real data')
    .option('--data-dir <dir>', 'demo state (wiped at start)', './.cityedge/demo')
    .option('--http-port <port>', 'HTTP API port (falls back to a free port if taken)', '8080')
    .option('--mqtt-port <port>', 'MQTT port (falls back to a free port if taken)', '1883')
    .option('--speed <rows/s>', 'air-quality rows (hours of data) replayed per second per site', '4')
    .option('--duration <seconds>', 'stop by itself after this many seconds (default: run until Ctrl-C)')
    .action(async (opts: { dataDir: string; httpPort: string; mqttPort: string; speed: string; duration?: string }) => {
      process.env.LOG_LEVEL ??= 'warn';
      const { runDemo } = await import('../../demo/demo.ts');
      const demo = await runDemo({ dataDir: opts.dataDir, httpPort: Number(opts.httpPort), mqttPort: Number(opts.mqttPort), rowsPerSecond: Number(opts.speed), influxUrl: process.env.INFLUX_URL });
      if (opts.duration) {
        setTimeout(() => process.kill(process.pid, 'SIGTERM'), Number(opts.duration) * 1000).unref();
      }
      await untilSignal(() => demo.stop());
      console.log('demo stopped cleanly');
    });
}
