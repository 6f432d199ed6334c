/**
 * Errors with stable codes (fastify's FST_ERR_* style). A code never changes once
 * released; the message says what a person can do about it.
 */
export class CodedError extends Error {
  readonly code: string;
  readonly details?: Record<string, unknown>;
  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CodedError';
    this.code = code;
    if (details) this.details = details;
  }
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export function isCoded(err: unknown, code?: string): err is CodedError {
  return err instanceof CodedError && (code === undefined || err.code === code);
}

/** Best-effort message of an unknown thrown value. */
export function errMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
