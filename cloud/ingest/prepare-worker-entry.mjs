// Worker bootstrap for running from the TypeScript sources (vitest, bin/run-ts.mjs): registers the
// tsx loader inside this worker thread, then runs prepare-worker.ts. The compiled package (dist/)
// starts dist/cloud/ingest/prepare-worker.js directly and never loads this file or tsx.
import { register } from 'tsx/esm/api';
register();
await import('./prepare-worker.ts');
