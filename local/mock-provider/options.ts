/** The knobs of the mock OpenAI provider, with their defaults. Times are in simulated milliseconds. */
export interface MockProviderOptions {
  /** Median latency of one response or chat completion (simulated ms). */
  latencyMs: number;
  /**
   * Spread of the log-normal latency distribution around the median (its sigma): 0 = every call
   * takes exactly `latencyMs`; 0.5 puts the 95th percentile near 2.3 x the median.
   */
  latencySpread: number;
  /**
   * Share of attempts that fail transiently, decided per attempt (a retry can succeed): create
   * calls answered 500/503, batch lines answered 500/503 in the error file, and background
   * responses that end `failed` with `server_error`.
   */
  transientErrorRate: number;
  /** Share of requests answered 400 invalid_request_error, decided by content: every retry fails. */
  permanentErrorRate: number;
  /** Requests per minute on create calls; 0 or Infinity disables the limit. */
  rateLimitRpm: number;
  /** Estimated tokens per minute on create calls; 0 or Infinity disables the limit. */
  rateLimitTpm: number;
  /** Same seed, same requests -> same outcomes, latencies, labels and ids. */
  seed: number;
  /**
   * Simulated time runs this many times faster than real time (latencies and rate windows shrink).
   * Used only when the mock is started without the runtime's clock, which then sets the pace.
   */
  timeScale: number;
  /** How long a batch takes from creation to completed (simulated ms). */
  batchDurationMs: number;
  /**
   * Share of batches (drawn by seed and batch id) that expire half way through processing: the
   * lines finished by then are in the output file, the rest are `batch_expired` in the error file.
   */
  batchExpireRate: number;
  /**
   * Input tokens a model may have enqueued in running batches (validating, in_progress,
   * finalizing); a batch that would pass it fails validation with `token_limit_exceeded`.
   * 0 or Infinity: no limit.
   */
  batchQueueTokens: number;
}

export const DEFAULT_MOCK_PROVIDER_OPTIONS: Readonly<MockProviderOptions> = {
  latencyMs: 800,
  latencySpread: 0.5,
  transientErrorRate: 0,
  permanentErrorRate: 0,
  rateLimitRpm: 10_000,
  rateLimitTpm: 10_000_000,
  seed: 1,
  timeScale: 1,
  batchDurationMs: 60_000,
  batchExpireRate: 0,
  batchQueueTokens: 0,
};

/** Fills in defaults and checks every knob; a bad value fails loudly at start. */
export function resolveOptions(options: Partial<MockProviderOptions> = {}): MockProviderOptions {
  const resolved: MockProviderOptions = { ...DEFAULT_MOCK_PROVIDER_OPTIONS };
  for (const [key, value] of Object.entries(options) as Array<[keyof MockProviderOptions, unknown]>) {
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[key] = value;
  }
  nonNegative(resolved, 'latencyMs');
  nonNegative(resolved, 'latencySpread');
  rate(resolved, 'transientErrorRate');
  rate(resolved, 'permanentErrorRate');
  nonNegative(resolved, 'rateLimitRpm', true);
  nonNegative(resolved, 'rateLimitTpm', true);
  nonNegative(resolved, 'batchDurationMs');
  rate(resolved, 'batchExpireRate');
  nonNegative(resolved, 'batchQueueTokens', true);
  if (!Number.isInteger(resolved.seed)) {
    throw new RangeError(`mock provider: seed must be an integer, got ${resolved.seed}`);
  }
  if (!(Number.isFinite(resolved.timeScale) && resolved.timeScale > 0)) {
    throw new RangeError(`mock provider: timeScale must be a positive number, got ${resolved.timeScale}`);
  }
  return resolved;
}

type NumericKey = {
  [K in keyof MockProviderOptions]: MockProviderOptions[K] extends number ? K : never;
}[keyof MockProviderOptions];

function nonNegative(options: MockProviderOptions, key: NumericKey, allowInfinity = false): void {
  const value = options[key];
  const ok = typeof value === 'number' && value >= 0 && (Number.isFinite(value) || allowInfinity);
  if (!ok) throw new RangeError(`mock provider: ${key} must be a non-negative number, got ${value}`);
}

function rate(options: MockProviderOptions, key: NumericKey): void {
  const value = options[key];
  if (!(typeof value === 'number' && value >= 0 && value <= 1)) {
    throw new RangeError(`mock provider: ${key} must be between 0 and 1, got ${value}`);
  }
}
