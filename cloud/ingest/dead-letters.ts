import type { CloudDb } from '../db.ts';

export interface DeadLetter { id: number; at: number; topic: string; site: string | null; code: string; reason: string; payload?: string }

/** Rejected messages and items with the reason, capped in rows (oldest go first). */
export class DeadLetters {
  private readonly st;
  private inserted = 0;
  constructor(private readonly db: CloudDb, private readonly maxRows = 100_000, private readonly maxPayloadBytes = 16 * 1024) {
    this.st = {
      insert: db.prepare('INSERT INTO dead_letters (at, topic, site, code, reason, payload) VALUES (?, ?, ?, ?, ?, ?)'),
      trim: db.prepare('DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?'),
    };
  }

  /** Store one rejection (call inside the ingest transaction). */
  add(topic: string, site: string | null, code: string, reason: string, payload: Buffer | string | undefined): void {
    let p: Buffer | null = null;
    if (payload !== undefined) {
      const b = typeof payload === 'string' ? Buffer.from(payload) : payload;
      p = b.length > this.maxPayloadBytes ? b.subarray(0, this.maxPayloadBytes) : b;
    }
    this.st.insert.run(Date.now(), topic, site, code, reason, p);
    if (++this.inserted % 1000 === 0) this.st.trim.run(this.maxRows);
  }

  list(opts: { code?: string; site?: string; limit?: number } = {}): DeadLetter[] {
    const conds: string[] = [];
    const args: unknown[] = [];
    if (opts.code) { conds.push('code = ?'); args.push(opts.code); }
    if (opts.site) { conds.push('site = ?'); args.push(opts.site); }
    const rows = this.db.prepare(`SELECT id, at, topic, site, code, reason, payload FROM dead_letters ${conds.length ? 'WHERE ' + conds.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`)
      .all(...args, Math.min(opts.limit ?? 100, 1000)) as Array<DeadLetter & { payload: Buffer | null }>;
    return rows.map((r) => ({ ...r, payload: r.payload ? r.payload.toString('utf8') : undefined }));
  }

  countsByCode(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.db.prepare('SELECT code, count(*) AS n FROM dead_letters GROUP BY code').all() as Array<{ code: string; n: number }>) out[r.code] = r.n;
    return out;
  }
}
