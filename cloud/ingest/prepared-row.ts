/**
 * Main-thread reading of a worker-prepared spool row (prepare.ts makes the PreparedBatch): the
 * drain and the sinks get its items without the payload being parsed until they need tags or fields.
 */
import type { Item } from '../../protocol/schemas.ts';
import { preparedId, type PreparedBatch } from './prepare.ts';

/**
 * The items of a worker-prepared spool row, made from its PreparedBatch without parsing the
 * payload: id, seq, ts, kind and m are there at once (what sinks filter on); `tags` and `fields`
 * (and JSON.stringify, through toJSON) parse the payload once for the whole row, on first use.
 */
export class PreparedRow {
  private parsedItems?: Item[];
  constructor(readonly p: PreparedBatch, private readonly payload: Buffer) {}
  all(): Item[] {
    return (this.parsedItems ??= (JSON.parse(this.payload.toString('utf8')) as { items: Item[] }).items);
  }
  views(): Item[] {
    const out: Item[] = new Array(this.p.n);
    for (let i = 0; i < this.p.n; i++) out[i] = new TelemetryView(this, i) as unknown as Item;
    return out;
  }
}
class TelemetryView {
  readonly id: string;
  readonly seq: number;
  readonly ts: number;
  readonly kind: 'telemetry' | 'aggregate';
  readonly m: string;
  readonly #row: PreparedRow;
  readonly #i: number;
  constructor(row: PreparedRow, i: number) {
    const p = row.p;
    this.id = preparedId(p, i);
    this.seq = p.seqs[i];
    this.ts = p.ts[i];
    this.kind = p.kinds[i] ? 'aggregate' : 'telemetry';
    this.m = p.ms[p.mIndex[i]];
    this.#row = row;
    this.#i = i;
  }
  get tags(): Record<string, string> { return (this.#row.all()[this.#i] as { tags: Record<string, string> }).tags; }
  get fields(): Record<string, number | string | boolean> { return (this.#row.all()[this.#i] as { fields: Record<string, number | string | boolean> }).fields; }
  toJSON(): Item { return this.#row.all()[this.#i]; }
}
