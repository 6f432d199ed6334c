import type { CameraRuleGeometry } from '../../../protocol/schemas.ts';
import type { Rule } from './schema.ts';

/**
 * Each rule's line or zone (normalised 0..1, as configured) in the protocol's CameraRulesGeometry
 * form: the camera reports it in its status (`health().rules`), and the cloud console draws it
 * over the camera's latest frame.
 */
export function rulesGeometry(rules: Rule[]): CameraRuleGeometry[] {
  return rules.map((r): CameraRuleGeometry => (r.type === 'line'
    ? { id: r.id, type: 'line', line: [[r.line[0][0], r.line[0][1]], [r.line[1][0], r.line[1][1]]], names: { forward: r.names.forward, backward: r.names.backward } }
    : { id: r.id, type: r.type, zone: r.zone.map(([x, y]) => [x, y] as [number, number]) }));
}
