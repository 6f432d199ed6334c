import type { NewItem } from '../../../protocol/schemas.ts';
import { CodedError } from '../../../lib/errors.ts';
import { FLAG_MEANING, type Flag, type Reading, isValid, readingKey } from '../../../lib/contract/reading.ts';
import { type InstrumentRule, type LimitRule, type MissingRule, type Rule, matches } from './rules.ts';

type Severity = 'info' | 'warning' | 'critical';
interface Who { station: string; outlet?: string; pollutant: string; unit: string }
interface LimitState extends Who { raised: boolean; streak: number; clearStreak: number; samples: Array<[number, number]> }
interface MissingState extends Who { lastSeen: number; raised: boolean }
interface InstrumentState extends Who { raised: boolean; streak: number; flags: Flag[]; since: number }

/** Whether a value is a measured concentration or a converted (reference-O₂, HJ 75-2017) one. */
export type Basis = 'raw' | 'converted';

/**
 * Persisted state (the outbox checkpoint of the source): what must survive a restart so that
 * raise/clear stay paired (`raised`) and a rule resumes where it was — its consecutive streaks,
 * rolling-average samples, last-seen times (`rules`; left out when it would be larger than
 * `MAX_STATE_BYTES`, then only `raised` is kept and the windows start again).
 */
export interface AlertSnapshot {
  raised: Array<{ rule: string; source: string }>;
  rules?: { limit: Array<[string, LimitState]>; missing: Array<[string, MissingState]>; instrument: Array<[string, InstrumentState]> };
}

/** The largest `rules` state kept in a checkpoint (JSON bytes). */
export const MAX_STATE_BYTES = 256 * 1024;

/**
 * Evaluates alert rules on readings at the edge (pure logic, no I/O, no clock of its own:
 * time comes from the readings' observedAt and from `tick(now)`). Output is protocol alert items:
 * exactly one `raise` when a situation starts and one `clear` when it ends, per (rule, source),
 * where source is `station[/outlet]/pollutant`.
 *
 * Exceedance alerts (limit rules) carry `data.basis` ('raw' measured / 'converted' reference-O₂
 * concentration, from `opts.basis`, default raw) and, on a raise, `data.multiple` = the exceedance
 * multiple 超标倍数 = (value − limit) / limit as HJ 663-2013 defines it and the cloud's reports use it
 * (value 150 at limit 100 → 0.5; omitted when the limit is not positive, and on a clear, where
 * nothing exceeds), and their message states both, in English and in Chinese (the terms of
 * ../shared/GLOSSARY_zh.md: 实测浓度 / 折算浓度, 限值, 超标, 超标倍数, 解除).
 */
export class AlertEngine {
  private readonly limit = new Map<string, LimitState>();
  private readonly missing = new Map<string, MissingState>();
  private readonly instrument = new Map<string, InstrumentState>();
  private restored = new Set<string>();
  private counts = { readings: 0, raised: 0, cleared: 0 };
  /** Undo journal of the keys touched since begin(): their state before the first change. */
  private journal?: Map<string, { limit?: LimitState; missing?: MissingState; instrument?: InstrumentState; restored: boolean }>;
  private journalCounts?: { readings: number; raised: number; cleared: number };

  private readonly basisOf: (r: Reading) => Basis;

  constructor(private readonly rules: Rule[], opts: { basis?: (r: Reading) => Basis } = {}) {
    this.basisOf = opts.basis ?? (() => 'raw');
    const seen = new Set<string>();
    for (const r of rules) {
      if (seen.has(r.id)) throw new CodedError('ALERT_RULE_DUPLICATE', `alert rule id "${r.id}" is used twice; give every rule its own id`, { rule: r.id });
      seen.add(r.id);
      if (r.kind === 'limit' && r.clearAt !== undefined && r.clearAt > r.limit) {
        throw new CodedError('ALERT_RULE_INVALID', `alert rule "${r.id}": clearAt (${r.clearAt}) must be ≤ limit (${r.limit}) for hysteresis`, { rule: r.id });
      }
    }
  }

