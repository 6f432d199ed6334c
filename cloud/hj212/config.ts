/**
 * The `hj212:` block of the cloud config: the registry of enterprises and outlets (one data
 * logger MN per outlet, its data intervals, emission standard and limits), the rate and report
 * settings, and the upstream platforms data is forwarded to. Unknown keys are refused
 * (`HJ212_CONFIG_INVALID`), as are an MN listed twice or an upstream naming an unknown MN.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CodedError } from '../../lib/errors.ts';
import { validateConfig } from '../../lib/config.ts';

export const PERIODS = ['rt', 'min', 'hour', 'day'] as const;
export type Period = (typeof PERIODS)[number];
const lit = <T extends string>(xs: readonly T[], opts: { default?: string } = {}) => Type.Union(xs.map((x) => Type.Literal(x)), opts);

const Outlet = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'outlet id within the enterprise, e.g. DA001 (排放口编号)' }),
  name: Type.String({ minLength: 1, maxLength: 128, description: 'zh-CN name, e.g. 1号锅炉排放口' }),
  nameEn: Type.Optional(Type.String({ maxLength: 128 })),
  /** The data logger (数采仪) of this outlet: its MN (HJ 212 Table 3, up to 24 characters). */
  mn: Type.String({ pattern: '^[A-Za-z0-9]{1,24}$' }),
  /** The edge site the logger is connected to; without it, the site of the latest hj212 item from this MN. */
  site: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' })),
  kind: lit(['gas', 'water'] as const),
  /** HJ 212 system code ST for frames forwarded upstream (Table 5: 31 air pollution source, 32 water); default by kind. */
  st: Type.Optional(Type.String({ pattern: '^[0-9]{2}$' })),
  /** Records are expected from this day on (YYYY-MM-DD, Beijing time); before it nothing counts as missing. */
  since: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' })),
  /** Expected records: minute data every `minute` minutes (0 = none), hourly and daily data. */
  intervals: Type.Object({
    minute: Type.Integer({ minimum: 0, maximum: 60, default: 10 }),
    hourly: Type.Boolean({ default: true }),
    daily: Type.Boolean({ default: true }),
  }, { additionalProperties: false, default: {} }),
  standard: Type.Optional(Type.String({ maxLength: 64, description: 'emission standard, e.g. GB 13223-2011' })),
  /** Reference O₂ content (%) of the standard (HJ 75-2017: C = C′ × (21 − O₂ref) / (21 − O₂)). */
  o2Ref: Type.Optional(Type.Number({ minimum: 0, maximum: 20.9 })),
  /** Whether the limits are set on converted (折算) or measured (实测) concentrations. Default: converted for gas outlets with o2Ref, else raw. */
  limitsApplyTo: Type.Optional(lit(['converted', 'raw'] as const)),
  /** Emission limits by factor code, in the factor's concentration unit (e.g. { a21026: 35 }). */
  limits: Type.Record(Type.String({ pattern: '^[A-Za-z0-9]{1,16}$' }), Type.Number({ exclusiveMinimum: 0 }), { default: {} }),
  /** Flow factor for emission amounts (default a00000 gas, w00000 water) and its unit when the items carry none. */
  flowCode: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]{1,16}$' })),
  flowUnit: Type.Optional(lit(['m3/h', 'm3/s', 'L/s'] as const)),
}, { additionalProperties: false });

const Enterprise = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
  name: Type.String({ minLength: 1, maxLength: 128, description: 'zh-CN name (企业名称)' }),
  nameEn: Type.Optional(Type.String({ maxLength: 128 })),
  outlets: Type.Array(Outlet, { minItems: 1 }),
}, { additionalProperties: false });

const Upstream = Type.Object({
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' }),
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  revision: lit(['2017', '2025'] as const),
  /** HJ 212-2025 §6.4.2: SM4 key (32 hex digits or 16 characters) for the CP of data commands. */
  sm4Key: Type.Optional(Type.String()),
  /** PW of every frame to this platform; its requests must carry it too. */
  password: Type.String({ minLength: 1, maxLength: 64 }),
  /** Local MN → the MN this platform knows the logger by (default: the same). */
  mnMap: Type.Record(Type.String(), Type.String({ pattern: '^[A-Za-z0-9]{1,24}$' }), { default: {} }),
  /** Forward only these local MNs (default: every registered outlet). */
  stations: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  periods: Type.Array(lit(PERIODS), { minItems: 1, default: ['rt', 'min', 'hour', 'day'] }),
  ackTimeoutMs: Type.Integer({ minimum: 50, default: 10_000 }),
  reconnectMinMs: Type.Integer({ minimum: 10, default: 1000 }),
  reconnectMaxMs: Type.Integer({ minimum: 10, default: 60_000 }),
  /** A record queued longer than this before its first send goes out as back-filled (RF=1, 2025 only). */
  backfillAfterMs: Type.Integer({ minimum: 0, default: 60_000 }),
  heartbeatMs: Type.Integer({ minimum: 0, default: 60_000, description: 'CN 9015 heartbeat when idle; 0 = none' }),
  maxHistoryDays: Type.Integer({ minimum: 1, default: 31, description: 'a history request spanning more is refused (QnRtn=2)' }),
}, { additionalProperties: false });

