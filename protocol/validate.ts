import { CodedError } from '../lib/errors.ts';
import { checkers, CHANNEL_OF_KIND, type CameraRuleGeometry, type Item } from './schemas.ts';
import type { UpstreamChannel } from './topics.ts';

type Checker = (typeof checkers)[keyof typeof checkers];

function firstError(checker: Checker, value: unknown): string {
  const e = checker.Errors(value).First();
  return e ? `${e.path || '/'}: ${e.message}` : 'does not match the schema';
}

const byKind: Record<string, Checker> = {
  telemetry: checkers.telemetry,
  aggregate: checkers.telemetry,
  event: checkers.event,
  alert: checkers.alert,
  snapshot: checkers.snapshot,
  cmdres: checkers.cmdres,
};

/**
 * Validate one item. Errors are coded: PROTO_ITEM_KIND (unknown kind), PROTO_ITEM_SCHEMA
 * (fields wrong), PROTO_WRONG_CHANNEL (a kind sent on a channel that does not carry it).
 */
export function validateItem(value: unknown, channel?: UpstreamChannel): Item {
  const kind = value && typeof value === 'object' ? (value as { kind?: unknown }).kind : undefined;
  const checker = typeof kind === 'string' ? byKind[kind] : undefined;
  if (!checker) throw new CodedError('PROTO_ITEM_KIND', `item kind ${JSON.stringify(kind)} is not one of ${Object.keys(byKind).join(', ')}`);
  if (!checker.Check(value)) throw new CodedError('PROTO_ITEM_SCHEMA', `${kind} item: ${firstError(checker, value)}`);
  const item = value as Item;
  if (channel && CHANNEL_OF_KIND[item.kind] !== channel) {
    throw new CodedError('PROTO_WRONG_CHANNEL', `a ${item.kind} item belongs on the ${CHANNEL_OF_KIND[item.kind]} channel, not ${channel}`);
  }
  return item;
}

export function schemaError(checker: Checker, value: unknown): string {
  return firstError(checker, value);
}

/**
 * Validate the rule geometry a camera reports in its status (`health.sources.<camera>.rules`):
 * PROTO_CAMERA_RULES when it does not match `CameraRulesGeometry` (the message names the first
 * failing path). The edge checks before it reports; the cloud before it serves the geometry.
 */
export function validateCameraRules(value: unknown): CameraRuleGeometry[] {
  if (!checkers.cameraRules.Check(value)) throw new CodedError('PROTO_CAMERA_RULES', `camera rules geometry: ${firstError(checkers.cameraRules, value)}`);
  return value as CameraRuleGeometry[];
}
