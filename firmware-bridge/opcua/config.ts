import { Type, type Static } from '@sinclair/typebox';
import { validateConfig } from '../../lib/config.ts';

export const OpcuaItemSchema = Type.Object(
  {
    /** OPC UA NodeId string, e.g. `ns=2;s=CEMS.FQ01.SO2` or `ns=3;i=1002`. */
    nodeId: Type.String({ minLength: 3, maxLength: 256 }),
    station: Type.String({ minLength: 1, maxLength: 64 }),
    outlet: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    pollutant: Type.String({ minLength: 1, maxLength: 64 }),
    unit: Type.String({ maxLength: 32 }),
    scale: Type.Number({ default: 1 }),
    offset: Type.Number({ default: 0 }),
  },
  { additionalProperties: false },
);
export type OpcuaItem = Static<typeof OpcuaItemSchema>;

/**
 * One OPC UA server and the monitored items to read from it. The edge source (`type: opcua`,
 * edge/sources/opcua.ts) adds `type` and its env `pipeline` block to these properties.
 */
export const OpcuaDeviceSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    endpointUrl: Type.String({ pattern: '^opc\\.tcp://' }),
    /** Only None is wired now; Sign/SignAndEncrypt need certificates exchanged with the PLC. */
    securityMode: Type.Literal('None', { default: 'None' }),
    items: Type.Array(OpcuaItemSchema, { minItems: 1, maxItems: 1000 }),
    samplingIntervalMs: Type.Integer({ minimum: 0, default: 1000 }),
    publishingIntervalMs: Type.Integer({ minimum: 50, default: 1000 }),
    /** Keep-alive count: the server sends a keep-alive after this many empty publishing intervals. */
    maxKeepAliveCount: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
    /** Re-create session + subscription when neither data nor keep-alive arrived for this long (0 = 3 × keep-alive period). */
    staleAfterMs: Type.Integer({ minimum: 0, default: 0 }),
    reconnect: Type.Object({
      initialDelayMs: Type.Integer({ minimum: 10, default: 1000 }),
      maxDelayMs: Type.Integer({ minimum: 10, default: 30_000 }),
    }, { additionalProperties: false, default: {} }),
    /** PKI folder for the client certificate; default `<stateDir>/opcua-pki`. */
    pkiDir: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type OpcuaDevice = Static<typeof OpcuaDeviceSchema>;

export function parseOpcuaDevice(raw: unknown, source = 'opcua device'): OpcuaDevice {
  return validateConfig(OpcuaDeviceSchema, raw, source, 'OPCUA_CONFIG');
}
