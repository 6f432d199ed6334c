/**
 * What a camera tells its ffmpeg so that it makes the model frames (camera/ffmpeg-args.ts
 * `modelFilter`): the input geometry of the camera's model card.
 */
import path from 'node:path';
import { loadCard } from '../../../models/card.ts';
import { modelInputSpec } from './preprocess.ts';
import type { ModelInputSpec } from './types.ts';

/**
 * The model input geometry of a camera config (`model` resolved like the camera source does: a
 * path relative to the config's folder, or a card name). None for a model slot (its card can
 * change at run time: the detector then resizes each frame itself) or a card that does not load
 * (the detector reports that).
 */
export function cameraModelInput(c: { model: string; modelSlot?: string }, configDir: string): ModelInputSpec | undefined {
  if (c.modelSlot) return undefined;
  const model = resolveCameraModel(c.model, configDir);
  try {
    return modelInputSpec(loadCard(model));
  } catch {
    return undefined;
  }
}

/** A camera's `model`: a card file path (relative to the config's folder) or a card name, as is. */
export function resolveCameraModel(model: string, configDir: string): string {
  return /[/\\]|\.json$/.test(model) ? path.resolve(configDir, model) : model;
}
