import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, portOpen, tempDir, waitFor } from './ports.ts';
import { OwnedProcess } from './process.ts';

/** A throwaway mosquitto 2 broker on a free loopback port with its own config. */
export class MosquittoPeer {
  proc?: OwnedProcess;
  readonly dir: string;
  port = 0;
  /** Extra mosquitto.conf lines (may be added after construction, e.g. files written into `dir`). */
  readonly extraConfig: string[];
  constructor(private readonly opts: { extraConfig?: string[]; persistence?: boolean } = {}) {
    this.extraConfig = [...(opts.extraConfig ?? [])];
    this.dir = tempDir('mosq-');
    // Started as root, mosquitto drops to the `mosquitto` user: let it write its persistence file.
    fs.chmodSync(this.dir, 0o777);
  }
  get url(): string { return `mqtt://127.0.0.1:${this.port}`; }

  static available(): boolean {
    try { execFileSync('bash', ['-c', 'command -v mosquitto'], { stdio: 'ignore' }); return true; } catch { return false; }
  }

  /**
   * Started as root, mosquitto drops to the `mosquitto` user before it reads password, ACL and
   * TLS files: a file inside a checkout that user cannot enter (a home directory at 0700) would
   * stop it. Each file the config names is copied into this peer's own temp dir (world-readable)
   * and the line rewritten to the copy.
   */
  private ownCopies(lines: string[]): string[] {
    return lines.map((line) => {
      const m = /^(password_file|acl_file|cafile|certfile|keyfile)\s+(.+)$/.exec(line.trim());
      if (!m || path.dirname(path.resolve(m[2])) === this.dir) return line;
      const copy = path.join(this.dir, `${m[1]}-${path.basename(m[2])}`);
      fs.copyFileSync(m[2], copy);
      fs.chmodSync(copy, 0o644);
      return `${m[1]} ${copy}`;
    });
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const conf = path.join(this.dir, 'mosquitto.conf');
    fs.writeFileSync(conf, [
      `listener ${this.port} 127.0.0.1`,
      'allow_anonymous true',
      `persistence ${this.opts.persistence === false ? 'false' : 'true'}`,
      `persistence_location ${this.dir}/`,
      'max_queued_messages 100000',
      'max_inflight_messages 0',
      'log_type error',
      ...this.ownCopies(this.extraConfig), '',
    ].join('\n'));
    const bin = fs.existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
    const proc = new OwnedProcess(bin, ['-c', conf]);
    this.proc = proc;
    await waitFor(async () => {
      if (!proc.alive) throw new Error(`mosquitto exited: ${proc.log.trim() || 'no output'}`);
      return portOpen(this.port);
    }, { what: `mosquitto on port ${this.port}`, timeoutMs: 15_000 });
    return this;
  }

  async stop(): Promise<void> { await this.proc?.stop(); }
}
