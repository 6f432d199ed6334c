import type { Flag } from '../../lib/contract/reading.ts';

/**
 * OPC UA StatusCode → HJ 212 data flag. The top two bits are the severity (OPC UA Part 4 §7.39
 * StatusCode: 00 Good, 01 Uncertain, 10/11 Bad); bits 16–29 the sub-code; the low 16 bits
 * (info bits, e.g. overflow) do not change the flag. Specific sub-codes first, then by severity.
 * The code's name is kept in the reading's `status`, so the original never gets lost.
 */
const BY_CODE: Record<number, Flag> = {
  0x00960000: 'S', // GoodLocalOverride: value entered/overridden by hand (HJ 212 S manual)
  0x420a0000: 'C', // UncertainSensorCalibration
  0x40940000: 'T', // UncertainEngineeringUnitsExceeded: beyond the instrument's range (HJ 212 T)
  0x40930000: 'D', // UncertainSensorNotAccurate
  0x40900000: 'B', // UncertainLastUsableValue: source stopped updating
  0x408f0000: 'B', // UncertainNoCommunicationLastUsableValue
  0x808d0000: 'M', // BadOutOfService: taken out of service (maintenance)
  0x808c0000: 'D', // BadSensorFailure
  0x808b0000: 'D', // BadDeviceFailure
  0x80890000: 'D', // BadConfigurationError
  0x80310000: 'B', // BadNoCommunication
  0x80050000: 'B', // BadCommunicationError
  0x808a0000: 'B', // BadNotConnected
  0x80320000: 'B', // BadWaitingForInitialData
  0x800a0000: 'B', // BadTimeout
};

export type Severity = 'good' | 'uncertain' | 'bad';

export function severityOf(code: number): Severity {
  const s = code >>> 30;
  return s === 0 ? 'good' : s === 1 ? 'uncertain' : 'bad';
}

export function flagOfStatus(code: number): Flag {
  const c = (code & 0xffff0000) >>> 0;
  const specific = BY_CODE[c];
  if (specific) return specific;
  // Other Good sub-codes (e.g. GoodClamped?) are still good data; other Uncertain/Bad are not trusted (D).
  return severityOf(c) === 'good' ? 'N' : 'D';
}
