/**
 * Errors raised by Tessera before any tensor work. Each one names what was wrong
 * (a parameter, a state-dict key, a spec path), the value that was given and what
 * is accepted, so the message alone is enough to fix the call.
 */
export class TesseraError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A bad argument: `name` got `value`, and `accepted` says what would have worked. */
export class InvalidArgumentError extends TesseraError {
  constructor(
    readonly parameter: string,
    readonly value: unknown,
    readonly accepted: string,
  ) {
    super(`${parameter} = ${formatValue(value)} is not accepted: expected ${accepted}`);
  }
}

/** A state dict that does not fit a module (missing, unexpected or mis-shaped keys). */
export class StateDictError extends TesseraError {}

/** A plugin or model spec that cannot be registered or composed. */
export class CompositionError extends TesseraError {}

/** Unreadable or malformed serialised data (safetensors files, checkpoints). */
export class FormatError extends TesseraError {}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  try {
    const s = JSON.stringify(value);
    return s === undefined ? String(value) : s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return String(value);
  }
}

/** Throws InvalidArgumentError unless `value` is an integer in [min, max]. */
export function checkInteger(parameter: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new InvalidArgumentError(parameter, value, range);
  }
  return value;
}

/** Throws InvalidArgumentError unless `value` is a finite number in [min, max]. */
export function checkNumber(parameter: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidArgumentError(parameter, value, `a finite number in [${min}, ${max}]`);
  }
  return value;
}
