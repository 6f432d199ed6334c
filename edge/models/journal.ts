/**
 * The model manager's journal: which model is active, which is the previous one, and which
 * deploy is in progress (and in which phase). Written atomically (write temp, fsync, rename,
 * fsync dir), so after kill -9 the file is either the old or the new state, never a mix.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CodedError } from '../../lib/errors.ts';

export interface ModelRef {
  name: string;
  version: string;
  /** sha256 of the bundle file (content address in the registry). */
  digest: string;
  /** Directory of the extracted bundle (under <state>/models/store), or '' for a local card. */
  dir: string;
  /** `bundle` (signed, verified) or `card` (a repository card named in the site config). */
  source: 'bundle' | 'card';
  keyId?: string;
  activatedAt?: number;
}

export interface DeployTarget {
  name: string;
  version: string;
  digest: string;
  size: number;
  url: string;
  /** Download token the cloud issued for this site and bundle (sent as a bearer token). */
  token?: string;
}

export interface PendingOp {
  cmdId: string;
  op: 'deploy' | 'rollback';
  target?: DeployTarget;
  phase: 'download' | 'verify' | 'load' | 'swap';
  started: number;
  rollout?: string;
}

export interface JournalState {
  v: 1;
  active: ModelRef | null;
  previous: ModelRef | null;
  pending: PendingOp | null;
  updated: number;
}

export const emptyJournal = (): JournalState => ({ v: 1, active: null, previous: null, pending: null, updated: 0 });

export function readJournal(file: string): JournalState {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return emptyJournal(); }
  try {
    const j = JSON.parse(text) as JournalState;
    if (j.v !== 1 || !('active' in j)) throw new Error('unknown shape');
    return j;
  } catch (err) {
    throw new CodedError('MODEL_JOURNAL_CORRUPT', `model journal ${file} is unreadable (${(err as Error).message}); it is only ever replaced by rename, so the disk or an outside writer damaged it`, { file });
  }
}

export function writeJournal(file: string, state: JournalState): void {
  state.updated = Date.now();
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, JSON.stringify(state, null, 2));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  try {
    const dfd = fs.openSync(path.dirname(file), 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
  } catch { /* directory fsync is best effort on some filesystems */ }
}
