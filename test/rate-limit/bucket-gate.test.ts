import { randomUUID } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import type { ObservedLimits } from '../../shared/rate-limit/limit-learning.js';
import { TURN_LATER } from '../../shared/rate-limit/rate-limiter.js';
import { createRateLimiter } from '../../shared/rate-limit/settings.js';
import { busiest, seeded, submit, useLimiterTable, WINDOW_MS, type Turn } from './limiter-harness.js';
import { VirtualTime } from '../support/virtual-time.js';

const { table } = useLimiterTable();

/** `count` limiters of one key in one process, as the local runtime makes them (one per invocation, one `observed`). */
function limitersOfOneProcess(time: VirtualTime, count: number, keyId: string) {
  const observed: ObservedLimits = {};
  return Array.from({ length: count }, (_, i) =>
    createRateLimiter({
      dynamo: time.track(table().dynamo),
      tableName: table().tableName,
      keyId,
      settings: { defaultRequestsPerWindow: 600, chunkSize: 10 },
      clock: time.now,
      sleep: time.sleep,
      random: seeded(i + 1),
      observed,
    }),
  );
}

describe('the limiters of one key in one process', () => {
  test('take turns writing the bucket: no write is lost to a race', async () => {
    // Arrange: ten concurrent submit invocations of one process, 30 requests each
    const time = new VirtualTime();
    const limiters = limitersOfOneProcess(time, 10, `key-${randomUUID().slice(0, 8)}`);
    const turns: Turn[] = [];

    // Act
    await time.run(limiters.map((limiter, i) => submit(limiter, i, 30, turns, time)));

    // Assert: every turn handed out within the limit, each booking one write computed from the last one
    expect(turns).toHaveLength(300);
    expect(busiest(turns, WINDOW_MS)).toBeLessThanOrEqual(600 + 10 + 1);
    const stats = limiters.map((limiter) => limiter.stats);
    expect(stats.reduce((sum, s) => sum + s.conflicts, 0)).toBe(0);
    // reads: the first look, and the epoch checks of chunks booked far ahead; none after a lost race
    expect(stats.reduce((sum, s) => sum + s.reads, 0)).toBeLessThanOrEqual(30);
    expect(stats.reduce((sum, s) => sum + s.writes, 0)).toBeLessThanOrEqual(300 / 10 + 10);
  });
});

describe('a turn for a caller that may wait at most maxWaitMs', () => {
  test('counts from when the turn is handed out: a slow booking does not leave a turn starting now for later', async () => {
    // Arrange: the bucket's read takes 8 s (a busy process waiting its turn), more than the caller's 6 s at most
    const time = new VirtualTime();
    const dynamo = time.track(table().dynamo);
    const slowReads = {
      send: (async (command: Parameters<typeof dynamo.send>[0]) => {
        if (command.constructor.name === 'GetCommand') await time.sleep(8_000);
        return dynamo.send(command);
      }) as typeof dynamo.send,
    };
    const limiter = createRateLimiter({
      dynamo: slowReads,
      tableName: table().tableName,
      keyId: `key-${randomUUID().slice(0, 8)}`,
      settings: { defaultRequestsPerWindow: 600 },
      clock: time.now,
      sleep: time.sleep,
      random: seeded(1),
    });
    const calledAt = time.now();

    // Act
    const [turn] = await time.run([limiter.take({ tokens: 0, deadline: Number.MAX_SAFE_INTEGER, maxWaitMs: 6_000 })]);

    // Assert: the turn booked once the read came back, handed out at once
    expect(turn).not.toBe(TURN_LATER);
    expect(turn).toBe(calledAt + 8_000);
  });
});
