/**
 * The arithmetic of the shared token bucket, as pure functions of a state and a time, so the
 * DynamoDB item (bucket-table.ts) and the process-local limiter (rate-limiter.ts, booked-turns.ts) stay thin.
 *
 * Two buckets in one state: requests and tokens per window (a minute at OpenAI). Each is kept in
 * the GCRA form of a token bucket: instead of a level and a refill time it stores `tat`, the time
 * at which the bucket would be full again if nothing more were taken. At time `now`:
 *
 *   level = burst - max(0, tat - now) * rate        (burst = rate * burstMs)
 *
 * Taking `c` units is allowed from `max(now, tat - burstMs + c / rate)` on (from a full bucket
 * when `c` is more than the burst), and moves tat to `max(tat, then) + c / rate`. The two buckets are charged
 * together, so a request goes only when
 * both hold it. Reservations may lie in the future (up to a horizon): a chunk of requests gets a
 * time slot for each, spaced at the pace, and the caller paces itself inside the chunk. Slots are
 * reserved as far ahead as the caller's time budget allows: the bucket is a queue, and a caller
 * waiting for its turn costs nothing until it sends.
 *
 * `epoch` voids reservations: a 429 or a large change of the limit bumps it and keeps only the
 * reservations of the next `maxAheadMs` in the tats. A process re-reads the epoch before it uses a
 * slot it reserved more than `maxAheadMs` earlier, and drops the slot if the epoch moved on; so
 * only slots reserved within `maxAheadMs` of the change can still be used after it.
 *
 * The pace is `limit * factor`: AIMD. A 429 multiplies the factor by `decrease` (once per cooldown,
 * so one burst of 429s is one cut) and pauses both buckets until retry-after, restarting them empty
 * and a margin below, which puts our level under the provider's again. The factor then grows back
 * linearly, by `increasePerWindow` of the limit per window, so throughput returns to the limit
 * without a storm.
 */

export interface BucketParams {
  /** The period the provider's limits are counted in: a minute (less when a local mock runs time faster). */
  windowMs: number;
  /** How far ahead of the steady pace a full bucket lets requests go at once (a second's worth). */
  burstMs: number;
  /**
   * How far ahead of its last look at the bucket a process may use a reserved slot without
   * looking again (a read), and so how much of the reservations survives a 429.
   */
  maxAheadMs: number;
  /** After a 429 the buckets restart this much below empty: a margin under the provider's own level. */
  marginMs: number;
  /** AIMD multiplicative decrease: the share of the pace kept after a 429. */
  decrease: number;
  /** The pace never falls below this share of the limit. */
  minFactor: number;
  /** AIMD additive increase: the share of the limit regained per window. */
  increasePerWindow: number;
  /** At most one decrease per this period. */
  cutCooldownMs: number;
}

/** Defaults scaled to the window, so a local mock running time faster gets the same behaviour. */
export function bucketParams(windowMs = 60_000, overrides: Partial<Omit<BucketParams, 'windowMs'>> = {}): BucketParams {
  const burstMs = overrides.burstMs ?? windowMs / 60;
  return {
    windowMs,
    burstMs,
    maxAheadMs: windowMs / 15,
    marginMs: burstMs / 2,
    decrease: 0.8,
    minFactor: 0.1,
    increasePerWindow: 1,
    cutCooldownMs: windowMs / 30,
    ...overrides,
  };
}

export interface BucketLimits {
  /** Requests per window. */
  requests: number;
  /** Tokens per window; 0 when no token limit is known. */
  tokens: number;
}

