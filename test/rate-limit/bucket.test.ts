import { describe, expect, test } from '@jest/globals';
import {
  bucketParams,
  factorAt,
  grant,
  initialState,
  learn,
  levels,
  penalize,
  type BucketState,
} from '../../shared/rate-limit/bucket.js';

const T0 = 1_000_000;
const PARAMS = bucketParams(60_000); // burst 1 s, horizon 4 s, margin 0.5 s, cut cooldown 2 s
const FAR = Number.MAX_SAFE_INTEGER;

function take(state: BucketState, now: number, count: number, tokensEach = 0, horizon = FAR) {
  return grant(state, now, { count, tokensEach, extraTokens: 0, horizon }, PARAMS);
}

describe('the bucket arithmetic', () => {
  test('a full bucket lets a second of requests go at once, then paces at the limit', () => {
    // Arrange: 600 requests a minute = one per 100 ms, a burst of 10
    const state = initialState({ requests: 600, tokens: 0 }, T0);

    // Act
    const { slots } = take(state, T0, 15);

    // Assert
    expect(slots.slice(0, 10)).toEqual(Array(10).fill(T0));
    expect(slots.slice(10).map((at) => Math.round(at - T0))).toEqual([100, 200, 300, 400, 500]);
  });

  test('requests go when both buckets hold them: the token limit paces large requests', () => {
    // Arrange: 600 requests but only 60,000 tokens a minute; 2,000 tokens each = 30 a minute
    const state = initialState({ requests: 600, tokens: 60_000 }, T0);

    // Act
    const { slots } = take(state, T0, 3, 2000);

    // Assert: a request larger than the 1,000-token burst goes from a full bucket; then one every 2 s
    expect(slots.map((at) => Math.round(at - T0))).toEqual([0, 2000, 4000]);
  });

  test('slots past the horizon are not granted; firstAt and lastAt say when they would be', () => {
    // Arrange: the burst is used up
    const spent = take(initialState({ requests: 600, tokens: 0 }, T0), T0, 10).state;

    // Act
    const refused = take(spent, T0, 10, 0, T0 + 50);
    const partial = take(spent, T0, 10, 0, T0 + 350);

    // Assert
    expect(refused.slots).toEqual([]);
    expect(refused.state.tatRequests).toBe(spent.tatRequests); // nothing reserved
    expect(Math.round(refused.firstAt - T0)).toBe(100);
    expect(Math.round(refused.lastAt - T0)).toBe(1000);
    expect(partial.slots.map((at) => Math.round(at - T0))).toEqual([100, 200, 300]);
  });

  test('a 429 pauses until retry-after, restarts the bucket empty a margin below, and cuts the pace once per burst', () => {
    // Arrange
    const state = initialState({ requests: 600, tokens: 60_000 }, T0);

    // Act: three 429s of the same burst
    const first = penalize(state, T0, 5000, PARAMS);
    const second = penalize(first, T0 + 10, 5000, PARAMS);
    const third = penalize(second, T0 + 20, 5000, PARAMS);

    // Assert
    expect(first.factor).toBeCloseTo(0.8);
    expect(third.factor).toBeCloseTo(0.8); // cooldown: one cut for the burst
    expect(third.pausedUntil).toBe(T0 + 5020);
    expect(third.epoch).toBe(3); // every 429 voids the reservations made before it
    const { slots } = take(third, T0 + 20, 2);
    // empty at the resume time, and a margin (0.5 s) below: the first slot after that, at 480 rpm
    expect(Math.round(slots[0] ?? 0)).toBe(Math.round(T0 + 5020 + 500 + 125));
    expect(levels(third, T0 + 5020, PARAMS).requests).toBeLessThan(0);
  });

  test('after a cut the pace grows back linearly to the limit (additive increase)', () => {
    // Arrange
    const cut = penalize(initialState({ requests: 600, tokens: 0 }, T0), T0, 0, PARAMS);

    // Act / Assert: the whole limit is regained per window, so 20 % in 12 s
    expect(factorAt(cut, T0, PARAMS)).toBeCloseTo(0.8);
    expect(factorAt(cut, T0 + 6000, PARAMS)).toBeCloseTo(0.9);
    expect(factorAt(cut, T0 + 12_000, PARAMS)).toBe(1);
    expect(factorAt(cut, T0 + 600_000, PARAMS)).toBe(1);
  });

  test('repeated cuts stop at the minimum factor', () => {
    // Arrange
    let state = initialState({ requests: 600, tokens: 0 }, T0);

    // Act: a 429 every 2 s (the cooldown) for a minute, no time to regain much
    for (let i = 0; i < 30; i++)
      state = penalize(state, T0 + i * PARAMS.cutCooldownMs, 0, { ...PARAMS, increasePerWindow: 0 });

    // Assert
    expect(state.factor).toBe(PARAMS.minFactor);
  });

  test('learning a slightly lower limit (under a tenth) keeps what was reserved, spread at the new pace', () => {
    // Arrange: 30 requests taken at 600 a minute (10 from the burst, 20 reserved over the next 2 s)
    const reserved = take(initialState({ requests: 600, tokens: 0 }, T0), T0, 30).state;

    // Act
    const learned = learn(reserved, T0, { requests: 550 }, PARAMS);

    // Assert: the 30 requests taken refill at the new pace, 9.17 a second
    expect(learned).toMatchObject({ learned: true, limitRequests: 550, epoch: 0 });
    expect(Math.round((learned?.tatRequests ?? 0) - T0)).toBe(Math.round((30 * 60_000) / 550));
    expect(learn(learned as BucketState, T0, { requests: 550 }, PARAMS)).toBeUndefined(); // nothing new: no write
  });

  test('learning a much lower limit voids the reservations beyond the next maxAhead', () => {
    // Arrange: 100 requests reserved at 600 a minute, 9 s ahead
    const reserved = take(initialState({ requests: 600, tokens: 0 }, T0), T0, 100).state;

    // Act
    const learned = learn(reserved, T0, { requests: 60 }, PARAMS);

    // Assert: a new epoch; only the burst and the next 4 s of reservations still count
    expect(learned).toMatchObject({ learned: true, limitRequests: 60, epoch: 1 });
    expect(Math.round((learned?.tatRequests ?? 0) - T0)).toBe(PARAMS.burstMs + PARAMS.maxAheadMs);
  });

  test('a header without a token limit keeps the token limit the state has', () => {
    // Arrange
    const state = initialState({ requests: 500, tokens: 0 }, T0);

    // Act
    const learned = learn(state, T0, { requests: 5000 }, PARAMS);

    // Assert
    expect(learned).toMatchObject({ limitRequests: 5000, limitTokens: 0, learned: true });
  });

  test('defaults scale with the window: a local mock running 20x faster gets a 50 ms burst', () => {
    // Act
    const params = bucketParams(3000);

    // Assert
    expect(params).toMatchObject({ windowMs: 3000, burstMs: 50, maxAheadMs: 200, marginMs: 25, cutCooldownMs: 100 });
  });
});
