import { Type, type Static } from '@sinclair/typebox';
import { CodedError } from '../../lib/errors.ts';
import { validateConfig } from '../../lib/config.ts';
import { FlagSchema } from '../../lib/contract/reading.ts';

export const REGISTER_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];
/** Words (16-bit registers) each type spans. */
export const WORDS: Record<RegisterType, number> = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2 };

const Fn = Type.Union([Type.Literal('holding'), Type.Literal('input')], { default: 'holding' });
const Addr = Type.Integer({ minimum: 0, maximum: 65535, description: 'Protocol (0-based, on-the-wire) register address; 4xxxx/3xxxx notation minus 1' });

/**
 * One value in the device's register map. value = raw × scale + offset.
 * byteOrder: order of the two bytes inside each register (Modbus is big-endian, "AB");
 * wordOrder: order of the registers of a 32-bit value (BE = high word first "ABCD", LE = "CDAB").
 */
export const RegisterSchema = Type.Object(
  {
    pollutant: Type.String({ minLength: 1, maxLength: 64 }),
    unit: Type.String({ maxLength: 32 }),
    address: Addr,
    function: Fn,
    type: Type.Union(REGISTER_TYPES.map((t) => Type.Literal(t)), { default: 'uint16' }),
    scale: Type.Number({ default: 1 }),
    offset: Type.Number({ default: 0 }),
    byteOrder: Type.Union([Type.Literal('BE'), Type.Literal('LE')], { default: 'BE' }),
    wordOrder: Type.Union([Type.Literal('BE'), Type.Literal('LE')], { default: 'BE' }),
    station: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    outlet: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    /** Optional instrument status register whose value maps to an HJ 212 flag (e.g. {"0":"N","1":"C","2":"M","3":"D"}). */
    status: Type.Optional(Type.Object({
      address: Addr,
      function: Fn,
      map: Type.Record(Type.String({ pattern: '^[0-9]+$' }), FlagSchema),
      /** Flag for a status value the map does not know (the raw value is kept in `status`). */
      unknown: Type.Optional(FlagSchema),
    }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type RegisterSpec = Static<typeof RegisterSchema>;

const Tcp = Type.Object({ kind: Type.Literal('tcp'), host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535, default: 502 }) }, { additionalProperties: false });
/** RTU framing (CRC, no MBAP header) over a TCP serial gateway. */
const RtuTcp = Type.Object({ kind: Type.Literal('rtu-over-tcp'), host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false });
const Rtu = Type.Object(
  {
    kind: Type.Literal('rtu'),
    path: Type.String({ minLength: 1 }),
    baudRate: Type.Integer({ default: 9600 }),
    parity: Type.Union([Type.Literal('none'), Type.Literal('even'), Type.Literal('odd')], { default: 'none' }),
    dataBits: Type.Union([Type.Literal(7), Type.Literal(8)], { default: 8 }),
    stopBits: Type.Union([Type.Literal(1), Type.Literal(2)], { default: 1 }),
  },
  { additionalProperties: false },
);

/**
 * One Modbus device: how to reach it and its register map. The edge source (`type: modbus`,
 * edge/sources/modbus.ts) adds `type` and its env `pipeline` block to these properties.
 */
export const ModbusDeviceSchema = Type.Object(
  {
    /** Names the device in readings (`source: modbus:<id>`). */
    id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    transport: Type.Union([Tcp, RtuTcp, Rtu]),
    unitId: Type.Integer({ minimum: 0, maximum: 255, default: 1 }),
    /** Default station of every register (a register may override it). */
    station: Type.String({ minLength: 1, maxLength: 64 }),
    pollIntervalMs: Type.Integer({ minimum: 50, default: 10_000 }),
    timeoutMs: Type.Integer({ minimum: 50, default: 2_000 }),
    backoff: Type.Object({
      initialMs: Type.Integer({ minimum: 10, default: 500 }),
      maxMs: Type.Integer({ minimum: 10, default: 30_000 }),
    }, { additionalProperties: false, default: {} }),
    /** Registers within this many unused words of each other are read in one request. */
    maxGap: Type.Integer({ minimum: 0, maximum: 100, default: 8 }),
    registers: Type.Array(RegisterSchema, { minItems: 1, maxItems: 500 }),
  },
  { additionalProperties: false },
);
export type ModbusDevice = Static<typeof ModbusDeviceSchema>;

/** What the schema cannot check: a value must fit below address 65536; backoff bounds in order. */
export function checkModbusDevice<T extends ModbusDevice>(cfg: T, source = 'modbus device'): T {
  for (const r of cfg.registers) {
    if (r.address + WORDS[r.type] > 65536) {
      throw new CodedError('MODBUS_CONFIG', `${source}: register ${r.pollutant} at ${r.address} (${r.type}) runs past address 65535`, { pollutant: r.pollutant });
    }
  }
  if (cfg.backoff.maxMs < cfg.backoff.initialMs) throw new CodedError('MODBUS_CONFIG', `${source}: backoff.maxMs must be ≥ backoff.initialMs`);
  return cfg;
}

export function parseModbusDevice(raw: unknown, source = 'modbus device'): ModbusDevice {
  return checkModbusDevice(validateConfig(ModbusDeviceSchema, raw, source, 'MODBUS_CONFIG'), source);
}
