import mqtt, { type MqttClient } from 'mqtt';
import { errMessage, isCoded } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { topics } from '../../protocol/topics.ts';
import type { Ingest } from '../ingest/ingest.ts';

export interface ExternalBrokerOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  /** Shared-subscription group: several cloud instances split the load ($share/<group>/…, mosquitto 2, EMQX). */
  shareGroup?: string;
}

/**
 * Ingest attached to an external broker (mosquitto, EMQX) as a persistent-session
 * QoS 1 subscriber. mqtt.js sends our PUBACK only after `handleMessage` calls back,
 * and we call back only after `ingest.accept` has spooled the message durably; if the
 * spool fails we drop the connection unacknowledged, so the broker redelivers.
 */
export class ExternalBrokerIngest {
  private client?: MqttClient;
  constructor(private readonly opts: ExternalBrokerOptions, private readonly ingest: Ingest, private readonly log: Logger) {}

  async start(): Promise<void> {
    const filter = this.opts.shareGroup ? `$share/${this.opts.shareGroup}/${topics.ingestFilter}` : topics.ingestFilter;
    const client = mqtt.connect(this.opts.url, {
      clientId: this.opts.clientId,
      username: this.opts.username,
      password: this.opts.password,
      clean: false,
      reconnectPeriod: 1000,
      protocolVersion: 4,
    });
    this.client = client;
    client.handleMessage = (packet, callback) => {
      // Spool full (after waiting up to ingest.spoolCap.holdMs for room) or failed: no PUBACK; the
      // connection is dropped so the broker keeps the message in our session and redelivers it.
      const stream = client.stream;
      this.ingest.admit(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload), undefined, (err) => {
        if (stream !== client.stream) return; // reconnected while held: the broker redelivers it (a duplicate then)
        if (!err) return callback();
        if (!isCoded(err, 'INGEST_SPOOL_FULL')) this.log.error({ err: errMessage(err) }, 'ingest spool failed; dropping connection without acknowledging');
        client.stream.destroy();
      });
    };
    client.on('connect', (ack) => {
      if (!ack.sessionPresent) client.subscribe(filter, { qos: 1 }, (err) => err && this.log.error({ err: err.message }, 'ingest subscription failed'));
      this.log.info({ url: this.opts.url, filter }, 'ingest attached to external broker');
    });
    client.on('error', (err) => this.log.warn({ err: err.message }, 'external broker error'));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  }

  /** Publish a command to a site through the external broker. */
  async publishCommand(site: string, name: string, payload: unknown): Promise<void> {
    await this.publish(topics.command(site, name), JSON.stringify(payload));
  }

  async publish(topic: string, payload: Buffer | string, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    await this.client!.publishAsync(topic, payload, { qos: opts.qos ?? 1, retain: !!opts.retain });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined);
  }
}
