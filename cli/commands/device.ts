import path from 'node:path';
import type { Command } from 'commander';
import { resolveCloudConfig } from './common.ts';

async function registry(opts: { config?: string; dataDir?: string }) {
  const { openCloudDb } = await import('../../cloud/db.ts');
  const { DeviceRegistry } = await import('../../cloud/devices/registry.ts');
  const cfg = await resolveCloudConfig(opts);
  const db = openCloudDb(path.join(cfg.dataDir, 'cloud.db'));
  return { reg: new DeviceRegistry(db), close: () => db.close() };
}

export function register(program: Command): void {
  const device = program.command('device').description('provision, list and revoke street-site device credentials (in the cloud database)');
  const common = (c: Command) => c.option('-c, --config <file>', 'cloud config').option('--data-dir <dir>', 'cloud state directory');

  common(device.command('add <site>').description('provision a site; prints its MQTT password once').option('--password <pw>', 'use this password instead of a generated one (≥ 12 chars)').option('--json', 'print JSON'))
    .action(async (site: string, opts: { config?: string; dataDir?: string; password?: string; json?: boolean }) => {
      const { reg, close } = await registry(opts);
      try {
        const pw = await reg.add(site, opts.password);
        console.log(opts.json ? JSON.stringify({ site, username: site, password: pw }) : `site ${site} provisioned\n  username: ${site}\n  password: ${pw}   (shown once; put it in the edge config as mqtt.password)`);
      } finally { close(); }
    });

  common(device.command('list').description('list provisioned sites').option('--json', 'print JSON'))
    .action(async (opts: { config?: string; dataDir?: string; json?: boolean }) => {
      const { reg, close } = await registry(opts);
      try {
        const list = reg.list();
        if (opts.json) console.log(JSON.stringify(list));
        else for (const d of list) console.log(`${d.site.padEnd(24)} ${d.revoked ? `revoked ${new Date(d.revoked).toISOString()}` : 'active'}  since ${new Date(d.created).toISOString()}`);
      } finally { close(); }
    });

  common(device.command('revoke <site>').description('revoke a site; a running cloud cuts its connection within seconds'))
    .action(async (site: string, opts: { config?: string; dataDir?: string }) => {
      const { reg, close } = await registry(opts);
      try {
        console.log(reg.revoke(site) ? `site ${site} revoked` : `site ${site} was not active`);
      } finally { close(); }
    });
}
