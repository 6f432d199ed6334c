/**
 * Topic scheme, version 1. Every topic a site touches sits under its own prefix
 * `ce/v1/<site>/`, so one ACL pattern per site covers it (ARCHITECTURE invariant 4).
 *
 *   ce/v1/<site>/telemetry     edge → cloud  batch of raw telemetry and aggregates   (QoS 1)
 *   ce/v1/<site>/events        edge → cloud  batch of events                          (QoS 1)
 *   ce/v1/<site>/alerts        edge → cloud  batch of alerts                          (QoS 1)
 *   ce/v1/<site>/snapshots     edge → cloud  batch of evidence snapshots              (QoS 1)
 *   ce/v1/<site>/status        edge → cloud  retained site status; the last will says offline
 *   ce/v1/<site>/cmdres        edge → cloud  command results
 *   ce/v1/<site>/cmd/<name>    cloud → edge  commands (only the site may subscribe)
 *   ce/v1/<site>/cmd/_receipt  cloud → edge  receipts: (stream, seq ranges) safely spooled (QoS 1)
 */
export const PROTOCOL_VERSION = 1;
export const TOPIC_ROOT = 'ce/v1';

export const UPSTREAM_CHANNELS = ['telemetry', 'events', 'alerts', 'snapshots', 'status', 'cmdres'] as const;
export type UpstreamChannel = (typeof UPSTREAM_CHANNELS)[number];

/** Site ids are DNS-label-like so they are safe in topics, file names and tags. */
export const SITE_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
const siteRe = new RegExp(SITE_ID_PATTERN);
export function isValidSiteId(s: string): boolean {
  return siteRe.test(s);
}

/** The command-topic name receipts travel under (not a command: no cmdres; `_` is no command name). */
export const RECEIPT_COMMAND = '_receipt';

export const topics = {
  prefix: (site: string) => `${TOPIC_ROOT}/${site}/`,
  channel: (site: string, ch: UpstreamChannel) => `${TOPIC_ROOT}/${site}/${ch}`,
  status: (site: string) => `${TOPIC_ROOT}/${site}/status`,
  command: (site: string, name: string) => `${TOPIC_ROOT}/${site}/cmd/${name}`,
  commandFilter: (site: string) => `${TOPIC_ROOT}/${site}/cmd/#`,
  receipt: (site: string) => `${TOPIC_ROOT}/${site}/cmd/${RECEIPT_COMMAND}`,
  /** What the ingest subscribes to (all sites, all upstream channels). */
  ingestFilter: `${TOPIC_ROOT}/+/+`,
};

export type ParsedTopic =
  | { site: string; direction: 'up'; channel: UpstreamChannel }
  | { site: string; direction: 'down'; command: string };

/** Parse a topic of the scheme; null when it is not one (unknown topic). */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/');
  if (parts.length < 3 || parts[0] !== 'ce' || parts[1] !== 'v1') return null;
  const site = parts[2];
  if (!isValidSiteId(site)) return null;
  if (parts.length === 4 && (UPSTREAM_CHANNELS as readonly string[]).includes(parts[3])) {
    return { site, direction: 'up', channel: parts[3] as UpstreamChannel };
  }
  if (parts.length === 5 && parts[3] === 'cmd' && parts[4].length > 0) {
    return { site, direction: 'down', command: parts[4] };
  }
  return null;
}
