import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import { Counter, type Registry } from 'prom-client';
import { CodedError, errMessage, isCoded } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { isValidSiteId, topics } from '../../protocol/topics.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import type { Ingest } from '../ingest/ingest.ts';
import { aclAllowsPublish, aclAllowsSubscribe } from './acl.ts';
import { AuthThrottle, DEFAULT_AUTH_FAILURES, type AuthFailuresConfig } from './auth-throttle.ts';

export interface BrokerOptions {
  host: string;
  port: number;
  /** PEM files; when both are set the listener speaks TLS (mqtts). */
  tlsCert?: string;
  tlsKey?: string;
  /** How often revocations are checked (a revoked device is cut off within this). */
  revocationPollMs: number;
  /** Back-off on repeated CONNECT failures (`security.authFailures`); defaults when absent. */
  authFailures?: AuthFailuresConfig;
}

type SiteClient = Client & { site?: string };

/**
 * How much a connection's socket buffers while its publishes are being admitted. aedes reads a
 * client's socket again only after every publish of the last read was authorized — here: spooled
 * and committed — so with the default 16 KiB at most one batch message (up to 256 KiB) is taken
 * at a time per site, each waiting for its own commit. With 1 MiB the publishes a site has in
 * flight arrive together, are prepared in parallel and share a group commit. Memory: up to this
 * much per connection that sends faster than ingest takes it.
 */
const SOCKET_BUFFER_BYTES = 1024 * 1024;

/**
 * The client-id rule: a site's MQTT client id is exactly its site id (= its username), so one
 * site can never present — and take over — another site's session. The edge's uplink sends it;
 * the shipped mosquitto config gets the same effect with `use_username_as_clientid true`.
 */
export function clientIdAllowed(site: string, clientId: string): boolean {
  return clientId === site;
}

/**
 * Embedded MQTT broker (aedes) with device authentication and the per-site ACL.
 *
 * aedes writes the PUBACK of a QoS 1 publish *before* delivering it to subscribers, so
 * ingest runs inside `authorizePublish`: the message is validated and durably spooled
 * (or dead-lettered) before aedes acknowledges it, and if the spool fails the publish
 * is refused and the edge keeps the row. This makes "deleted from the outbox only after
 * PUBACK" mean "deleted only after the cloud has it on disk".
 */
export class EmbeddedBroker {
  readonly aedes: Aedes;
  private server?: net.Server;
  private pollTimer?: NodeJS.Timeout;
  private lastPoll = Date.now();
  private readonly m;
  /** Back-off on repeated authentication failures, per username and per remote address. */
  readonly throttle: AuthThrottle;
  port = 0;

  constructor(private readonly opts: BrokerOptions, private readonly devices: DeviceRegistry, private readonly ingest: Ingest, private readonly log: Logger, registry: Registry) {
    this.m = {
      auth: new Counter({ name: 'cityedge_broker_auth_total', help: 'device authentications', labelNames: ['result'], registers: [registry] }),
      denied: new Counter({ name: 'cityedge_broker_acl_denied_total', help: 'publishes and subscriptions refused by the ACL', labelNames: ['op'], registers: [registry] }),
    };
    this.throttle = new AuthThrottle(opts.authFailures ?? DEFAULT_AUTH_FAILURES, 'mqtt', registry, log);
    this.aedes = new Aedes({
      authenticate: (client, username, password, done) => {
        this.authenticate(client as SiteClient, username, password).then(
          (refusal) => (refusal ? done(refusal as never, false) : done(null, true)),
          (err) => done(err as never, false),
        );
      },
      authorizePublish: (client, packet, done) => this.authorizePublish(client as SiteClient | null, packet, done),
      authorizeSubscribe: (client, sub, done) => {
        const site = (client as SiteClient).site;
        if (!site || !aclAllowsSubscribe(site, sub.topic)) {
          this.m.denied.inc({ op: 'subscribe' });
          this.log.warn({ site, topic: sub.topic }, 'subscription refused by ACL');
          // A null subscription is a SUBACK failure (0x80) [MQTT-3.9.3-1] without dropping the connection.
          return done(null, null as unknown as Subscription);
        }
        done(null, sub);
      },
    });
  }

