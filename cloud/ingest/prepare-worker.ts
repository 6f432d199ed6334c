/**
 * An ingest worker thread: prepares MQTT messages (prepare.ts) off the thread that speaks MQTT
 * and commits the spool. Stateless: a crash loses nothing, the main thread prepares what was
 * in flight itself (workers.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { prepareMessage, type PrepareLimits } from './prepare.ts';

export interface PrepareJob { id: number; topic: string; payload: Uint8Array; site?: string; received: number }

const limits = workerData as PrepareLimits;
parentPort!.on('message', (job: PrepareJob) => {
  let out;
  try {
    out = prepareMessage(job.topic, job.payload, job.site, job.received, limits);
  } catch {
    out = { t: 'main' as const };
  }
  const transfer = out.t === 'batch' ? [out.seqs.buffer, out.ts.buffer, out.kinds.buffer, out.mIndex.buffer, out.lineEnds.buffer] : [];
  parentPort!.postMessage({ id: job.id, out }, transfer as ArrayBuffer[]);
});
