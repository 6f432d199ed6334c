import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, tempDir, waitFor } from './ports.ts';
import { OwnedProcess } from './process.ts';

/** A throwaway InfluxDB 1.x (Debian `influxd`) on free loopback ports in a temp dir. */
export class InfluxPeer {
  proc?: OwnedProcess;
  readonly dir: string;
  httpPort = 0;
  private rpcPort = 0;
  constructor(dir?: string) { this.dir = dir ?? tempDir('influx-'); }
  get url(): string { return `http://127.0.0.1:${this.httpPort}`; }

  static available(): boolean {
    try { execFileSync('influxd', ['version'], { stdio: 'ignore' }); return true; } catch { return false; }
  }

  async start(): Promise<this> {
    if (!this.httpPort) { this.httpPort = await freePort(); this.rpcPort = await freePort(); }
    const conf = path.join(this.dir, 'influxdb.conf');
    fs.writeFileSync(conf, [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${this.rpcPort}"`,
      '[meta]', `  dir = "${this.dir}/meta"`,
      '[data]', `  dir = "${this.dir}/data"`, `  wal-dir = "${this.dir}/wal"`, '  query-log-enabled = false',
      '[http]', '  enabled = true', `  bind-address = "127.0.0.1:${this.httpPort}"`, '  log-enabled = false',
      '[monitor]', '  store-enabled = false',
      '[continuous_queries]', '  enabled = false', '',
    ].join('\n'));
    this.proc = new OwnedProcess('influxd', ['-config', conf]);
    await waitFor(async () => {
      if (!this.proc!.alive) throw new Error(`influxd exited: ${this.proc!.log.slice(-2000)}`);
      const r = await fetch(`${this.url}/ping`).catch(() => null);
      return r?.status === 204;
    }, { timeoutMs: 30_000, what: 'influxd /ping' });
    return this;
  }

  /** Stop by PID (SIGTERM); start() again reuses the same ports and data. */
  async stop(): Promise<void> { await this.proc?.stop(); }

  async query(q: string, db: string): Promise<any> {
    const r = await fetch(`${this.url}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`);
    return r.json();
  }
}