export interface BucketState {
  limitRequests: number;
  limitTokens: number;
  /** Whether the limits came from the provider's headers (else they are the configured defaults). */
  learned: boolean;
  /** AIMD: the share of the limit paced at, as of `factorAt` (it grows with time since). */
  factor: number;
  factorAt: number;
  /** When the factor was last cut. */
  cutAt: number;
  /** The pace (units per window) the tats were last computed with. */
  paceRequests: number;
  paceTokens: number;
  tatRequests: number;
  tatTokens: number;
  /** No slot starts before this (the latest retry-after). */
  pausedUntil: number;
  /** Bumped by a 429 or a large change of the limit: reservations made before it are void. */
  epoch: number;
  /** Optimistic concurrency: every write checks and bumps it; 0 = not stored yet. */
  version: number;
}

export function initialState(limits: BucketLimits, now: number): BucketState {
  return {
    limitRequests: limits.requests,
    limitTokens: limits.tokens,
    learned: false,
    factor: 1,
    factorAt: now,
    cutAt: 0,
    paceRequests: limits.requests,
    paceTokens: limits.tokens,
    tatRequests: now,
    tatTokens: now,
    pausedUntil: 0,
    epoch: 0,
    version: 0,
  };
}

/** The AIMD factor at `now`: the stored one plus the linear regain since it was set. */
export function factorAt(state: BucketState, now: number, params: BucketParams): number {
  const regained = (Math.max(0, now - state.factorAt) * params.increasePerWindow) / params.windowMs;
  return Math.min(1, state.factor + regained);
}

/**
 * The state carried to `now`: the factor regained since it was set, the pace it gives, and the
 * tats converted to that pace (what was reserved ahead is the same number of units, spread at
 * the new pace).
 */
export function rebase(state: BucketState, now: number, params: BucketParams): BucketState {
  const factor = factorAt(state, now, params);
  const paceRequests = state.limitRequests * factor;
  const paceTokens = state.limitTokens * factor;
  return {
    ...state,
    factor,
    factorAt: Math.max(now, state.factorAt),
    paceRequests,
    paceTokens,
    tatRequests: convert(state.tatRequests, now, state.paceRequests, paceRequests),
    tatTokens: convert(state.tatTokens, now, state.paceTokens, paceTokens),
  };
}

function convert(tat: number, now: number, fromPace: number, toPace: number): number {
  if (tat <= now || fromPace <= 0 || toPace <= 0 || fromPace === toPace) return tat;
  return now + ((tat - now) * fromPace) / toPace;
}

export interface GrantAsk {
  /** Requests wanted (a chunk). */
  count: number;
  /** Estimated tokens of each. */
  tokensEach: number;
  /** Tokens owed from earlier chunks (requests that turned out larger than their slot). */
  extraTokens: number;
  /** The last time a slot may start: the caller's time budget. */
  horizon: number;
}

export interface Grant {
  state: BucketState;
  /** Start times of the granted requests, ascending; empty when none fits before the horizon. */
  slots: number[];
  /** When the first of the asked requests could start (granted or not). */
  firstAt: number;
  /** When the last of the asked requests could start, were they all granted. */
  lastAt: number;
}

/** Reserves up to `count` request slots, each charged to both buckets, none later than the horizon. */
export function grant(state: BucketState, now: number, ask: GrantAsk, params: BucketParams): Grant {
  const base = rebase(state, now, params);
  const requestMs = params.windowMs / base.paceRequests; // ms per request at the pace
  const tokenMs = base.paceTokens > 0 ? params.windowMs / base.paceTokens : 0; // ms per token (0: no token limit)
  const floor = Math.max(now, base.pausedUntil);
  let tatRequests = base.tatRequests;
  let tatTokens = base.tatTokens;
  if (tokenMs > 0 && ask.extraTokens > 0) tatTokens = Math.max(tatTokens, now) + ask.extraTokens * tokenMs;

  const all: number[] = [];
  let granted: { tatRequests: number; tatTokens: number } | undefined;
  const tokenCost = ask.tokensEach * tokenMs;
  // A request needs its cost in the bucket, or a full bucket when it costs more than the burst.
  const requestWait = Math.min(requestMs, params.burstMs);
  const tokenWait = Math.min(tokenCost, params.burstMs);
  for (let i = 0; i < Math.max(1, ask.count); i++) {
    let at = Math.max(floor, tatRequests - params.burstMs + requestWait);
    if (tokenMs > 0) at = Math.max(at, tatTokens - params.burstMs + tokenWait);
    all.push(at);
    tatRequests = Math.max(tatRequests, at) + requestMs;
    if (tokenMs > 0) tatTokens = Math.max(tatTokens, at) + tokenCost;
    if (at <= ask.horizon) granted = { tatRequests, tatTokens };
  }
  const slots = all.filter((at) => at <= ask.horizon); // ascending, so a prefix
  const firstAt = all[0] ?? floor;
  const lastAt = all[all.length - 1] ?? floor;
  return { state: granted ? { ...base, ...granted } : base, slots, firstAt, lastAt };
}