  /**
   * Start an undo journal: until commit()/rollback(), the first change to each key saves a copy of
   * its state. EnvEmitter brackets every outbox commit with it, so a failed commit (disk full, I/O
   * error) leaves the engine as if the readings had never been seen — the source does not ack, the
   * device re-sends, and the raise is produced again instead of being lost.
   */
  begin(): void {
    this.journal = new Map();
    this.journalCounts = { ...this.counts };
  }

  commit(): void {
    this.journal = undefined;
  }

  rollback(): void {
    if (!this.journal) return;
    for (const [sk, j] of this.journal) {
      for (const [m, v] of [[this.limit, j.limit], [this.missing, j.missing], [this.instrument, j.instrument]] as Array<[Map<string, unknown>, unknown]>) {
        if (v === undefined) m.delete(sk); else m.set(sk, v);
      }
      if (j.restored) this.restored.add(sk); else this.restored.delete(sk);
    }
    this.counts = this.journalCounts!;
    this.journal = undefined;
  }

  private touch(sk: string): void {
    if (!this.journal || this.journal.has(sk)) return;
    this.journal.set(sk, {
      limit: structuredClone(this.limit.get(sk)), missing: structuredClone(this.missing.get(sk)),
      instrument: structuredClone(this.instrument.get(sk)), restored: this.restored.has(sk),
    });
  }

  process(r: Reading): NewItem[] {
    this.counts.readings++;
    const out: NewItem[] = [];
    const key = readingKey(r);
    for (const rule of this.rules) {
      if (!matches(rule.match, r)) continue;
      const sk = `${rule.id}|${key}`;
      this.touch(sk);
      if (rule.kind === 'limit') this.evalLimit(rule, sk, r, out);
      else if (rule.kind === 'instrument') this.evalInstrument(rule, sk, r, out);
      else this.seen(rule, sk, r, out);
    }
    return out;
  }

  /** Missing-data check at `now` (wall clock live, replay watermark in a replay). */
  tick(now: number): NewItem[] {
    const out: NewItem[] = [];
    for (const rule of this.rules) {
      if (rule.kind !== 'missing') continue;
      for (const e of rule.expect) {
        const key = readingKey(e);
        const sk = `${rule.id}|${key}`;
        this.touch(sk);
        if (!this.missing.has(sk)) this.missing.set(sk, { ...e, unit: '', lastSeen: now, raised: this.restored.has(sk) });
      }
    }
    for (const [sk, s] of this.missing) {
      const rule = this.rules.find((x) => x.id === sk.slice(0, sk.indexOf('|'))) as MissingRule;
      const ms = rule.afterMinutes * 60_000;
      if (!s.raised && now - s.lastSeen >= ms) {
        this.touch(sk);
        s.raised = true;
        const mins = Math.round((now - s.lastSeen) / 60_000);
        out.push(this.alert(rule, sk, s, 'raise', now, `${s.pollutant} at ${where(s)}: no data for ${mins} min (rule: ${rule.afterMinutes} min)`, { lastSeen: s.lastSeen, afterMinutes: rule.afterMinutes }));
      }
    }
    return out;
  }

  snapshot(): AlertSnapshot {
    const raised: AlertSnapshot['raised'] = [];
    for (const m of [this.limit, this.missing, this.instrument] as Array<Map<string, { raised: boolean }>>) {
      for (const [sk, s] of m) if (s.raised) raised.push({ rule: sk.slice(0, sk.indexOf('|')), source: sk.slice(sk.indexOf('|') + 1) });
    }
    for (const sk of this.restored) raised.push({ rule: sk.slice(0, sk.indexOf('|')), source: sk.slice(sk.indexOf('|') + 1) });
    const rules = structuredClone({ limit: [...this.limit], missing: [...this.missing], instrument: [...this.instrument] });
    return JSON.stringify(rules).length <= MAX_STATE_BYTES ? { raised, rules } : { raised };
  }

