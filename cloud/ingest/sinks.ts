import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AlertItem, EventItem, SnapshotItem, TelemetryItem } from '../../protocol/schemas.ts';
import type { CloudDb } from '../db.ts';
import type { Point, SeriesStore } from '../store/types.ts';
import type { IngestSink, SpooledItem } from './ingest.ts';

/**
 * Telemetry and aggregates → the series store. The point time is the observed time;
 * the received time is kept as the field `received_ms`. The site is always a tag.
 */
export function seriesSink(store: SeriesStore): IngestSink {
  return {
    name: 'series',
    // points are keyed by series and observed time: any order of batches gives the same points
    anyOrder: true,
    kinds: ['telemetry', 'aggregate'],
    async write(items: SpooledItem[]) {
      // Lines an ingest worker made (prepare.ts) go as they are, when the store takes lines;
      // the points are made only if the store refuses some (to name them).
      if (store.writeLines && items.every((s) => s.line)) return store.writeLines(items.map((s) => s.line!), () => toPoints(items));
      await store.write(toPoints(items));
    },
  };
}

/** The items as points: the site as a tag, the received time as the field `received_ms`. */
function toPoints(items: SpooledItem[]): Point[] {
  const points: Point[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const { site, received, item } = items[i];
    const t = item as TelemetryItem;
    // The item is ours after parsing: extend its objects instead of copying them.
    const tags = t.tags as Record<string, string>;
    tags.site = site;
    const fields = t.fields as Record<string, number | string | boolean>;
    fields.received_ms = received;
    points[i] = { measurement: t.m, tags, fields, time: t.ts };
  }
  return points;
}

/**
 * Events, alerts and command results → the cloud's `events` table (idempotent by message id).
 * Features that act on them (alert lifecycle, rollouts) add their own sinks.
 */
export function eventsSink(db: CloudDb): IngestSink {
  const insert = db.prepare('INSERT OR IGNORE INTO events (id, site, kind, type, source, ts, received, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  return {
    name: 'events',
    anyOrder: true, // insert-or-ignore by message id
    kinds: ['event', 'alert', 'cmdres'],
    async write(items: SpooledItem[]) {
      db.transaction(() => {
        for (const { site, received, item } of items) {
          const type = item.kind === 'event' ? (item as EventItem).type : item.kind === 'alert' ? (item as AlertItem).rule : 'cmdres';
          const source = item.kind === 'event' || item.kind === 'alert' ? (item as EventItem | AlertItem).source : site;
          insert.run(item.id, site, item.kind, type, source, item.ts, received, JSON.stringify(item));
        }
      })();
    },
  };
}

/**
 * Snapshots → content-addressed JPEG files (sha256 name, so a resend is the same file)
 * plus a row linking them to their event.
 */
export function snapshotSink(db: CloudDb, dir: string): IngestSink {
  fs.mkdirSync(dir, { recursive: true });
  const insert = db.prepare('INSERT OR IGNORE INTO events (id, site, kind, type, source, ts, received, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  return {
    name: 'snapshots',
    anyOrder: true, // content-addressed files, insert-or-ignore rows
    kinds: ['snapshot'],
    async write(items: SpooledItem[]) {
      for (const { site, received, item } of items) {
        const s = item as SnapshotItem;
        const bytes = Buffer.from(s.data, 'base64');
        const digest = crypto.createHash('sha256').update(bytes).digest('hex');
        const file = path.join(dir, digest.slice(0, 2), `${digest}.jpg`);
        if (!fs.existsSync(file)) {
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(`${file}.tmp`, bytes);
          fs.renameSync(`${file}.tmp`, file);
        }
        insert.run(s.id, site, 'snapshot', s.role, s.ref, s.ts, received, JSON.stringify({ ...s, data: undefined, sha256: digest, bytes: bytes.length }));
      }
    },
  };
}
