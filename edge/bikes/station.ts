/**
 * Per-station dock state machine. Events (DOCKED, RELEASED, FAULT, DISABLED, ENABLED) move
 * single docks; a full STATUS (DOCK/1 §5.7) replaces the whole view, which repairs the
 * effect of lost or duplicated events. Counts follow GBFS station_status semantics.
 */
import type { DockStateChar } from '../../firmware-bridge/dock/protocol.ts';

export interface DockSlot {
  present: boolean;
  bike: string | null;
  disabled: boolean;
  fault: string | null;
}

export interface StationCounts {
  capacity: number;
  num_bikes_available: number;
  num_bikes_disabled: number;
  num_docks_available: number;
  num_docks_disabled: number;
}

const emptySlot = (): DockSlot => ({ present: false, bike: null, disabled: false, fault: null });

export function slotChar(s: DockSlot): DockStateChar {
  if (s.fault) return s.present ? 'f' : 'F';
  if (s.disabled) return s.present ? 'd' : 'D';
  return s.present ? 'B' : 'E';
}

export class StationState {
  docks: DockSlot[];
  installed = true;
  renting = true;
  returning = true;
  /** Controller time of the last line that touched this station (epoch ms). */
  lastReported = 0;
  /** Events that contradicted the current view (docking into an occupied dock, ...). */
  inconsistencies = 0;
  /** Docks a full STATUS had to correct. */
  corrections = 0;
  statusCount = 0;

  constructor(readonly id: string, docks: number) {
    this.docks = Array.from({ length: docks }, emptySlot);
  }

  /** A controller may announce a different dock count in HELLO (hardware wins). */
  resize(n: number): void {
    while (this.docks.length < n) this.docks.push(emptySlot());
    if (this.docks.length > n) this.docks.length = n;
  }

  private slot(dock: number): DockSlot | undefined {
    return this.docks[dock - 1];
  }

  /** Returns the bike id that was in the dock (if known), whether or not the view agreed. */
  docked(dock: number, bike: string): void {
    const s = this.slot(dock);
    if (!s) return;
    if (s.present) this.inconsistencies++;
    s.present = true;
    s.bike = bike;
  }

  released(dock: number): string | null {
    const s = this.slot(dock);
    if (!s) return null;
    if (!s.present) this.inconsistencies++;
    const bike = s.bike;
    s.present = false;
    s.bike = null;
    return bike;
  }

  fault(dock: number, code: string): boolean {
    const s = this.slot(dock);
    if (!s) return false;
    const was = s.fault !== null;
    s.fault = code;
    return !was;
  }

  disable(dock: number): void {
    const s = this.slot(dock);
    if (s) s.disabled = true;
  }

  /** ENABLED clears both DISABLED and FAULT (DOCK/1 §5). Returns true if a fault was cleared. */
  enable(dock: number): boolean {
    const s = this.slot(dock);
    if (!s) return false;
    const hadFault = s.fault !== null;
    s.disabled = false;
    s.fault = null;
    return hadFault;
  }

  /**
   * Apply a full status. Returns the docks whose fault state changed (raised / cleared)
   * so the caller can raise or clear dock-fault alerts; counts corrections.
   */
  applyStatus(states: string, flags: { installed: boolean; renting: boolean; returning: boolean }): { faultRaised: number[]; faultCleared: number[]; corrected: number } {
    this.statusCount++;
    if (states.length !== this.docks.length) this.resize(states.length);
    const faultRaised: number[] = [];
    const faultCleared: number[] = [];
    let corrected = 0;
    for (let i = 0; i < states.length; i++) {
      const c = states[i] as DockStateChar;
      const s = this.docks[i];
      if (slotChar(s) !== c) corrected++;
      const present = c === 'B' || c === 'd' || c === 'f';
      if (!present) s.bike = null;
      else if (!s.present) s.bike = null; // a bike we did not see arrive: id unknown
      s.present = present;
      const fault = c === 'F' || c === 'f';
      if (fault && !s.fault) { s.fault = 'UNKNOWN'; faultRaised.push(i + 1); }
      if (!fault && s.fault) { s.fault = null; faultCleared.push(i + 1); }
      s.disabled = c === 'D' || c === 'd';
    }
    this.installed = flags.installed;
    this.renting = flags.renting;
    this.returning = flags.returning;
    this.corrections += corrected;
    return { faultRaised, faultCleared, corrected };
  }

  counts(): StationCounts {
    const c: StationCounts = { capacity: this.docks.length, num_bikes_available: 0, num_bikes_disabled: 0, num_docks_available: 0, num_docks_disabled: 0 };
    for (const s of this.docks) {
      const usable = !s.disabled && s.fault === null;
      if (s.present) { if (usable) c.num_bikes_available++; else c.num_bikes_disabled++; }
      else if (usable) c.num_docks_available++;
      else c.num_docks_disabled++;
    }
    return c;
  }

  stateString(): string {
    return this.docks.map(slotChar).join('');
  }
}
