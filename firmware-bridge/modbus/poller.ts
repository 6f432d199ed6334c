import type { Logger } from '../../lib/log.ts';
import { CodedError, errMessage } from '../../lib/errors.ts';
import type { Flag, Reading } from '../../lib/contract/reading.ts';
import { type ModbusDevice, type RegisterSpec, WORDS } from './config.ts';
import { type Block, decodeRegisters, planBlocks } from './decode.ts';

/** Modbus exception codes (MODBUS Application Protocol v1.1b3 §7). */
const EXCEPTIONS: Record<number, string> = {
  1: 'illegal function', 2: 'illegal data address', 3: 'illegal data value', 4: 'server device failure',
  5: 'acknowledge', 6: 'server device busy', 8: 'memory parity error', 10: 'gateway path unavailable', 11: 'gateway target device failed to respond',
};

/** Map whatever modbus-serial threw to a coded error. */
export function classifyModbusError(err: unknown, what: string): CodedError {
  if (err instanceof CodedError) return err;
  const e = err as { modbusCode?: number; errno?: string; code?: string; message?: string };
  if (typeof e?.modbusCode === 'number') {
    return new CodedError('MODBUS_EXCEPTION', `${what}: device answered exception ${e.modbusCode} (${EXCEPTIONS[e.modbusCode] ?? 'unknown'}); check the register map's address and function`, { exceptionCode: e.modbusCode }, { cause: err });
  }
  if (e?.errno === 'ETIMEDOUT' || /timed out/i.test(e?.message ?? '')) {
    return new CodedError('MODBUS_TIMEOUT', `${what}: no answer within the timeout; check unitId, wiring/gateway and timeoutMs`, undefined, { cause: err });
  }
  if (e?.code === 'ECONNREFUSED' || e?.code === 'EHOSTUNREACH' || e?.code === 'ENOENT' || e?.code === 'ECONNRESET') {
    return new CodedError('MODBUS_CONNECT', `${what}: ${errMessage(err)}`, { code: e.code }, { cause: err });
  }
  return new CodedError('MODBUS_IO', `${what}: ${errMessage(err)}`, undefined, { cause: err });
}

type Client = {
  connectTCP(host: string, o: object): Promise<void>;
  /** Raw RTU frames (address + PDU + CRC) over a TCP socket: transparent serial-to-Ethernet gateways. */
  connectTelnet(host: string, o: object): Promise<void>;
  connectRTUBuffered(path: string, o: object): Promise<void>;
  setID(id: number): void;
  setTimeout(ms: number): void;
  readHoldingRegisters(a: number, n: number): Promise<{ data: number[] }>;
  readInputRegisters(a: number, n: number): Promise<{ data: number[] }>;
  close(cb?: () => void): void;
  isOpen: boolean;
  on?(ev: string, fn: (...a: unknown[]) => void): void;
};

export interface PollResult { readings: Reading[]; errors: CodedError[] }

/** One Modbus connection and its register map: connect, poll once, close. No timers of its own. */
export class ModbusPoller {
  private client?: Client;
  private readonly blocks: Block[];

  constructor(readonly cfg: ModbusDevice, private readonly log: Logger) {
    const wants = cfg.registers.flatMap((r) => [
      { function: r.function, address: r.address, words: WORDS[r.type] },
      ...(r.status ? [{ function: r.status.function, address: r.status.address, words: 1 }] : []),
    ]);
    this.blocks = planBlocks(wants, cfg.maxGap);
  }

  get connected(): boolean {
    return !!this.client?.isOpen;
  }

  get requestsPerPoll(): number {
    return this.blocks.length;
  }

