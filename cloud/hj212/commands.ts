/**
 * Remote commands to data loggers (反控), sent to the edge site the logger is connected to as the
 * edge command `hj212.request` { mn, cn, cp?, timeoutMs? } through the cloud's command topic
 * (`ce/v1/<site>/cmd/hj212.request`); the edge answers with a cmdres item
 * { mn, cn, qnRtn?, exeRtn?, answer?: { cn, cp }, records? } or a coded error, which the hj212
 * sink records against the command (records.ts).
 *
 * Actions (HJ 212-2017 Table 6 / 2025 Table 12):
 *   clock.read     CN 1011 提取现场机时间       cp { PolId? }          → answer CP SystemTime
 *   clock.set      CN 1012 设置现场机时间       cp { PolId?, SystemTime }
 *   interval.read  CN 1061 实时数据间隔 (kind rtd) / 1063 分钟数据间隔 (kind min)
 *   interval.set   CN 1062 RtdInterval (seconds) / 1064 MinInterval (minutes)
 */
import crypto from 'node:crypto';
import { CodedError } from '../../lib/errors.ts';
import { formatDataTime } from '../../lib/hj212/codec.ts';
import type { CloudContext } from '../context.ts';
import type { Registry } from './config.ts';
import type { RecordStore } from './records.ts';

export const ACTIONS = ['clock.read', 'clock.set', 'interval.read', 'interval.set'] as const;
export type Action = (typeof ACTIONS)[number];
/** Setting a clock or an interval changes what every later record means: ops. Reading: env. */
export const ROLE_OF_ACTION: Record<Action, 'env' | 'ops'> = { 'clock.read': 'env', 'interval.read': 'env', 'clock.set': 'ops', 'interval.set': 'ops' };
/** Minute-data intervals HJ 212-2017 allows for MinInterval (the same list the edge checks). */
const MIN_INTERVALS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];

export interface CommandBody { action: Action; time?: string; polId?: string; kind?: 'rtd' | 'min'; value?: number; timeoutMs?: number }
export interface CommandRow {
  id: string; mn: string; site: string; action: string; cn: string; cp: Record<string, string>; by: string; at: number;
  state: 'sent' | 'answered' | 'failed' | 'not_sent'; ok?: boolean; result?: Record<string, unknown>; answeredAt?: number;
  qnRtn?: number; exeRtn?: number;
}

/** The CN and CP of an action; HJ212_BAD_COMMAND for arguments it cannot take. */
export function commandFrame(b: CommandBody, offsetMinutes: number, now = Date.now()): { cn: string; cp: Record<string, string> } {
  const bad = (m: string): never => { throw new CodedError('HJ212_BAD_COMMAND', m); };
  const pol: Record<string, string> = b.polId ? { PolId: b.polId } : {};
  switch (b.action) {
    case 'clock.read': return { cn: '1011', cp: pol };
    case 'clock.set': {
      const t = b.time === undefined ? now : Date.parse(b.time);
      if (Number.isNaN(t)) bad(`time ${JSON.stringify(b.time)} must be ISO 8601 (default: the cloud's clock)`);
      return { cn: '1012', cp: { ...pol, SystemTime: formatDataTime(t, offsetMinutes) } };
    }
    case 'interval.read': return { cn: (b.kind ?? 'min') === 'rtd' ? '1061' : '1063', cp: {} };
    case 'interval.set': {
      const kind = b.kind ?? bad('interval.set needs kind: rtd (real-time, seconds) or min (minute data, minutes)');
      const v = b.value ?? bad('interval.set needs value');
      if (kind === 'rtd' && !(Number.isInteger(v) && v >= 30 && v <= 3600)) bad('RtdInterval is seconds, 30 ≤ n ≤ 3600 (HJ 212-2017)');
      if (kind === 'min' && !MIN_INTERVALS.includes(v)) bad(`MinInterval is minutes, one of ${MIN_INTERVALS.join(', ')} (HJ 212-2017)`);
      return kind === 'rtd' ? { cn: '1062', cp: { RtdInterval: String(v) } } : { cn: '1064', cp: { MinInterval: String(v) } };
    }
  }
}