  /** After a restart: alerts that were open stay open (no second raise), and will clear normally. */
  restore(s: AlertSnapshot): void {
    const kindOf = (sk: string) => this.rules.find((r) => r.id === sk.slice(0, sk.indexOf('|')))?.kind;
    const put = <T>(m: Map<string, T>, entries: Array<[string, T]> | undefined, kind: Rule['kind']) => {
      for (const [sk, st] of Array.isArray(entries) ? entries : []) if (typeof sk === 'string' && st && kindOf(sk) === kind) m.set(sk, st);
    };
    put(this.limit, s.rules?.limit, 'limit');
    put(this.missing, s.rules?.missing, 'missing');
    put(this.instrument, s.rules?.instrument, 'instrument');
    const known = (sk: string) => this.limit.has(sk) || this.missing.has(sk) || this.instrument.has(sk);
    for (const { rule, source } of s.raised) {
      const sk = `${rule}|${source}`;
      if (this.rules.some((r) => r.id === rule) && !known(sk)) this.restored.add(sk);
    }
  }

  stats(): Record<string, number> {
    let open = 0;
    for (const m of [this.limit, this.missing, this.instrument] as Array<Map<string, { raised: boolean }>>) for (const s of m.values()) if (s.raised) open++;
    return { ...this.counts, open: open + this.restored.size };
  }

  private takeRestored(sk: string): boolean {
    return this.restored.delete(sk);
  }

  private evalLimit(rule: LimitRule, sk: string, r: Reading, out: NewItem[]): void {
    let s = this.limit.get(sk);
    if (!s) {
      s = { station: r.station, outlet: r.outlet, pollutant: r.pollutant, unit: r.unit, raised: this.takeRestored(sk), streak: 0, clearStreak: 0, samples: [] };
      this.limit.set(sk, s);
    }
    // An instrument not in normal state (calibration, maintenance, fault...) never raises an exceedance.
    if (!isValid(r)) return;
    s.unit = r.unit;
    let v = r.value;
    let window: Record<string, unknown> = {};
    if (rule.average) {
      const from = r.observedAt - rule.average.windowMinutes * 60_000;
      s.samples.push([r.observedAt, r.value]);
      s.samples.sort((a, b) => a[0] - b[0]);
      while (s.samples.length && s.samples[0][0] <= from) s.samples.shift();
      if (s.samples.length < rule.average.minSamples) return;
      v = Math.round((s.samples.reduce((a, x) => a + x[1], 0) / s.samples.length) * 1000) / 1000;
      window = { windowMinutes: rule.average.windowMinutes, samples: s.samples.length };
    }
    const clearAt = rule.clearAt ?? rule.limit;
    const basis = this.basisOf(r);
    const conc = basis === 'converted' ? 'converted concentration' : 'value';
    const concZh = basis === 'converted' ? '折算浓度' : '实测浓度';
    const what = rule.average ? `${rule.average.windowMinutes}-min average${basis === 'converted' ? ` ${conc}` : ''}` : conc;
    const whatZh = rule.average ? `${rule.average.windowMinutes}分钟平均${concZh}` : concZh;
    const multiple = rule.limit > 0 && v > rule.limit ? Math.round(((v - rule.limit) / rule.limit) * 1000) / 1000 : undefined;
    const m = multiple !== undefined ? { multiple } : {};
    const mText = multiple !== undefined ? multiple.toFixed(2) : undefined;
    if (!s.raised) {
      s.streak = v > rule.limit ? s.streak + 1 : 0;
      if (s.streak >= rule.consecutive) {
        s.raised = true;
        s.clearStreak = 0;
        const n = rule.consecutive > 1 ? ` for ${rule.consecutive} consecutive readings` : '';
        const nZh = rule.consecutive > 1 ? `，连续${rule.consecutive}次` : '';
        const en = `${r.pollutant} at ${where(s)}: ${what} ${v} ${r.unit} above limit ${rule.limit}${n}${mText ? `, exceedance multiple ${mText} ((value − limit) / limit)` : ''}`;
        const zh = `${where(s)} ${r.pollutant} 超标：${whatZh} ${v} ${r.unit}，限值 ${rule.limit}${mText ? `，超标倍数 ${mText}` : ''}${nZh}`;
        out.push(this.alert(rule, sk, s, 'raise', r.observedAt, `${en} | ${zh}`, { value: v, limit: rule.limit, ...m, basis, clearAt, consecutive: rule.consecutive, ...window }));
      }
    } else {
      s.clearStreak = v <= clearAt ? s.clearStreak + 1 : 0;
      if (s.clearStreak >= rule.clearConsecutive) {
        s.raised = false;
        s.streak = 0;
        const en = `${r.pollutant} at ${where(s)}: ${what} ${v} ${r.unit} back at or below ${clearAt}`;
        const zh = `${where(s)} ${r.pollutant} 超标解除：${whatZh} ${v} ${r.unit}，不高于 ${clearAt}`;
        out.push(this.alert(rule, sk, s, 'clear', r.observedAt, `${en} | ${zh}`, { value: v, limit: rule.limit, ...m, basis, clearAt, clearConsecutive: rule.clearConsecutive, ...window }));
      }
    }
  }

