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

/** The same ACL for mosquitto (acl_file), where %u is the username = site id. */
export const MOSQUITTO_ACL = `# cityedge per-site ACL for mosquitto (username = site id)
# the cloud ingest user
user cityedge-ingest
topic read ${TOPIC_ROOT}/+/+
topic write ${TOPIC_ROOT}/+/cmd/#

# every site
pattern write ${TOPIC_ROOT}/%u/telemetry
pattern write ${TOPIC_ROOT}/%u/events
pattern write ${TOPIC_ROOT}/%u/alerts
pattern write ${TOPIC_ROOT}/%u/snapshots
pattern write ${TOPIC_ROOT}/%u/status
pattern write ${TOPIC_ROOT}/%u/cmdres
pattern read ${TOPIC_ROOT}/%u/cmd/#
`;