  /**
   * CONNECT: the username is the site id, the password its device secret, and the client id
   * must be exactly the site id (`clientIdAllowed`). This runs before aedes registers the client,
   * so a refused CONNECT never touches the session that holds that client id: aedes closes an
   * older connection with the same id (and fires its will, or wipes its subscriptions for a
   * clean session) only for a connection it accepts.
   * A username or address in a back-off after repeated failures is refused first, without
   * running scrypt (CONNACK 5). Every refusal below counts as a failure of both.
   * Resolves to undefined (accepted) or the refusal (an Error with the CONNACK returnCode).
   */
  private async authenticate(c: SiteClient, username: string | undefined, password: Buffer | undefined): Promise<Error | undefined> {
    const site = username ?? '';
    const remote = c.conn && 'remoteAddress' in c.conn ? (c.conn as net.Socket).remoteAddress : undefined;
    const refuse = (returnCode: number, message: string) => Object.assign(new Error(message), { returnCode });
    const throttled = this.throttle.check(site, remote);
    if (throttled) {
      this.m.auth.inc({ result: 'throttled' });
      this.log.debug({ code: 'BROKER_AUTH_THROTTLED', site: site.slice(0, 128), remote, scope: throttled.scope, retryAfterMs: throttled.retryAfterMs }, 'CONNECT refused during an authentication back-off');
      return refuse(5, `too many authentication failures; retry in ${Math.ceil(throttled.retryAfterMs / 1000)} s`); // CONNACK 0x05 not authorized
    }
    if (!isValidSiteId(site)) {
      this.m.auth.inc({ result: 'refused' });
      this.throttle.failure(site, remote);
      return refuse(4, 'bad username');
    }
    const ok = await this.devices.verify(site, password);
    if (!ok) {
      this.m.auth.inc({ result: 'refused' });
      this.throttle.failure(site, remote);
      this.log.warn({ code: 'BROKER_AUTH_REFUSED', site, clientId: c.id, remote }, 'device authentication refused');
      return refuse(4, 'bad username or password');
    }
    if (!clientIdAllowed(site, c.id)) {
      this.m.auth.inc({ result: 'clientid_mismatch' });
      this.throttle.failure(site, remote);
      this.log.warn({ code: 'BROKER_CLIENTID_MISMATCH', site, clientId: c.id, remote }, `site ${site} presented a client id that is not its own (it must be "${site}"); refused at CONNECT, the session holding that id is untouched`);
      return refuse(2, `client id must be the site id ${site}`); // CONNACK 0x02 identifier rejected
    }
    this.m.auth.inc({ result: 'ok' });
    this.throttle.success(site);
    c.site = site;
    return undefined;
  }

  private authorizePublish(client: SiteClient | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    if (!client) return done(); // the cloud's own publishes (commands)
    const site = client.site;
    if (!site || !aclAllowsPublish(site, packet.topic)) {
      this.m.denied.inc({ op: 'publish' });
      this.log.warn({ site, topic: packet.topic }, 'publish refused by ACL; disconnecting');
      return done(new Error(`site ${site} may not publish to ${packet.topic}`));
    }
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    // Spool full (after waiting up to ingest.spoolCap.holdMs for room) or failed: refuse, so the
    // edge keeps the row and retries after reconnect. (Ingest logs a full spool once per episode.)
    this.ingest.admit(packet.topic, payload, site, (err) => {
      if (err && !isCoded(err, 'INGEST_SPOOL_FULL')) this.log.error({ err: errMessage(err) }, 'ingest spool failed; refusing publish');
      done(err ?? null);
    });
  }

  async listen(): Promise<void> {
    await this.aedes.listen();
    const { tlsCert, tlsKey } = this.opts;
    if (!!tlsCert !== !!tlsKey) throw new CodedError('BROKER_TLS_CONFIG', 'broker TLS needs both tlsCert and tlsKey');
    this.server = tlsCert && tlsKey
      ? tls.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey), highWaterMark: SOCKET_BUFFER_BYTES }, this.aedes.handle)
      : net.createServer({ highWaterMark: SOCKET_BUFFER_BYTES }, this.aedes.handle);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (err) => reject(new CodedError('BROKER_LISTEN', `cannot listen on ${this.opts.host}:${this.opts.port}: ${err.message}`)));
      this.server!.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    this.pollTimer = setInterval(() => this.cutOffRevoked(), this.opts.revocationPollMs);
    this.pollTimer.unref();
    this.log.info({ port: this.port, tls: !!tlsCert }, 'embedded MQTT broker listening');
  }

  /** Disconnect clients whose device was revoked since the last poll (CLI revocations land in the DB). */
  private cutOffRevoked(): void {
    const since = this.lastPoll - this.opts.revocationPollMs; // overlap: never miss one at the boundary
    this.lastPoll = Date.now();
    const revoked = new Set(this.devices.revokedSince(since));
    if (!revoked.size) return;
    for (const c of this.clients()) {
      if (c.site && revoked.has(c.site)) {
        this.log.warn({ site: c.site }, 'device revoked; disconnecting');
        c.close();
      }
    }
  }

  /** Publish a command to a site (QoS 1). */
  async publishCommand(site: string, name: string, payload: unknown): Promise<void> {
    await this.publish(topics.command(site, name), JSON.stringify(payload));
  }

  /** Publish as the cloud itself (no ACL applies to the broker's own publishes). */
  async publish(topic: string, payload: Buffer | string, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: opts.qos ?? 1, retain: !!opts.retain, dup: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  private clients(): SiteClient[] {
    return Object.values((this.aedes as unknown as { clients: Record<string, SiteClient> }).clients);
  }

  connectedSites(): string[] {
    return (this.clients()).filter((c) => c.site && c.connected).map((c) => c.site!);
  }

  async close(): Promise<void> {
    clearInterval(this.pollTimer);
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

