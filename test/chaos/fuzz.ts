/**
 * Hostile input for the chaos run: an extra MQTT client with a provisioned site's own
 * credentials (site `chaos-fuzz`) publishing fast-check-generated messages — bad JSON and
 * bytes, schema-invalid batches and items, items on the wrong channel, oversized payloads,
 * other sites' topics and command topics, a payload naming another site, duplicate ids, huge
 * seqs, future timestamps, status documents, a CONNECT presenting another site's client id —
 * mixed with valid items (into its own series, also inside the measurements the real sites
 * use). Cases are generated from the run seed (`fc.sample`), so a burst is reproducible.
 *
 * `refused` cases (fault kind `fuzz-refused`, a burst of its own) are valid protocol items that
 * InfluxDB refuses: a field type conflict, a field or tag named `time`. They must be dead-lettered
 * (INGEST_STORE_REFUSED) without holding up anyone else's data in the spool.
 */
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { newMessageId } from '../../protocol/ids.ts';

export const FUZZ_KINDS = [
  'bad-json', 'bad-bytes', 'bad-schema', 'bad-items', 'wrong-channel', 'oversize', 'wrong-site', 'cmd-topic', 'unknown-topic',
  'site-mismatch', 'dup-ids', 'huge-seq', 'future-ts', 'valid', 'foreign-measurement', 'status', 'takeover', 'refused',
] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

type Json = unknown;
interface ItemSpec { kind: 'telemetry' | 'event' | 'alert'; m?: string; tags?: Record<string, string>; fields?: Record<string, Json>; ageMs: number; body?: Record<string, Json> }
export type FuzzCase =
  | { kind: 'bad-json'; channel: string; text: string }
  | { kind: 'bad-bytes'; channel: string; bytes: number[] }
  | { kind: 'bad-schema'; channel: string; body: Json }
  | { kind: 'bad-items'; channel: string; items: Json[] }
  | { kind: 'wrong-channel'; channel: string; item: ItemSpec }
  | { kind: 'oversize'; extra: number }
  | { kind: 'wrong-site'; target: number; channel: string; item: ItemSpec }
  | { kind: 'cmd-topic'; name: string; body: Json }
  | { kind: 'unknown-topic'; level: string; deeper: boolean; item: ItemSpec }
  | { kind: 'site-mismatch'; target: number; item: ItemSpec }
  | { kind: 'dup-ids'; items: ItemSpec[]; sameSeq: boolean }
  | { kind: 'huge-seq'; seq: number; item: ItemSpec }
  | { kind: 'future-ts'; aheadMs: number; item: ItemSpec }
  | { kind: 'valid'; items: ItemSpec[] }
  | { kind: 'foreign-measurement'; items: ItemSpec[] }
  | { kind: 'status'; body: Json }
  | { kind: 'takeover'; target: number }
  | { kind: 'refused'; variant: 'type-conflict' | 'time-field' | 'time-tag' };

