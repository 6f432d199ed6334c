/**
 * Edge model manager: `model.deploy` / `model.rollback` commands → download (resumable),
 * verify (digest + ed25519 signature against the site's trusted keys), load into a second
 * detector session, self-test, swap into the ModelSlot between frames, journal the result.
 * The journal (journal.ts) makes a restart at any point end with exactly one active model:
 * the one the last committed journal names (or the previous / initial one if that is damaged).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CodedError, errMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import { loadCard, type ModelCard, type ResolveOptions } from '../../models/card.ts';
import { checkExtracted, extractBundle, resolveOptionsFor, verifyBundle } from '../../models/bundle/bundle.ts';
import { loadTrustedKeys, type TrustedKeys } from '../../models/bundle/keys.ts';
import type { ModelManagerConfig } from './config.ts';
import { downloadBundle } from './download.ts';
import { emptyJournal, readJournal, writeJournal, type DeployTarget, type JournalState, type ModelRef, type PendingOp } from './journal.ts';
import { selfTest } from './selftest.ts';
import { closeWhenDrained, modelSlot, type LoadedModel, type ModelRuntime, type ModelSlot } from './slot.ts';

export type ModelLoader = (card: ModelCard, opts: ResolveOptions, threads: number) => Promise<ModelRuntime>;

export const workerLoader: ModelLoader = async (card, opts, threads) => {
  const { DetectorWorker } = await import('../vision/detector/detector-worker.ts');
  return DetectorWorker.start(card, { ...opts, threads });
};

export interface ManagerDeps {
  site: string;
  stateDir: string;
  configDir: string;
  log: Logger;
  emit(items: NewItem[]): void;
  loader?: ModelLoader;
  /** Simulated sites of the rollout bench only: skip the ONNX self-test. */
  skipSelfTest?: boolean;
}

export class ModelManager {
  readonly slot: ModelSlot;
  private j: JournalState = emptyJournal();
  private standby?: LoadedModel;
  private trusted!: TrustedKeys;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly running = new Map<string, Promise<Record<string, unknown>>>();
  private statsTimer?: NodeJS.Timeout;
  private readonly dir: string;
  private readonly journalFile: string;
  private readonly loader: ModelLoader;
  readonly counts = { deploys: 0, rollbacks: 0, refused: 0, resumed: 0 };
  lastError?: { code: string; message: string; at: number };

