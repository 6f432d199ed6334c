import type { Logger } from '../../lib/log.ts';
import { CodedError, errMessage } from '../../lib/errors.ts';
import type { Reading } from '../../lib/contract/reading.ts';
import type { OpcuaItem, OpcuaDevice } from './config.ts';
import { flagOfStatus } from './status-flags.ts';

type UA = typeof import('node-opcua');
type Client = import('node-opcua').OPCUAClient;
type Session = import('node-opcua').ClientSession;
type Subscription = import('node-opcua').ClientSubscription;
type DataValue = import('node-opcua').DataValue;

/**
 * OPC UA client side: one session, one subscription, one monitored item per mapped node.
 * Recovery has two layers:
 *  1. node-opcua's own reconnection (secure channel re-opened with backoff, session reactivated,
 *     subscriptions republished/transferred) — connectionStrategy below;
 *  2. our session re-create: when the session closes, the subscription terminates, or neither
 *     data nor keep-alive arrived for `staleAfterMs` (e.g. the server restarted and forgot the
 *     session), the session and subscription are built again from the config.
 */
export class OpcuaSubscriber {
  private ua?: UA;
  private client?: Client;
  private session?: Session;
  private subscription?: Subscription;
  private stopping = false;
  private building?: Promise<void>;
  private watchdog?: NodeJS.Timeout;
  private lastAlive = 0;
  private pending: Reading[] = [];
  private flushScheduled = false;
  private channelUp = false;
  private lastError?: { code: string; message: string; at: number };
  readonly counts = { changes: 0, readings: 0, connectionLost: 0, reconnects: 0, sessionsCreated: 0, rebuilds: 0, errors: {} as Record<string, number> };

  constructor(
    private readonly cfg: OpcuaDevice,
    private readonly log: Logger,
    private readonly onReadings: (rs: Reading[]) => void,
    private readonly pkiDir: string,
  ) {}

  get staleAfterMs(): number {
    return this.cfg.staleAfterMs || 3 * this.cfg.publishingIntervalMs * this.cfg.maxKeepAliveCount;
  }