  async connect(): Promise<void> {
    await this.close();
    const { default: ModbusRTU } = (await import('modbus-serial')) as unknown as { default: new () => Client };
    const c = new ModbusRTU();
    const t = this.cfg.transport;
    const where = t.kind === 'rtu' ? t.path : `${t.host}:${t.port}`;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new CodedError('MODBUS_TIMEOUT', `connect to ${where} took longer than ${this.cfg.timeoutMs} ms`)), this.cfg.timeoutMs);
    });
    try {
      const connecting =
        t.kind === 'tcp' ? c.connectTCP(t.host, { port: t.port, timeout: this.cfg.timeoutMs })
        : t.kind === 'rtu-over-tcp' ? c.connectTelnet(t.host, { port: t.port, timeout: this.cfg.timeoutMs })
        : c.connectRTUBuffered(t.path, { baudRate: t.baudRate, parity: t.parity, dataBits: t.dataBits, stopBits: t.stopBits });
      connecting.catch(() => undefined);
      await Promise.race([connecting, timeout]);
    } catch (err) {
      try { c.close(); } catch { /* not open */ }
      const coded = classifyModbusError(err, `connect ${t.kind} ${where}`);
      throw coded.code === 'MODBUS_IO' ? new CodedError('MODBUS_CONNECT', coded.message, coded.details, { cause: err }) : coded;
    } finally {
      clearTimeout(timer);
    }
    c.setID(this.cfg.unitId);
    c.setTimeout(this.cfg.timeoutMs);
    this.client = c;
    this.log.info({ where, unitId: this.cfg.unitId }, 'modbus connected');
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c?.isOpen) await new Promise<void>((res) => { try { c.close(() => res()); } catch { res(); } setTimeout(res, 500).unref(); });
  }

  /**
   * Read every block, decode every register. A block that fails (exception) leaves its readings
   * out and reports an error; the others still produce readings. Throws only when the connection
   * is unusable (timeout, I/O error): the caller then reconnects.
   */
  async poll(now: () => number = Date.now): Promise<PollResult> {
    const c = this.client;
    if (!c?.isOpen) throw new CodedError('MODBUS_CONNECT', 'modbus poll without a connection');
    const words = { holding: new Map<number, number>(), input: new Map<number, number>() };
    const errors: CodedError[] = [];
    for (const b of this.blocks) {
      const what = `read ${b.count} ${b.function} registers at ${b.start} (unit ${this.cfg.unitId})`;
      try {
        const res = b.function === 'holding' ? await c.readHoldingRegisters(b.start, b.count) : await c.readInputRegisters(b.start, b.count);
        res.data.forEach((w, i) => words[b.function].set(b.start + i, w));
      } catch (err) {
        const coded = classifyModbusError(err, what);
        if (coded.code !== 'MODBUS_EXCEPTION') throw coded;
        errors.push(coded);
      }
    }
    const t = now();
    const readings: Reading[] = [];
    for (const r of this.cfg.registers) {
      const ws: number[] = [];
      for (let i = 0; i < WORDS[r.type]; i++) {
        const w = words[r.function].get(r.address + i);
        if (w === undefined) break;
        ws.push(w);
      }
      if (ws.length < WORDS[r.type]) continue;
      const reading: Reading = { station: r.station ?? this.cfg.station, pollutant: r.pollutant, value: decodeRegisters(ws, r), unit: r.unit, observedAt: t, flag: 'N', source: `modbus:${this.cfg.id}` };
      if (r.outlet) reading.outlet = r.outlet;
      if (r.status) this.applyStatus(r, reading, words[r.status.function].get(r.status.address));
      readings.push(reading);
    }
    return { readings, errors };
  }

  private applyStatus(r: RegisterSpec, reading: Reading, raw: number | undefined): void {
    const st = r.status!;
    if (raw === undefined) {
      // Status unreadable: the value's state is unknown — HJ 212 B (communication abnormal).
      reading.flag = 'B';
      reading.status = 'status register unreadable';
      return;
    }
    const f: Flag | undefined = st.map[String(raw)];
    reading.flag = f ?? st.unknown ?? 'D';
    reading.status = `status=${raw}`;
  }
}