const channel = fc.constantFrom('telemetry', 'events', 'alerts', 'snapshots', 'status', 'cmdres');
const age = fc.integer({ min: 0, max: 30 * 86_400_000 });
const tags = fc.dictionary(fc.constantFrom('station', 'source', 'k'), fc.constantFrom('a', 'b', 'c', 'fuzz'), { maxKeys: 3 });
const numFields = fc.dictionary(fc.constantFrom('n_a', 'n_b', 'n_c'), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }), { minKeys: 1, maxKeys: 3 });
const strFields = fc.dictionary(fc.constantFrom('s_a', 's_b'), fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ' ')), { maxKeys: 2 });
const telemetry: fc.Arbitrary<ItemSpec> = fc.record({ kind: fc.constant('telemetry' as const), m: fc.constant('fuzz'), tags, fields: fc.tuple(numFields, strFields).map(([a, b]) => ({ ...a, ...b })), ageMs: age });
const event: fc.Arbitrary<ItemSpec> = fc.record({ kind: fc.constant('event' as const), ageMs: age, body: fc.record({ type: fc.constantFrom('fuzz.event', 'bike.rental'), source: fc.constantFrom('f1', 'f2'), phase: fc.constantFrom('instant', 'start', 'end'), data: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) }) });
const alert: fc.Arbitrary<ItemSpec> = fc.record({ kind: fc.constant('alert' as const), ageMs: age, body: fc.record({ rule: fc.constantFrom('fuzz-rule', 'pm25-1h', 'bike.station_empty'), source: fc.constantFrom('x', 'AIR0001AOTIZHONGXIN2017/PM2.5'), state: fc.constantFrom('raise', 'clear'), severity: fc.constantFrom('info', 'warning', 'critical'), message: fc.string({ maxLength: 60 }), data: fc.constant({}) }) });
const anyItem = fc.oneof({ arbitrary: telemetry, weight: 6 }, { arbitrary: event, weight: 2 }, { arbitrary: alert, weight: 2 });
/** Valid items of the fuzz site inside the measurements the real sites write, with the same field types. */
const foreign: fc.Arbitrary<ItemSpec> = fc.oneof(
  fc.record({ kind: fc.constant('telemetry' as const), m: fc.constant('air'), tags: fc.constant({ station: 'Aotizhongxin', source: 'aq' }), fields: fc.record({ pm25: fc.integer({ min: 0, max: 999 }) }), ageMs: age }),
  fc.record({ kind: fc.constant('telemetry' as const), m: fc.constant('hj212'), tags: fc.constant({ station: 'AIR0001AOTIZHONGXIN2017', pollutant: 'PM2.5', code: 'a34004', period: 'hour' }), fields: fc.record({ avg: fc.integer({ min: 0, max: 999 }) }), ageMs: age }),
  fc.record({ kind: fc.constant('telemetry' as const), m: fc.constant('bike_station'), tags: fc.constant({ station: '2351' }), fields: fc.record({ num_bikes_available: fc.integer({ min: 0, max: 40 }) }), ageMs: age }),
);
/** Items that break the item schema in one place (or are not items at all). */
const badItem: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({ id: fc.string({ maxLength: 40 }), seq: fc.oneof(fc.integer({ min: -5, max: 0 }), fc.double(), fc.string()), ts: fc.oneof(fc.string(), fc.integer({ min: 0, max: 946_684_799_999 }), fc.constant(32_503_680_000_001)), kind: fc.constantFrom('telemetry', 'bogus', 'snapshot'), m: fc.constantFrom('has space', '', '9lead', 'x'.repeat(65)), tags: fc.constant({ bad: 'line\nbreak' }), fields: fc.constant({}) }),
  fc.record({ kind: fc.constant('telemetry'), m: fc.constant('fuzz'), tags: fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 300 }), { minKeys: 17, maxKeys: 20 }), fields: fc.constant({ n_a: 1 }) }),
);

const refusedCase: fc.Arbitrary<FuzzCase> = fc.record({ kind: fc.constant('refused' as const), variant: fc.constantFrom('type-conflict' as const, 'time-field' as const, 'time-tag' as const) });