export class CommandStore {
  constructor(private readonly ctx: Pick<CloudContext, 'db' | 'devices' | 'commands'>, private readonly records: RecordStore, private readonly registry: Registry, private readonly offsetMinutes: number, private readonly now: () => number = Date.now) {}

  /** The site an MN's logger is connected to: configured, else the site of its newest record. */
  siteOf(mn: string): string {
    const site = this.registry.byMn(mn)?.outlet.site ?? this.records.siteOf(mn);
    if (!site) throw new CodedError('HJ212_UNKNOWN_STATION', `MN ${mn} is not configured with a site and no record of it has arrived yet`, { status: 404 });
    if (!this.ctx.devices.isActive(site)) throw new CodedError('API_UNKNOWN_SITE', `site ${site} (of MN ${mn}) is not provisioned`, { status: 404 });
    return site;
  }

  /** Record and send a command; the row shows `not_sent` with the error when the broker refused it. */
  async send(mn: string, body: CommandBody, by: string): Promise<CommandRow> {
    const { cn, cp } = commandFrame(body, this.offsetMinutes, this.now());
    const site = this.siteOf(mn);
    const at = this.now();
    const id = crypto.randomUUID();
    const timeoutMs = body.timeoutMs ?? 30_000;
    this.ctx.db.prepare("INSERT INTO hj212_commands (id, mn, site, action, cn, cp, by, at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'sent')").run(id, mn, site, body.action, cn, JSON.stringify(cp), by, at);
    const cmd = { v: 1, id, name: 'hj212.request', args: { mn, cn, cp, timeoutMs }, issuedAt: at, expiresAt: at + Math.max(60_000, timeoutMs * 2) };
    try {
      await this.ctx.commands.publishCommand(site, cmd.name, cmd);
    } catch (err) {
      const result = { code: 'HJ212_COMMAND_NOT_SENT', message: (err as Error).message };
      this.ctx.db.prepare("UPDATE hj212_commands SET state = 'not_sent', ok = 0, result = ? WHERE id = ?").run(JSON.stringify(result), id);
      throw new CodedError('HJ212_COMMAND_NOT_SENT', `the command could not be published to site ${site}: ${result.message}`, { status: 503 });
    }
    return this.get(id)!;
  }

  get(id: string): CommandRow | undefined {
    const r = this.ctx.db.prepare('SELECT * FROM hj212_commands WHERE id = ?').get(id) as Raw | undefined;
    return r && toRow(r);
  }

  list(mn: string, limit = 100): CommandRow[] {
    return (this.ctx.db.prepare('SELECT * FROM hj212_commands WHERE mn = ? ORDER BY at DESC, id LIMIT ?').all(mn, limit) as Raw[]).map(toRow);
  }
}

interface Raw { id: string; mn: string; site: string; action: string; cn: string; cp: string; by: string; at: number; state: CommandRow['state']; ok: number | null; result: string | null; answered_at: number | null }
function toRow(r: Raw): CommandRow {
  const out: CommandRow = { id: r.id, mn: r.mn, site: r.site, action: r.action, cn: r.cn, cp: JSON.parse(r.cp), by: r.by, at: r.at, state: r.state };
  if (r.ok !== null) out.ok = !!r.ok;
  if (r.result) {
    out.result = JSON.parse(r.result);
    const q = Number(out.result!.qnRtn), e = Number(out.result!.exeRtn);
    if (Number.isFinite(q) && out.result!.qnRtn !== undefined) out.qnRtn = q;
    if (Number.isFinite(e) && out.result!.exeRtn !== undefined) out.exeRtn = e;
  }
  if (r.answered_at !== null) out.answeredAt = r.answered_at;
  return out;
}
