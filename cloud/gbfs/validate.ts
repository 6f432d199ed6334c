/**
 * Validate feeds against the official GBFS JSON Schemas (MobilityData gbfs-json-schema,
 * draft-07) from the data directory (`gbfs-schemas/v2.3`, `gbfs-schemas/v3.0`).
 * Used by tests and available to the end-to-end test of the cloud.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { dataFile } from '../../lib/data-dir.ts';
import type { GbfsVersion } from './feeds.ts';

// ajv-formats is CJS with a default export; under NodeNext it arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export type GbfsValidator = (feed: string, doc: unknown) => string[];

export function gbfsValidator(version: GbfsVersion): GbfsValidator {
  const dir = dataFile('gbfs-schemas', `v${version}`);
  // The schemas use keywords ajv's strict mode flags (e.g. `description` inside `enum` siblings); they are still draft-07.
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const cache = new Map<string, ValidateFunction>();
  return (feed, doc) => {
    let v = cache.get(feed);
    if (!v) {
      const schema = JSON.parse(fs.readFileSync(path.join(dir, `${feed}.json`), 'utf8'));
      v = ajv.compile(schema);
      cache.set(feed, v);
    }
    if (v(doc)) return [];
    return (v.errors ?? []).slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  };
}