  constructor(readonly cfg: ModelManagerConfig, private readonly deps: ManagerDeps) {
    this.slot = modelSlot(deps.site, cfg.slot);
    this.dir = path.join(deps.stateDir, 'models');
    this.journalFile = path.join(this.dir, 'journal.json');
    this.loader = deps.loader ?? workerLoader;
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    this.trusted = loadTrustedKeys(this.cfg.trustedKeys, this.deps.configDir);
    try {
      this.j = readJournal(this.journalFile);
    } catch (err) {
      this.deps.log.error({ code: (err as CodedError).code, err: errMessage(err) }, 'model journal damaged; starting from the initial model');
      this.j = emptyJournal();
    }
    const pending = this.j.pending;
    if (pending) this.deps.log.warn({ op: pending.op, phase: pending.phase, target: pending.target?.version }, 'a model operation was interrupted by a restart');
    let loaded: LoadedModel | undefined;
    for (const ref of [this.j.active, this.j.previous]) {
      if (!ref || loaded) continue;
      try {
        loaded = await this.loadRef(ref);
        if (ref !== this.j.active) { this.j.active = ref; this.j.previous = null; }
      } catch (err) {
        this.deps.log.error({ model: `${ref.name}@${ref.version}`, code: (err as CodedError).code, err: errMessage(err) }, 'journalled model cannot be loaded');
      }
    }
    if (!loaded) loaded = await this.loadInitial();
    this.j.pending = pending && this.cfg.resumePending && pending.op === 'deploy' ? pending : null;
    this.commit();
    if (loaded) this.slot.install(loaded);
    if (this.j.pending?.target) {
      const p = this.j.pending;
      this.counts.resumed++;
      void this.deploy(p.cmdId, p.target!, p.rollout).then(
        (result) => this.deps.emit([{ kind: 'cmdres', ts: Date.now(), cmdId: p.cmdId, ok: true, result: { ...result, resumed: true } }]),
        (err) => this.deps.emit([{ kind: 'cmdres', ts: Date.now(), cmdId: p.cmdId, ok: false, result: { code: (err as CodedError).code ?? 'MODEL_DEPLOY_FAILED', message: errMessage(err), resumed: true } }]),
      );
    }
    this.statsTimer = setInterval(() => this.emitStats(), this.cfg.statsIntervalMs);
    this.statsTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.statsTimer);
    await this.chain.catch(() => undefined);
    const cur = this.slot.current();
    await Promise.all([cur?.runtime.close(), this.standby?.runtime.close()].map((p) => p?.catch(() => undefined)));
  }

  private commit(): void {
    writeJournal(this.journalFile, this.j);
  }

  private setPending(p: PendingOp | null): void {
    this.j.pending = p;
    this.commit();
  }

  private async loadRef(ref: ModelRef): Promise<LoadedModel> {
    let card: ModelCard;
    let opts: ResolveOptions = {};
    if (ref.source === 'bundle') {
      const x = checkExtracted(ref.dir);
      card = x.card;
      opts = resolveOptionsFor(x, ref.dir);
    } else card = loadCard(ref.name);
    const runtime = await this.loader(card, opts, this.cfg.threads);
    return { name: ref.name, version: ref.version, digest: ref.digest, card, runtime };
  }

  private async loadInitial(): Promise<LoadedModel | undefined> {
    const init = this.cfg.initial;
    if (init?.bundle) {
      const v = verifyBundle(fs.readFileSync(path.resolve(this.deps.configDir, init.bundle)), this.trusted);
      const dir = path.join(this.dir, 'store', v.digest);
      extractBundle(v, dir);
      this.j.active = { name: v.card.name, version: v.card.version, digest: v.digest, dir, source: 'bundle', keyId: v.keyId, activatedAt: Date.now() };
    } else if (init?.card) {
      const card = loadCard(init.card);
      this.j.active = { name: card.name, version: card.version, digest: card.sha256, dir: '', source: 'card', activatedAt: Date.now() };
    } else return undefined;
    return this.loadRef(this.j.active);
  }

  /** One model operation at a time; a re-delivered command (same id) joins the running one. */
  private serial(cmdId: string, fn: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
    const existing = this.running.get(cmdId);
    if (existing) return existing;
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    this.running.set(cmdId, p);
    void p.finally(() => setTimeout(() => this.running.delete(cmdId), 60_000).unref()).catch(() => undefined);
    return p;
  }

  deploy(cmdId: string, target: DeployTarget, rollout?: string): Promise<Record<string, unknown>> {
    return this.serial(cmdId, () => this.runDeploy(cmdId, target, rollout).catch((err) => this.fail(err)));
  }

  rollback(cmdId: string, args: { from?: string; to?: DeployTarget } = {}): Promise<Record<string, unknown>> {
    return this.serial(cmdId, () => this.runRollback(cmdId, args).catch((err) => this.fail(err)));
  }

  private fail(err: unknown): never {
    this.counts.refused++;
    const code = (err as CodedError).code ?? 'MODEL_DEPLOY_FAILED';
    this.lastError = { code, message: errMessage(err), at: Date.now() };
    this.deps.log.warn({ code, err: errMessage(err) }, 'model operation refused; the active model keeps running');
    if (this.j.pending) this.setPending(null);
    throw err;
  }

  private async runDeploy(cmdId: string, target: DeployTarget, rollout?: string): Promise<Record<string, unknown>> {
    const active = this.slot.current();
    if (active?.digest === target.digest) return { name: target.name, version: target.version, digest: target.digest, alreadyActive: true };
    if (this.standby?.digest === target.digest && this.j.previous?.digest === target.digest) return this.runRollback(cmdId, {});
    const t0 = performance.now();
    this.setPending({ cmdId, op: 'deploy', target, phase: 'download', started: Date.now(), rollout });
    const base = this.cfg.registryUrl;
    const url = /^https?:/.test(target.url) ? target.url : new URL(target.url, base ?? 'http://invalid').href;
    if (!/^https?:/.test(target.url) && !base) throw new CodedError('MODEL_NO_REGISTRY', 'deploy names a relative bundle URL but the model-manager has no registryUrl');
    // The download token comes with the deploy command (issued by the cloud for this site and bundle only).
    const authorization = target.token ? `Bearer ${target.token}` : undefined;
    let dl;
    for (let attempt = 0; ; attempt++) {
      try {
        dl = await downloadBundle({ url, dir: path.join(this.dir, 'downloads'), digest: target.digest, size: target.size, authorization, maxBytesPerSec: this.cfg.download.maxBytesPerSec });
        break;
      } catch (err) {
        if ((err as CodedError).code !== 'MODEL_DOWNLOAD_FAILED' || attempt >= this.cfg.download.retries) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
    const tDl = performance.now();
    this.setPending({ ...this.j.pending!, phase: 'verify' });
    let v;
    try {
      v = verifyBundle(fs.readFileSync(dl.file), this.trusted);
      if (v.manifest.name !== target.name || v.manifest.version !== target.version) throw new CodedError('MODEL_BUNDLE_MISMATCH', `bundle holds ${v.manifest.name}@${v.manifest.version}, the command asked for ${target.name}@${target.version}`);
    } catch (err) {
      fs.rmSync(dl.file, { force: true }); // never keep a refused bundle around
      throw err;
    }
    const dir = path.join(this.dir, 'store', v.digest);
    extractBundle(v, dir);
    this.setPending({ ...this.j.pending!, phase: 'load' });
    const ref: ModelRef = { name: v.card.name, version: v.card.version, digest: v.digest, dir, source: 'bundle', keyId: v.keyId };
    const next = await this.loadRef(ref);
    const tLoad = performance.now();
    let st: Record<string, unknown> | undefined;
    if (!this.deps.skipSelfTest) {
      try {
        st = { ...(await selfTest(next.runtime, v.card, path.join(dir, v.manifest.selfTestInput), this.cfg.selfTest)) };
      } catch (err) {
        await next.runtime.close().catch(() => undefined);
        throw err;
      }
    }
    const prev = this.swapTo(ref, next);
    this.counts.deploys++;
    this.gc();
    return {
      name: ref.name, version: ref.version, digest: ref.digest, keyId: v.keyId, previous: prev ? `${prev.name}@${prev.version}` : null,
      download: { resumedFrom: dl.resumedFrom, fetched: dl.fetched, ms: Math.round(tDl - t0) }, loadMs: Math.round(tLoad - tDl), selfTest: st ?? 'skipped',
      totalMs: Math.round(performance.now() - t0),
    };
  }

  /** Journal first, then the in-memory swap: the journal never lags what runs. */
  private swapTo(ref: ModelRef, next: LoadedModel): LoadedModel | undefined {
    this.j.previous = this.j.active;
    this.j.active = { ...ref, activatedAt: Date.now() };
    this.j.pending = null;
    this.commit();
    const old = this.slot.install(next);
    const drop = this.cfg.keepPreviousLoaded ? this.standby : old;
    this.standby = this.cfg.keepPreviousLoaded ? old : undefined;
    if (drop && drop !== next) void closeWhenDrained(drop.runtime).catch(() => undefined);
    this.deps.log.info({ model: `${ref.name}@${ref.version}`, previous: old && `${old.name}@${old.version}` }, 'model swapped in');
    return old;
  }

  private async runRollback(cmdId: string, args: { from?: string; to?: DeployTarget }): Promise<Record<string, unknown>> {
    const active = this.j.active;
    if (args.from && active?.digest !== args.from) return { rolledBack: false, reason: 'not active', active: active && `${active.name}@${active.version}` };
    const prev = this.j.previous;
    if (!prev) {
      if (args.to) return this.runDeploy(cmdId, args.to);
      throw new CodedError('MODEL_NO_PREVIOUS', 'this site has no previous model to roll back to');
    }
    const t0 = performance.now();
    const instant = this.standby?.digest === prev.digest;
    const loaded = instant ? this.standby! : await this.loadRef(prev);
    if (instant) this.standby = undefined;
    const old = this.swapTo(prev, loaded);
    this.counts.rollbacks++;
    return { rolledBack: true, name: prev.name, version: prev.version, digest: prev.digest, from: old && `${old.name}@${old.version}`, instant, ms: Math.round(performance.now() - t0) };
  }

  /** Keep the extracted active and previous bundles; drop other extractions and finished downloads. */
  private gc(): void {
    const keep = new Set([this.j.active?.digest, this.j.previous?.digest]);
    const store = path.join(this.dir, 'store');
    for (const d of fs.existsSync(store) ? fs.readdirSync(store) : []) if (!keep.has(d)) fs.rmSync(path.join(store, d), { recursive: true, force: true });
    const dls = path.join(this.dir, 'downloads');
    for (const f of fs.existsSync(dls) ? fs.readdirSync(dls) : []) if (f.endsWith('.bundle')) fs.rmSync(path.join(dls, f), { force: true });
  }

  emitStats(now = Date.now()): void {
    const items: NewItem[] = this.slot.takeStats(now).map((s) => ({
      kind: 'telemetry', ts: now, m: 'model_stats', tags: { model: s.model, version: s.version, slot: this.cfg.slot },
      fields: { frames: s.frames, errors: s.errors, detections: s.detections, fps: Number(s.fps.toFixed(3)), p50_ms: Number(s.p50Ms.toFixed(2)), p95_ms: Number(s.p95Ms.toFixed(2)), window_ms: s.windowMs },
    }));
    if (items.length) this.deps.emit(items);
  }

  journal(): JournalState {
    return structuredClone(this.j);
  }

  health(): Record<string, unknown> {
    const ref = (r: ModelRef | null) => (r ? { name: r.name, version: r.version, digest: r.digest } : null);
    return {
      slot: this.cfg.slot,
      active: ref(this.j.active),
      previous: ref(this.j.previous),
      standbyLoaded: !!this.standby,
      pending: this.j.pending ? { op: this.j.pending.op, phase: this.j.pending.phase, version: this.j.pending.target?.version } : null,
      ...this.counts,
      lastError: this.lastError ?? null,
    };
  }
}