export function fuzzCaseArb(refused: 'mixed' | 'only'): fc.Arbitrary<FuzzCase> {
  if (refused === 'only') return refusedCase;
  const kinds: Array<fc.WeightedArbitrary<FuzzCase>> = [
    { weight: 10, arbitrary: fc.record({ kind: fc.constant('bad-json' as const), channel, text: fc.oneof(fc.string({ maxLength: 200 }).map((s) => `{"v":1,${s}`), fc.string({ maxLength: 200 }).filter((s) => { try { JSON.parse(s); return false; } catch { return true; } })) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('bad-bytes' as const), channel, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 256 }) }) },
    { weight: 10, arbitrary: fc.record({ kind: fc.constant('bad-schema' as const), channel, body: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ v: fc.constantFrom(0, 2, '1'), site: fc.constantFrom('chaos-fuzz', 'BAD SITE', ''), stream: fc.constantFrom('short', 'x'.repeat(41), 'ok-stream-01'), items: fc.constantFrom([], [1], 'no') }, { requiredKeys: [] })) }) },
    { weight: 12, arbitrary: fc.record({ kind: fc.constant('bad-items' as const), channel: fc.constantFrom('telemetry', 'events', 'alerts'), items: fc.array(badItem, { minLength: 1, maxLength: 5 }) }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('wrong-channel' as const), channel: fc.constantFrom('events', 'alerts', 'cmdres', 'snapshots'), item: telemetry }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('oversize' as const), extra: fc.integer({ min: 1, max: 65_536 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrong-site' as const), target: fc.nat(), channel: fc.constantFrom('telemetry', 'events', 'alerts', 'status'), item: fc.oneof(foreign, anyItem) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cmd-topic' as const), name: fc.constantFrom('ping', 'model.deploy', 'x'), body: fc.jsonValue({ maxDepth: 2 }) }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('unknown-topic' as const), level: fc.constantFrom('telemetri', 'cmd2', 'status2', 'x', 'TELEMETRY'), deeper: fc.boolean(), item: telemetry }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('site-mismatch' as const), target: fc.nat(), item: fc.oneof(foreign, telemetry) }) },
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('dup-ids' as const), items: fc.array(anyItem.filter((i) => i.kind === 'telemetry'), { minLength: 2, maxLength: 6 }), sameSeq: fc.boolean() }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('huge-seq' as const), seq: fc.constantFrom(2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1e300), item: telemetry }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('future-ts' as const), aheadMs: fc.integer({ min: 6 * 60_000, max: 1000 * 86_400_000 }), item: telemetry }) },
    { weight: 14, arbitrary: fc.record({ kind: fc.constant('valid' as const), items: fc.array(anyItem, { minLength: 1, maxLength: 8 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('foreign-measurement' as const), items: fc.array(foreign, { minLength: 1, maxLength: 4 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('status' as const), body: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ v: fc.constant(1), site: fc.constantFrom('chaos-fuzz', 'chaos-air'), online: fc.boolean(), ts: fc.integer({ min: 946_684_800_000, max: 32_503_680_000_000 }), health: fc.constant({ fuzz: true }) })) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('takeover' as const), target: fc.nat() }) },
  ];
  return fc.oneof(...kinds);
}

/** `n` cases of one burst, the same for the same seed: the mixed hostile input, or only items InfluxDB refuses. */
export function fuzzCases(seed: number, n: number, mode: 'mixed' | 'only-refused' = 'mixed'): FuzzCase[] {
  return fc.sample(fuzzCaseArb(mode === 'only-refused' ? 'only' : 'mixed'), { seed: seed | 0, numRuns: n });
}

export interface FuzzOptions {
  url: string;
  site: string;
  password: string;
  /** Real sites, for wrong-site topics, payloads naming another site, client-id takeover attempts. */
  otherSites: string[];
  maxMessageBytes: number;
  /** Cases per second at most (the point is correctness, not load). */
  rate: number;
  concurrency: number;
  log?: (msg: string) => void;
}

export interface FuzzStats {
  cases: number;
  byKind: Record<string, { sent: number; acked: number; closed: number; unanswered: number; skipped: number }>;
  connects: number;
  connectFailures: number;
  /** takeover attempts the broker accepted under another site's client id (a defect when > 0 on the embedded broker). */
  takeoverAccepted: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes cases with the fuzz site's credentials; reconnects when the broker drops it (ACL refusals do). */
export class FuzzClient {
  private client?: MqttClient;
  private readonly seq = new Map<string, number>();
  private readonly usedIds: string[] = [];
  readonly stats: FuzzStats = { cases: 0, byKind: {}, connects: 0, connectFailures: 0, takeoverAccepted: 0 };

  constructor(private readonly o: FuzzOptions) {}

