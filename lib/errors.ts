// Every error lora-node throws is a LoraNodeError with a stable `code`.
// Native errors arrive with the same codes (see native/core/errors.h).

export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_SAFETENSORS_HEADER'
  | 'ERR_SAFETENSORS_DATA'
  | 'ERR_CONFIG'
  | 'ERR_SHAPE'
  | 'ERR_MISSING_TENSOR'
  | 'ERR_TOKENIZER'
  | 'ERR_DATA'
  | 'ERR_IO'
  | 'ERR_DEVICE'
  | 'ERR_DISPOSED'
  | 'ERR_ABORTED'
  | 'ERR_LIBTORCH_NOT_FOUND'
  | 'ERR_ADDON_LOAD'
  | 'ERR_NATIVE'
  | 'ERR_DOWNLOAD'
  | 'ERR_NOT_FOUND'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_OFFLINE';

export class LoraNodeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A caller passed a value of the wrong type, range or shape. */
export class ArgumentError extends LoraNodeError {
  constructor(message: string) {
    super('ERR_INVALID_ARGUMENT', message);
  }
}

/** A file (safetensors, config.json, tokenizer.json) is malformed or inconsistent. */
export class FormatError extends LoraNodeError {}

/** An object was used after dispose(). */
export class DisposedError extends LoraNodeError {
  constructor(what: string) {
    super('ERR_DISPOSED', `${what} was used after dispose()`);
  }
}

/** Training was stopped through its AbortSignal. */
export class AbortError extends LoraNodeError {
  constructor(message = 'training was aborted') {
    super('ERR_ABORTED', message);
  }
}

/** The native addon or libtorch could not be found or loaded. */
export class AddonLoadError extends LoraNodeError {}

/**
 * The Hugging Face hub (or the local cache of it) could not provide a model:
 * ERR_DOWNLOAD (network, HTTP or checksum failure), ERR_NOT_FOUND (no such repo,
 * revision or file), ERR_UNAUTHORIZED (401/403: private or gated, set HF_TOKEN),
 * ERR_OFFLINE (offline mode and the cache lacks something).
 */
export class HubError extends LoraNodeError {}

const FORMAT_CODES = new Set<ErrorCode>([
  'ERR_SAFETENSORS_HEADER',
  'ERR_SAFETENSORS_DATA',
  'ERR_CONFIG',
  'ERR_SHAPE',
  'ERR_MISSING_TENSOR',
  'ERR_TOKENIZER',
  'ERR_DATA',
]);

/** Turns an error thrown by the addon (a plain Error with `code`) into our class. */
export function fromNativeError(error: unknown): LoraNodeError {
  if (error instanceof LoraNodeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const raw = (error as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' && raw.startsWith('ERR_') ? (raw as ErrorCode) : 'ERR_NATIVE';
  if (code === 'ERR_INVALID_ARGUMENT') return new ArgumentError(message);
  if (FORMAT_CODES.has(code)) return new FormatError(code, message, { cause: error });
  return new LoraNodeError(code, message, { cause: error });
}

/** "Expected X for name but received Y" — the one wording of every validation message. */
export function describeReceived(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  if (typeof value === 'function') return 'a function';
  return `an object of type ${value.constructor?.name ?? 'Object'}`;
}

export function expected(what: string, name: string, value: unknown): ArgumentError {
  return new ArgumentError(`Expected ${what} for ${name} but received ${describeReceived(value)}`);
}
