import { TOPIC_ROOT, topics } from '../../protocol/topics.ts';

/**
 * Per-site topic ACL (ARCHITECTURE invariant 4): a site publishes only under its own
 * prefix and never to command topics; it subscribes only to its own commands.
 * Filters with wildcards are allowed only when they stay inside the site's command tree.
 */
export function aclAllowsPublish(site: string, topic: string): boolean {
  const prefix = topics.prefix(site);
  return topic.startsWith(prefix) && !topic.startsWith(`${prefix}cmd/`) && !topic.includes('+') && !topic.includes('#');
}

export function aclAllowsSubscribe(site: string, filter: string): boolean {
  const cmd = `${TOPIC_ROOT}/${site}/cmd/`;
  if (filter === `${TOPIC_ROOT}/${site}/cmd/#`) return true;
  if (!filter.startsWith(cmd)) return false;
  const rest = filter.slice(cmd.length);
  // '#' only as the whole last level; '+' only as a whole level.
  return rest.split('/').every((lvl, i, all) => (lvl === '#' ? i === all.length - 1 : lvl === '+' || (!lvl.includes('#') && !lvl.includes('+'))));
}

// The same rules for mosquitto live in docker/mosquitto/acl (tested in test/e2e/mosquitto-acl.int.test.ts).
