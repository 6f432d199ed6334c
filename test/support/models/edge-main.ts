/**
 * An edge process with the model manager's commands attached and a frame pump on the site's
 * slot (argv: <edge config JSON file> [video file]). Used by the kill -9 integration test and
 * usable by the demo until the edge runtime passes registerCommand to sources.
 */
import fs from 'node:fs';
import path from 'node:path';
import { validateEdgeConfig } from '../../../edge/config.ts';
import { Edge } from '../../../edge/edge.ts';
import { attachModelCommands } from '../../../edge/sources/model-manager.ts';
import { modelSlot } from '../../../edge/models/slot.ts';
import { decodeFrames, FramePump } from './frame-pump.ts';

const [file, video] = process.argv.slice(2);
const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
const { config, factories } = await validateEdgeConfig(raw, file, path.dirname(file));
const edge = new Edge(config, factories);
await edge.start();
if (!attachModelCommands(edge)) throw new Error('no model-manager source in this config');
let pump: FramePump | undefined;
if (video) pump = new FramePump(modelSlot(config.site), await decodeFrames(video, 8), 5).start();
process.stdout.write('READY\n');
const stop = async () => { await pump?.stop(); await edge.stop(); process.exit(0); };
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
