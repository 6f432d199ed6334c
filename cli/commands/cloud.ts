import path from 'node:path';
import type { Command } from 'commander';
import { resolveCloudConfig, untilSignal, type CloudCliOptions } from './common.ts';

export function register(program: Command): void {
  program.command('cloud')
    .description('run the cloud: MQTT broker (embedded aedes, or attach to an external one), ingest, series store, HTTP API')
    .option('-c, --config <file>', 'cloud config (YAML/JSON)')
    .option('--data-dir <dir>', 'state directory (default ./.cityedge/cloud, or $CITYEDGE_CLOUD_DATA)')
    .option('--http-port <port>', 'HTTP API port (default 8080)')
    .option('--mqtt-port <port>', 'embedded broker port (default 1883)')
    .option('--influx-url <url>', 'InfluxDB 1.x URL (default $INFLUX_URL; none = embedded SQLite store)')
    .action(async (opts: CloudCliOptions) => {
      const { Cloud } = await import('../../cloud/cloud.ts');
      const { allCloudFeatures } = await import('../../cloud/features.ts');
      const config = await resolveCloudConfig(opts);
      const cloud = new Cloud(config, await allCloudFeatures(config, opts.config ? path.dirname(path.resolve(opts.config)) : process.cwd()));
      await cloud.start();
      if (cloud.ctx.tokens.count() === 0) {
        const { token } = cloud.ctx.tokens.create('bootstrap-admin', 'admin');
        console.log(`first start: admin API token (shown once): ${token}`);
      }
      console.log(`cloud ready: http ${cloud.httpUrl}  mqtt ${cloud.mqttPort ? `mqtt://127.0.0.1:${cloud.mqttPort}` : cloud.config.broker.url}  store ${cloud.ctx.store.kind}`);
      await untilSignal(() => cloud.stop());
    });
}