/**
 * Voids the reservations made so far (bumps the epoch): the tats keep at most the next
 * `maxAheadMs` of them, the ones a process may still use without looking at the bucket again.
 */
function voidReservations(state: BucketState, now: number, params: BucketParams): BucketState {
  const kept = now + params.burstMs + params.maxAheadMs;
  return {
    ...state,
    epoch: state.epoch + 1,
    tatRequests: Math.min(state.tatRequests, kept),
    tatTokens: Math.min(state.tatTokens, kept),
  };
}

/**
 * A 429: void the reservations, pause both buckets until retry-after and restart them empty, a
 * margin below; cut the factor unless it was cut within the cooldown (the other 429s of the same
 * burst).
 */
export function penalize(state: BucketState, now: number, retryAfterMs: number, params: BucketParams): BucketState {
  let next = rebase(state, now, params);
  if (now - next.cutAt >= params.cutCooldownMs) {
    const cut = {
      ...next,
      factor: Math.max(params.minFactor, next.factor * params.decrease),
      factorAt: now,
      cutAt: now,
    };
    next = rebase(cut, now, params);
  }
  next = voidReservations(next, now, params);
  const resumeAt = now + Math.max(0, retryAfterMs);
  const restart = resumeAt + params.burstMs + params.marginMs; // empty at resumeAt, minus the margin
  return {
    ...next,
    pausedUntil: Math.max(next.pausedUntil, resumeAt),
    tatRequests: Math.max(next.tatRequests, restart),
    tatTokens: next.paceTokens > 0 ? Math.max(next.tatTokens, restart) : next.tatTokens,
  };
}

/**
 * Limits read from the provider's headers; a missing one keeps what the state has. Undefined
 * when nothing changes (the common case: no write). A change of more than a tenth voids the
 * reservations, so slots reserved far ahead at the old pace are taken again at the new one.
 */
export function learn(
  state: BucketState,
  now: number,
  limits: Partial<BucketLimits>,
  params: BucketParams,
): BucketState | undefined {
  const requests = limits.requests !== undefined && limits.requests > 0 ? limits.requests : state.limitRequests;
  const tokens = limits.tokens !== undefined && limits.tokens > 0 ? limits.tokens : state.limitTokens;
  if (state.learned && requests === state.limitRequests && tokens === state.limitTokens) return undefined;
  const carried = rebase(state, now, params);
  const learned = rebase({ ...carried, limitRequests: requests, limitTokens: tokens, learned: true }, now, params);
  const ratio = learned.paceRequests / carried.paceRequests;
  return ratio > 1.1 || ratio < 0.9 ? voidReservations(learned, now, params) : learned;
}

/** How many requests and tokens the buckets hold at `now` (negative: reserved ahead or paused). */
export function levels(state: BucketState, now: number, params: BucketParams): { requests: number; tokens: number } {
  const base = rebase(state, now, params);
  const level = (tat: number, pace: number) => ((params.burstMs - Math.max(0, tat - now)) * pace) / params.windowMs;
  return { requests: level(base.tatRequests, base.paceRequests), tokens: level(base.tatTokens, base.paceTokens) };
}
