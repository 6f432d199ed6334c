import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const owned = new Set<OwnedProcess>();
// If a test process ends without its afterAll (a crash, process.exit), its peers go with it.
process.on('exit', () => {
  for (const p of owned) if (p.alive) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
});

/** A child process a test owns: started with its own config, stopped by its own PID. */
export class OwnedProcess {
  readonly child: ChildProcess;
  private output = '';
  private exited: Promise<number | null>;
  constructor(cmd: string, args: string[], opts: SpawnOptions = {}) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const keep = (b: Buffer) => { this.output = (this.output + b.toString()).slice(-20_000); };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => { owned.delete(this); resolve(code); }));
    owned.add(this);
  }
  get pid(): number { return this.child.pid!; }
  get log(): string { return this.output; }
  get alive(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    if (!this.alive) return;
    try { process.kill(this.pid, signal); } catch { return; }
    const t = setTimeout(() => { try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    await this.exited;
    clearTimeout(t);
  }
  async kill9(): Promise<void> { await this.stop('SIGKILL'); }
  waitExit(): Promise<number | null> { return this.exited; }
}