  private evalInstrument(rule: InstrumentRule, sk: string, r: Reading, out: NewItem[]): void {
    let s = this.instrument.get(sk);
    if (!s) {
      s = { station: r.station, outlet: r.outlet, pollutant: r.pollutant, unit: r.unit, raised: this.takeRestored(sk), streak: 0, flags: [], since: r.observedAt };
      this.instrument.set(sk, s);
    }
    const f = r.flag;
    if (rule.flags.includes(f)) {
      if (s.streak === 0) { s.since = r.observedAt; s.flags = []; }
      s.streak++;
      if (!s.flags.includes(f)) s.flags.push(f);
      if (!s.raised && s.streak >= rule.consecutive) {
        s.raised = true;
        out.push(this.alert(rule, sk, s, 'raise', r.observedAt, `${r.pollutant} instrument at ${where(s)}: ${FLAG_MEANING[f]} (flag ${f})`, { flag: f, value: Number.isFinite(r.value) ? r.value : null, since: s.since, ...(r.status ? { status: r.status } : {}) }));
      }
    } else {
      // Any flag outside the rule's list (N, or e.g. T/S when not listed) means the instrument is back.
      s.streak = 0;
      if (s.raised) {
        s.raised = false;
        out.push(this.alert(rule, sk, s, 'clear', r.observedAt, `${r.pollutant} instrument at ${where(s)}: back to ${FLAG_MEANING[f]} (flag ${f})`, { flag: f, flagsSeen: s.flags, since: s.since }));
      }
    }
  }

  private seen(rule: MissingRule, sk: string, r: Reading, out: NewItem[]): void {
    let s = this.missing.get(sk);
    if (!s) {
      s = { station: r.station, outlet: r.outlet, pollutant: r.pollutant, unit: r.unit, lastSeen: r.observedAt, raised: this.takeRestored(sk) };
      this.missing.set(sk, s);
    }
    s.unit = r.unit;
    if (r.observedAt > s.lastSeen) s.lastSeen = r.observedAt;
    if (s.raised) {
      s.raised = false;
      out.push(this.alert(rule, sk, s, 'clear', r.observedAt, `${r.pollutant} at ${where(s)}: data again`, { afterMinutes: rule.afterMinutes }));
    }
  }

  private alert(rule: Rule, sk: string, who: Who, state: 'raise' | 'clear', ts: number, message: string, extra: Record<string, unknown>): NewItem {
    if (state === 'raise') this.counts.raised++;
    else this.counts.cleared++;
    const severity: Severity = rule.severity ?? (rule.kind === 'limit' ? 'critical' : 'warning');
    const data: Record<string, unknown> = { type: rule.kind === 'instrument' ? 'instrument' : rule.kind === 'missing' ? 'missing' : 'exceedance', station: who.station, pollutant: who.pollutant, unit: who.unit, ...extra };
    if (who.outlet) data.outlet = who.outlet;
    return { kind: 'alert', ts, rule: rule.id, source: sk.slice(sk.indexOf('|') + 1), state, severity, message: message.slice(0, 1024), data };
  }
}

function where(w: { station: string; outlet?: string }): string {
  return w.outlet ? `${w.station}/${w.outlet}` : w.station;
}