export const Hj212ConfigSchema = Type.Object({
  enterprises: Type.Array(Enterprise, { default: [] }),
  upstreams: Type.Array(Upstream, { default: [] }),
  /** DataTime offset from UTC in minutes; days and months of rates and reports are in this time (Beijing, 480). */
  offsetMinutes: Type.Integer({ minimum: -720, maximum: 840, default: 480 }),
  /** The data period the headline effective rate is computed on (the others are listed beside it). */
  ratePeriod: lit(['min', 'hour', 'day'] as const, { default: 'hour' }),
  rateThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.9 }),
  rateJob: Type.Object({
    intervalMs: Type.Integer({ minimum: 1000, default: 600_000 }),
    /** Days recomputed each run (corrections and backfill are allowed within 10 days). */
    recomputeDays: Type.Integer({ minimum: 1, maximum: 62, default: 11 }),
  }, { additionalProperties: false, default: {} }),
  /** A flag may be corrected up to this many days after the record's time; 0 = no deadline. */
  correctionDeadlineDays: Type.Integer({ minimum: 0, default: 10 }),
  retention: Type.Object({
    rtDays: Type.Integer({ minimum: 1, default: 7 }),
    days: Type.Integer({ minimum: 1, default: 400 }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false });

export type Hj212Config = Static<typeof Hj212ConfigSchema>;
export type OutletConfig = Static<typeof Outlet>;
export type EnterpriseConfig = Static<typeof Enterprise>;
export type UpstreamConfig = Static<typeof Upstream>;

/** An outlet with its enterprise, looked up by MN. */
export interface RegisteredOutlet {
  enterprise: EnterpriseConfig;
  outlet: OutletConfig;
}

export class Registry {
  private readonly byMnMap = new Map<string, RegisteredOutlet>();
  constructor(readonly enterprises: readonly EnterpriseConfig[]) {
    for (const enterprise of enterprises) {
      for (const outlet of enterprise.outlets) {
        if (this.byMnMap.has(outlet.mn)) throw new CodedError('HJ212_CONFIG_INVALID', `hj212: MN ${outlet.mn} is registered twice (an outlet has one data logger)`);
        this.byMnMap.set(outlet.mn, { enterprise, outlet });
      }
    }
  }
  byMn(mn: string): RegisteredOutlet | undefined { return this.byMnMap.get(mn); }
  all(): RegisteredOutlet[] { return [...this.byMnMap.values()]; }
  enterprise(id: string): EnterpriseConfig | undefined { return this.enterprises.find((e) => e.id === id); }
}

/** Limits apply to converted values unless configured otherwise: gas outlets with a reference O₂. */
export function limitBasis(o: OutletConfig): 'converted' | 'raw' {
  return o.limitsApplyTo ?? (o.kind === 'gas' && o.o2Ref !== undefined ? 'converted' : 'raw');
}
export const flowCodeOf = (o: OutletConfig): string => o.flowCode ?? (o.kind === 'gas' ? 'a00000' : 'w00000');
export const stOf = (o: OutletConfig): string => o.st ?? (o.kind === 'gas' ? '31' : '32');

export function parseHj212Config(raw: unknown): { config: Hj212Config; registry: Registry } {
  const config = validateConfig(Hj212ConfigSchema, raw, 'hj212', 'HJ212_CONFIG_INVALID');
  const registry = new Registry(config.enterprises);
  const ids = new Set<string>();
  for (const u of config.upstreams) {
    if (ids.has(u.id)) throw new CodedError('HJ212_CONFIG_INVALID', `hj212.upstreams: id ${u.id} is used twice`);
    ids.add(u.id);
    for (const mn of [...(u.stations ?? []), ...Object.keys(u.mnMap)]) {
      if (!registry.byMn(mn)) throw new CodedError('HJ212_CONFIG_INVALID', `hj212.upstreams[${u.id}]: MN ${mn} is not a registered outlet`);
    }
    if (u.sm4Key && u.revision !== '2025') throw new CodedError('HJ212_CONFIG_INVALID', `hj212.upstreams[${u.id}]: sm4Key needs revision 2025 (HJ 212-2017 has no encryption)`);
  }
  return { config, registry };
}
