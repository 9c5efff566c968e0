import { randomUUID } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { factorAt } from '../../shared/rate-limit/bucket.js';
import { RateBucketTable } from '../../shared/rate-limit/bucket-table.js';
import { PARAMS, WINDOW_MS, busiest, submit, useLimiterTable, type Turn } from './limiter-harness.js';
import { VirtualTime } from '../support/virtual-time.js';

const { table: testTable, submitters } = useLimiterTable();

describe('the shared rate limiter learns the limits and backs off on 429s', () => {
  test('learns the limit from the answer headers and paces every process at it', async () => {
    // Arrange: a default of 600 a minute; the provider says 120
    const time = new VirtualTime();
    const keyId = `key-${randomUUID().slice(0, 8)}`;
    const [first, second] = submitters(time, 2, { defaultRequestsPerWindow: 600 }, keyId);
    if (!first || !second) throw new Error('two limiters expected');
    const warmup: Turn[] = [];
    await time.run([submit(first, 0, 1, warmup, time)]);

    // Act
    first.observe({
      status: 200,
      method: 'POST',
      path: '/v1/responses',
      rateLimit: { limitRequests: 120, remainingRequests: 119, limitTokens: 40_000 },
    });
    await time.run([first.settled()]);
    time.advance(WINDOW_MS); // the bucket refills
    const turns: Turn[] = [];
    const start = time.now();
    await time.run([submit(first, 0, 12, turns, time), submit(second, 1, 12, turns, time)]);

    // Assert: stored for every process
    const stored = await new RateBucketTable(testTable().dynamo, testTable().tableName, keyId).read();
    expect(stored).toMatchObject({ limitRequests: 120, limitTokens: 40_000, learned: true });
    expect(second.snapshot()?.limitRequests).toBe(120);
    // 120 a minute: a burst of 2, then one every 500 ms
    expect(busiest(turns, 1000)).toBeLessThanOrEqual(2 + 2 + 1);
    const last = Math.max(...turns.map((turn) => turn.sentAt));
    expect(last - start).toBeGreaterThanOrEqual((24 - 2) * 500 - 1);
    expect(last - start).toBeLessThanOrEqual((24 - 2) * 500 * 1.05);
  });

  test('an answer with the same limits writes nothing', async () => {
    // Arrange
    const time = new VirtualTime();
    const [limiter] = submitters(time, 1, { defaultRequestsPerWindow: 600 });
    if (!limiter) throw new Error('a limiter expected');
    limiter.observe({ status: 200, method: 'POST', path: '/v1/responses', rateLimit: { limitRequests: 300 } });
    await time.run([limiter.settled()]);
    const writes = limiter.stats.writes;

    // Act
    for (let i = 0; i < 50; i++) {
      limiter.observe({
        status: 200,
        method: 'POST',
        path: '/v1/responses',
        rateLimit: { limitRequests: 300, remainingRequests: 250 - i },
      });
    }
    await time.run([limiter.settled()]);

    // Assert
    expect(limiter.stats.writes).toBe(writes);
  });

  test('a 429 pauses every submitter until retry-after, and the pace comes back to the limit', async () => {
    // Arrange: five processes sending 600 a minute; at 20 s one of them gets a 429 with retry-after 10 s
    const time = new VirtualTime();
    const limiters = submitters(time, 5, { defaultRequestsPerWindow: 600 });
    const turns: Turn[] = [];
    const start = time.now();
    let penaltyAt: number | undefined;
    const onTurn = async (turn: Turn) => {
      if (penaltyAt !== undefined || turn.sentAt < start + 20_000) return;
      penaltyAt = time.now();
      await limiters[0]?.penalize(10_000);
    };

    // Act
    await time.run(limiters.map((limiter, i) => submit(limiter, i, 200, turns, time, i === 0 ? { onTurn } : {})));

    // Assert
    if (penaltyAt === undefined) throw new Error('the 429 never happened');
    const pausedAt: number = penaltyAt;
    const resumeAt = pausedAt + 10_000;
    const during = turns.filter((turn) => turn.sentAt > pausedAt && turn.sentAt < resumeAt);
    // the process that saw the 429 sends nothing until retry-after
    expect(during.filter((turn) => turn.submitter === 0)).toEqual([]);
    // the others use only slots they reserved shortly before (within maxAhead of their last look
    // at the bucket), then stop too: anything later is checked against the bucket and void
    expect(during.length).toBeLessThanOrEqual((PARAMS.maxAheadMs / 1000) * 10 + 10);
    expect(during.every((turn) => turn.sentAt <= pausedAt + PARAMS.maxAheadMs)).toBe(true);
    // the pace was cut once (AIMD) and then regained
    const stored = limiters[0]?.snapshot();
    expect(stored?.cutAt).toBe(pausedAt);
    expect(stored?.pausedUntil).toBe(resumeAt);
    const after = turns.filter((turn) => turn.sentAt >= resumeAt);
    expect(after.length).toBeGreaterThan(0);
    expect(busiest(after, 1000)).toBeLessThanOrEqual(10 + 10 + 1);
    // 1,000 requests in all, minus 10 s of pause, at a pace that regains the limit within 12 s
    const last = Math.max(...turns.map((turn) => turn.sentAt));
    expect(last - start).toBeLessThanOrEqual((1000 - 10) * 100 + 10_000 + 500 + 1200 + 2000);
  });

  test('a burst of 429s across processes is one congestion event: one cut, regained linearly', async () => {
    // Arrange
    const time = new VirtualTime();
    const limiters = submitters(time, 5, { defaultRequestsPerWindow: 600 });
    const turns: Turn[] = [];
    await time.run(limiters.map((limiter, i) => submit(limiter, i, 4, turns, time)));
    const at = time.now();

    // Act: every process sees a 429 at the same moment
    await time.run(limiters.map((limiter) => limiter.penalize(1000)));

    // Assert
    const state = await new RateBucketTable(testTable().dynamo, testTable().tableName, limiters[0]?.keyId ?? '').read();
    if (!state) throw new Error('no bucket');
    expect(state.factor).toBeCloseTo(0.8);
    expect(state.cutAt).toBe(at);
    expect(factorAt(state, at + 6000, PARAMS)).toBeCloseTo(0.9);
    expect(factorAt(state, at + 12_000, PARAMS)).toBe(1);
  });

  test('while the pace grows back after a 429, bookings reach at most maxAheadMs ahead', async () => {
    // Arrange: a known limit of 600 a minute, cut by a 429 with retry-after 1 s
    const time = new VirtualTime();
    const keyId = `key-${randomUUID().slice(0, 8)}`;
    const [watcher, ...limiters] = submitters(time, 4, { defaultRequestsPerWindow: 600 }, keyId);
    if (!watcher) throw new Error('a limiter expected');
    watcher.observe({ status: 200, method: 'POST', path: '/v1/responses', rateLimit: { limitRequests: 600 } });
    await time.run([watcher.settled()]);
    await time.run([watcher.penalize(1_000)]);
    const bucket = new RateBucketTable(testTable().dynamo, testTable().tableName, keyId);
    let deepest = 0;
    const turns: Turn[] = [];
    const onTurn = async (turn: Turn) => {
      const state = await bucket.read();
      if (state && factorAt(state, turn.sentAt, PARAMS) < 1)
        deepest = Math.max(deepest, state.tatRequests - turn.sentAt);
    };

    // Act: three tasks of 100 requests each, all waiting for their turns at once
    await time.run(
      limiters.map((limiter, i) => submit(limiter, i, 100, turns, time, { tokens: 0, concurrency: 100, onTurn })),
    );

    // Assert: the cut pace never booked the queue deep (1 s of burst, maxAheadMs and one chunk of slack)
    expect(turns).toHaveLength(300);
    expect(deepest).toBeGreaterThan(0);
    expect(deepest).toBeLessThanOrEqual(PARAMS.burstMs + PARAMS.maxAheadMs + 10 * (WINDOW_MS / 600) * 1.25);
  });
});