  /** Starts connecting in the background; never throws for an unreachable server (it keeps retrying). */
  async start(): Promise<void> {
    this.ua = await import('node-opcua');
    const { OPCUAClient, MessageSecurityMode, SecurityPolicy, OPCUACertificateManager } = this.ua;
    const client = OPCUAClient.create({
      applicationName: 'cityedge-edge',
      endpointMustExist: false,
      securityMode: MessageSecurityMode.None,
      securityPolicy: SecurityPolicy.None,
      keepSessionAlive: true,
      requestedSessionTimeout: Math.max(10_000, this.staleAfterMs * 4),
      connectionStrategy: { initialDelay: this.cfg.reconnect.initialDelayMs, maxDelay: this.cfg.reconnect.maxDelayMs, maxRetry: 1_000_000_000 },
      clientCertificateManager: new OPCUACertificateManager({ rootFolder: this.pkiDir, automaticallyAcceptUnknownCertificate: true }),
    });
    client.on('connection_lost', () => {
      this.channelUp = false;
      this.counts.connectionLost++;
      this.log.warn({ endpoint: this.cfg.endpointUrl }, 'opcua connection lost');
    });
    client.on('connection_reestablished', () => {
      this.channelUp = true;
      this.counts.reconnects++;
      this.lastAlive = Date.now(); // give node-opcua's own session repair a stale period before we step in
      this.log.info({ endpoint: this.cfg.endpointUrl }, 'opcua connection re-established');
    });
    this.client = client;
    this.watchdog = setInterval(() => this.checkStale(), Math.max(100, Math.floor(this.staleAfterMs / 4)));
    this.watchdog.unref?.();
    this.building = this.build('start');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchdog) clearInterval(this.watchdog);
    await this.client?.disconnect().catch(() => undefined);
    await this.building?.catch(() => undefined);
    this.flush();
  }

  health(): Record<string, unknown> {
    return { connected: this.channelUp, sessionActive: !!this.session, lastAliveAgoMs: this.lastAlive ? Date.now() - this.lastAlive : null, lastError: this.lastError, ...this.counts };
  }

  private checkStale(): void {
    // While the channel is down, node-opcua's reconnection is in charge (layer 1).
    if (this.stopping || this.building || !this.channelUp) return;
    if (Date.now() - this.lastAlive > this.staleAfterMs) {
      this.log.warn({ staleMs: Date.now() - this.lastAlive }, 'opcua subscription stale: re-creating session');
      this.counts.rebuilds++;
      this.building = this.build('stale');
    }
  }

  /** (Re)build connection, session, subscription and monitored items. */
  private async build(reason: string): Promise<void> {
    try {
      const client = this.client!;
      await this.dropSession();
      if (!this.channelUp) {
        try {
          await client.connect(this.cfg.endpointUrl);
        } catch (err) {
          // Already connected (the channel came back through node-opcua's reconnection) is fine.
          if (!/already/i.test(errMessage(err))) throw this.coded('OPCUA_CONNECT', `cannot connect to ${this.cfg.endpointUrl}: ${errMessage(err)}`, err);
        }
        this.channelUp = true;
      }
      if (this.stopping) return;
      let session: Session;
      try {
        session = await client.createSession();
      } catch (err) {
        throw this.coded('OPCUA_SESSION', `cannot create a session on ${this.cfg.endpointUrl}: ${errMessage(err)}`, err);
      }
      this.counts.sessionsCreated++;
      this.session = session;
      session.on('session_closed', () => {
        if (this.session !== session || this.stopping) return;
        this.log.warn('opcua session closed by the server');
        this.lastAlive = 0; // the watchdog re-creates it
      });
      await this.subscribe(session);
      this.lastAlive = Date.now();
      this.log.info({ reason, items: this.cfg.items.length }, 'opcua subscription active');
    } catch (err) {
      const e = err instanceof CodedError ? err : this.coded('OPCUA_SUBSCRIBE', `subscribing on ${this.cfg.endpointUrl} failed: ${errMessage(err)}`, err);
      this.note(e);
      this.lastAlive = 0;
    } finally {
      this.building = undefined;
    }
  }

  private async subscribe(session: Session): Promise<void> {
    const { ClientMonitoredItem, AttributeIds, TimestampsToReturn } = this.ua!;
    const sub = await session.createSubscription2({
      requestedPublishingInterval: this.cfg.publishingIntervalMs,
      requestedLifetimeCount: this.cfg.maxKeepAliveCount * 3,
      requestedMaxKeepAliveCount: this.cfg.maxKeepAliveCount,
      maxNotificationsPerPublish: 1000,
      publishingEnabled: true,
      priority: 10,
    });
    this.subscription = sub;
    sub.on('keepalive', () => { if (this.subscription === sub) this.lastAlive = Date.now(); });
    sub.on('terminated', () => {
      if (this.subscription !== sub || this.stopping) return;
      this.log.warn('opcua subscription terminated');
      this.lastAlive = 0;
    });
    for (const item of this.cfg.items) {
      const mi = ClientMonitoredItem.create(
        sub,
        { nodeId: item.nodeId, attributeId: AttributeIds.Value },
        { samplingInterval: this.cfg.samplingIntervalMs, discardOldest: true, queueSize: 10 },
        TimestampsToReturn.Both,
      );
      mi.on('changed', (dv: DataValue) => { if (this.subscription === sub) this.onChange(item, dv); });
      mi.on('err', (msg: string) => this.note(this.coded('OPCUA_MONITOR', `monitoring ${item.nodeId} (${item.pollutant}) failed: ${msg}; check the nodeId`, undefined, { nodeId: item.nodeId })));
    }
  }

  private async dropSession(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    this.subscription = undefined;
    if (s) await s.close(true).catch(() => undefined);
  }

  private onChange(item: OpcuaItem, dv: DataValue): void {
    this.lastAlive = Date.now();
    this.counts.changes++;
    const raw = dv.value?.value;
    let value: number;
    if (typeof raw === 'number') value = raw * item.scale + item.offset;
    else if (raw === null || raw === undefined) value = Number.NaN; // kept, flagged and marked not_finite downstream
    else {
      this.note(this.coded('OPCUA_TYPE', `${item.nodeId} (${item.pollutant}) is not a number (${typeof raw}); map a numeric variable`, undefined, { nodeId: item.nodeId }));
      return;
    }
    const code = dv.statusCode?.value ?? 0;
    const r: Reading = {
      station: item.station, pollutant: item.pollutant, value, unit: item.unit,
      observedAt: (dv.sourceTimestamp ?? dv.serverTimestamp ?? new Date()).getTime(),
      flag: flagOfStatus(code), source: `opcua:${this.cfg.id}`,
    };
    if (item.outlet) r.outlet = item.outlet;
    if (code !== 0) r.status = dv.statusCode.name;
    this.pending.push(r);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (!this.pending.length) return;
    const rs = this.pending;
    this.pending = [];
    this.counts.readings += rs.length;
    try {
      this.onReadings(rs);
    } catch (err) {
      this.note(this.coded('OPCUA_EMIT', `emitting ${rs.length} readings failed: ${errMessage(err)}`, err));
    }
  }

  private coded(code: string, message: string, cause?: unknown, details?: Record<string, unknown>): CodedError {
    return new CodedError(code, message, details, cause ? { cause } : undefined);
  }

  private note(e: CodedError): void {
    this.counts.errors[e.code] = (this.counts.errors[e.code] ?? 0) + 1;
    this.lastError = { code: e.code, message: e.message, at: Date.now() };
    this.log.warn({ code: e.code, err: e.message }, 'opcua error');
  }
}