  private connectOnce(clientId = this.o.site): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const c = mqtt.connect(this.o.url, { clientId, username: this.o.site, password: this.o.password, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, clean: true, keepalive: 10 });
      c.once('connect', () => resolve(c));
      c.once('error', (err) => { c.end(true); reject(err); });
      c.once('close', () => reject(new Error('closed before CONNACK')));
    });
  }

  private async ensure(deadline: number): Promise<MqttClient | undefined> {
    while (!this.client || !this.client.connected) {
      if (Date.now() > deadline) return undefined;
      this.client?.end(true);
      this.client = undefined;
      try {
        this.client = await this.connectOnce();
        this.stats.connects++;
      } catch {
        this.stats.connectFailures++;
        await sleep(500);
      }
    }
    return this.client;
  }

  private nextSeq(stream: string): number {
    const n = (this.seq.get(stream) ?? 0) + 1;
    this.seq.set(stream, n);
    return n;
  }

  private item(spec: ItemSpec, stream: string, over: Record<string, Json> = {}): Record<string, Json> {
    const id = newMessageId();
    this.usedIds.push(id);
    if (this.usedIds.length > 200) this.usedIds.shift();
    const base: Record<string, Json> = { id, seq: this.nextSeq(stream), ts: Date.now() - spec.ageMs, kind: spec.kind };
    if (spec.kind === 'telemetry') Object.assign(base, { m: spec.m, tags: spec.tags ?? {}, fields: spec.fields ?? {} });
    else Object.assign(base, spec.body);
    return { ...base, ...over };
  }

  private batch(site: string, stream: string, items: Json[]): string {
    return JSON.stringify({ v: 1, site, stream, sentAt: Date.now(), items });
  }

  private channelOf(spec: ItemSpec): string {
    return spec.kind === 'telemetry' ? 'telemetry' : spec.kind === 'event' ? 'events' : 'alerts';
  }

  /** Topic and payload of a case; `exclusive` ones may make the broker drop the connection. */
  render(c: FuzzCase): { topic: string; payload: Buffer | string; exclusive: boolean } | { takeover: string } {
    const own = (ch: string) => `ce/v1/${this.o.site}/${ch}`;
    const other = (n: number) => this.o.otherSites[n % this.o.otherSites.length];
    const s = this.o.site;
    switch (c.kind) {
      case 'bad-json': return { topic: own(c.channel), payload: c.text, exclusive: false };
      case 'bad-bytes': return { topic: own(c.channel), payload: Buffer.from(c.bytes), exclusive: false };
      case 'bad-schema': return { topic: own(c.channel), payload: JSON.stringify(c.body) ?? 'null', exclusive: false };
      case 'bad-items': return { topic: own(c.channel), payload: this.batch(s, 'fuzzstream-bad', c.items), exclusive: false };
      case 'wrong-channel': return { topic: own(c.channel), payload: this.batch(s, 'fuzzstream-wch', [this.item(c.item, 'fuzzstream-wch')]), exclusive: false };
      case 'oversize': {
        const pad = 'x'.repeat(this.o.maxMessageBytes + c.extra);
        return { topic: own('telemetry'), payload: this.batch(s, 'fuzzstream-big', [this.item({ kind: 'telemetry', m: 'fuzz', tags: {}, fields: { s_a: pad }, ageMs: 0 }, 'fuzzstream-big')]), exclusive: false };
      }
      case 'wrong-site': {
        const site = other(c.target);
        return { topic: `ce/v1/${site}/${c.channel}`, payload: this.batch(site, 'fuzzspoof01', [this.item(c.item, 'fuzzspoof01')]), exclusive: true };
      }
      case 'cmd-topic': return { topic: `ce/v1/${s}/cmd/${c.name}`, payload: JSON.stringify(c.body) ?? 'null', exclusive: true };
      case 'unknown-topic': return { topic: `ce/v1/${s}/${c.level}${c.deeper ? '/more' : ''}`, payload: this.batch(s, 'fuzzstream-unk', [this.item(c.item, 'fuzzstream-unk')]), exclusive: false };
      case 'site-mismatch': return { topic: own(this.channelOf(c.item)), payload: this.batch(other(c.target), 'fuzzstream-mis', [this.item(c.item, 'fuzzstream-mis')]), exclusive: false };
      case 'dup-ids': {
        const items = c.items.map((i) => this.item(i, 'fuzzstream-dup'));
        for (const it of items) it.id = items[0].id as string;
        if (c.sameSeq) for (const it of items) it.seq = items[0].seq as number;
        // and one id already used by an earlier message
        if (this.usedIds.length > 1) items[items.length - 1].id = this.usedIds[0];
        return { topic: own('telemetry'), payload: this.batch(s, 'fuzzstream-dup', items), exclusive: false };
      }
      case 'huge-seq': return { topic: own('telemetry'), payload: this.batch(s, 'fuzzstream-huge', [this.item(c.item, 'fuzzstream-huge', { seq: c.seq })]), exclusive: false };
      case 'future-ts': return { topic: own('telemetry'), payload: this.batch(s, 'fuzzstream-fut', [this.item(c.item, 'fuzzstream-fut', { ts: Math.min(32_503_680_000_000, Date.now() + c.aheadMs) })]), exclusive: false };
      case 'valid': {
        const ch = this.channelOf(c.items[0]);
        const items = c.items.filter((i) => this.channelOf(i) === ch).map((i) => this.item(i, 'fuzzstream-ok'));
        return { topic: own(ch), payload: this.batch(s, 'fuzzstream-ok', items), exclusive: false };
      }
      case 'foreign-measurement': return { topic: own('telemetry'), payload: this.batch(s, 'fuzzstream-frn', c.items.map((i) => this.item(i, 'fuzzstream-frn'))), exclusive: false };
      case 'status': return { topic: own('status'), payload: JSON.stringify(c.body) ?? 'null', exclusive: false };
      case 'takeover': return { takeover: other(c.target) };
      case 'refused': {
        const spec: ItemSpec = c.variant === 'type-conflict' ? { kind: 'telemetry', m: 'fuzz', tags: {}, fields: { n_a: 'now a string' }, ageMs: 0 }
          : c.variant === 'time-field' ? { kind: 'telemetry', m: 'fuzz', tags: {}, fields: { time: 1, n_a: 1 }, ageMs: 0 }
            : { kind: 'telemetry', m: 'fuzz', tags: { time: 'x' }, fields: { n_a: 1 }, ageMs: 0 };
        return { topic: own('telemetry'), payload: this.batch(s, 'fuzzstream-ref', [this.item(spec, 'fuzzstream-ref')]), exclusive: false };
      }
    }
  }

  private count(kind: string, what: 'sent' | 'acked' | 'closed' | 'unanswered' | 'skipped'): void {
    const k = (this.stats.byKind[kind] ??= { sent: 0, acked: 0, closed: 0, unanswered: 0, skipped: 0 });
    k[what]++;
  }

  private publish(client: MqttClient, topic: string, payload: Buffer | string, kind: string): Promise<void> {
    this.count(kind, 'sent');
    return new Promise<void>((resolve) => {
      let settled = false;
      const done = (what: 'acked' | 'closed' | 'unanswered') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.off('close', onClose);
        this.count(kind, what);
        resolve();
      };
      const onClose = () => done('closed');
      const timer = setTimeout(() => done('unanswered'), 10_000);
      client.once('close', onClose);
      client.publish(topic, payload, { qos: 1 }, (err) => done(err ? 'closed' : 'acked'));
    });
  }

  private async takeover(target: string): Promise<void> {
    this.count('takeover', 'sent');
    try {
      const c = await this.connectOnce(target);
      // mosquitto with use_username_as_clientid: the session is our own (the id becomes our username)
      this.stats.takeoverAccepted++;
      this.count('takeover', 'acked');
      c.end(true);
    } catch {
      this.count('takeover', 'closed');
    }
  }

  /**
   * Send the cases; returns when all were sent and answered (or `deadline` passed). At most
   * `maxTakeovers` client-id takeover attempts per call: each refused one is an authentication
   * failure of this username (security.authFailures), and more than a few a minute would put the
   * fuzz site — by design — into a back-off; the rest of those cases are skipped and counted.
   */
  async run(cases: FuzzCase[], deadline: number, maxTakeovers = 1): Promise<void> {
    const inflight = new Set<Promise<void>>();
    const interval = 1000 / this.o.rate;
    let next = Date.now();
    for (const c of cases) {
      if (Date.now() > deadline) break;
      this.stats.cases++;
      const r = this.render(c);
      if ('takeover' in r) {
        if (maxTakeovers-- <= 0) { this.count('takeover', 'skipped'); continue; }
        await Promise.all(inflight);
        await this.takeover(r.takeover);
        continue;
      }
      const client = await this.ensure(deadline);
      if (!client) break;
      if (r.exclusive) {
        await Promise.all(inflight); // a refusal drops the connection: let the others finish first
        await this.publish(client, r.topic, r.payload, c.kind);
      } else {
        const p: Promise<void> = this.publish(client, r.topic, r.payload, c.kind).then(() => { inflight.delete(p); });
        inflight.add(p);
        if (inflight.size >= this.o.concurrency) await Promise.race(inflight);
      }
      next += interval;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else next = Date.now();
    }
    await Promise.all(inflight);
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
    this.client = undefined;
  }
}
