import { randomUUID } from 'node:crypto';
import pMap from 'p-map';
import { describe, expect, test } from '@jest/globals';
import { providerKeyId, rateBucketKey } from '../../shared/rate-limit/bucket-table.js';
import { TURN_LATER, type RateLimiter } from '../../shared/rate-limit/rate-limiter.js';
import { PARAMS, WINDOW_MS, busiest, submit, useLimiterTable, type Turn } from './limiter-harness.js';
import { VirtualTime } from '../support/virtual-time.js';

const { table: testTable, submitters } = useLimiterTable();

describe('the shared rate limiter', () => {
  test('five concurrent submitters together get at most the limit per window, and drain at the limit', async () => {
    // Arrange: 600 requests a minute (10 a second, a burst of 10), five processes of 120 requests each
    const time = new VirtualTime();
    const limiters = submitters(time, 5, { defaultRequestsPerWindow: 600 });
    const turns: Turn[] = [];
    const start = time.now();

    // Act
    await time.run(limiters.map((limiter, i) => submit(limiter, i, 120, turns, time)));

    // Assert: every turn handed out, each caller let go at its slot
    expect(turns).toHaveLength(600);
    expect(turns.every((turn) => turn.sentAt === turn.at)).toBe(true);
    expect(new Set(turns.map((turn) => turn.submitter)).size).toBe(5);
    // never more than the rate plus the burst in any window
    expect(busiest(turns, 1000)).toBeLessThanOrEqual(10 + 10 + 1);
    expect(busiest(turns, 10_000)).toBeLessThanOrEqual(100 + 10 + 1);
    expect(busiest(turns, WINDOW_MS)).toBeLessThanOrEqual(600 + 10 + 1);
    // and the budget is used: 600 requests take (600 - burst) / 10 per second = 59 s, within 2 %
    const last = Math.max(...turns.map((turn) => turn.sentAt));
    expect(last - start).toBeGreaterThanOrEqual(59_000 - 1);
    expect(last - start).toBeLessThanOrEqual(59_000 * 1.02);
    // DynamoDB: one write per chunk of up to 10 turns, plus the writes that lost a race
    const stats = limiters.map((limiter) => limiter.stats);
    const writes = stats.reduce((sum, s) => sum + s.writes, 0);
    const conflicts = stats.reduce((sum, s) => sum + s.conflicts, 0);
    const reads = stats.reduce((sum, s) => sum + s.reads, 0);
    expect(writes).toBeLessThanOrEqual((600 / 10) * 1.1); // full chunks of 10
    // reads: a process's first look, one after each lost race, one check per chunk reserved far ahead
    expect((writes + conflicts + reads) / 600).toBeLessThan(0.3); // DynamoDB calls per request (measured 0.23)
  });

  test('at the full, known pace each submit task books its whole batch in one write: the batches take their turns one after the other', async () => {
    // Arrange: three submit tasks of 40 requests, each with a limiter of its own; the limit is known (600 a minute)
    const time = new VirtualTime();
    const keyId = `key-${randomUUID().slice(0, 8)}`;
    const limiters = submitters(time, 3, { defaultRequestsPerWindow: 600 }, keyId);
    limiters[0]?.observe({ status: 200, method: 'POST', path: '/v1/responses', rateLimit: { limitRequests: 600 } });
    await time.run([limiters[0]?.settled() ?? Promise.resolve()]);
    const turns: Turn[] = [];

    // Act
    await time.run(limiters.map((limiter, i) => submit(limiter, i, 40, turns, time, { tokens: 0 })));

    // Assert: no interleaving, each batch's sends end before the next batch's start
    const spans = [0, 1, 2].map((i) => {
      const sent = turns.filter((turn) => turn.submitter === i).map((turn) => turn.sentAt);
      return { first: Math.min(...sent), last: Math.max(...sent) };
    });
    spans.sort((a, b) => a.first - b.first);
    expect(spans[0]?.last).toBeLessThanOrEqual(spans[1]?.first ?? 0);
    expect(spans[1]?.last).toBeLessThanOrEqual(spans[2]?.first ?? 0);
    // The first also wrote the learned limit.
    expect(limiters.map((limiter) => limiter.stats.writes)).toEqual([1 + 1, 1, 1]);
    expect(busiest(turns, 1000)).toBeLessThanOrEqual(10 + 10 + 1);
  });

  test('the token limit paces requests too, and a larger request than estimated is paid by the next chunk', async () => {
    // Arrange: 600 requests but 30,000 tokens a minute: 1,000-token requests go one every 2 s
    const time = new VirtualTime();
    const [limiter] = submitters(time, 1, { defaultRequestsPerWindow: 600, defaultTokensPerWindow: 30_000 });
    if (!limiter) throw new Error('a limiter expected');
    const turns: Turn[] = [];
    const start = time.now();

    // Act
    await time.run([submit(limiter, 0, 20, turns, time, { tokens: 1000 })]);

    // Assert: (20 - 1) * 2 s after the first, which a full 500-token burst lets go at once
    const last = Math.max(...turns.map((turn) => turn.sentAt));
    expect(last - start).toBeGreaterThanOrEqual(19 * 2000 - 1);
    expect(last - start).toBeLessThanOrEqual(19 * 2000 * 1.05);
    expect(busiest(turns, WINDOW_MS)).toBeLessThanOrEqual(30 + 1);
  });

  test('a caller gives up, without reserving, when no turn starts before its deadline', async () => {
    // Arrange: a bucket paused for a minute
    const time = new VirtualTime();
    const [limiter] = submitters(time, 1, { defaultRequestsPerWindow: 600 });
    if (!limiter) throw new Error('a limiter expected');
    await time.run([limiter.penalize(60_000)]);
    const turns: Turn[] = [];
    const before = limiter.stats.writes;

    // Act
    const [refused] = await time.run([submit(limiter, 0, 5, turns, time, { deadline: time.now() + 30_000 })]);

    // Assert
    expect(refused).toBe(5);
    expect(turns).toEqual([]);
    expect(limiter.stats.writes).toBe(before);
  });

  test('turns further off than maxWaitMs stay booked; handed over, another process uses them as booked, unless a 429 voided them', async () => {
    // Arrange: 60 a minute, a burst of 1. Process A books a chunk, takes the turn due now and hands over the rest
    const time = new VirtualTime();
    const [a, b, c] = submitters(time, 3, { defaultRequestsPerWindow: 60 });
    if (!a || !b || !c) throw new Error('three limiters expected');
    const bookAndHandOver = async () => {
      const demand = a.expect(10);
      const first = await a.take({ tokens: 0, deadline: Number.MAX_SAFE_INTEGER, demand, maxWaitMs: 0 });
      const later = await a.take({ tokens: 0, deadline: Number.MAX_SAFE_INTEGER, demand, maxWaitMs: 0 });
      demand.done();
      return { first, later, reservation: a.releaseBookedTurns() };
    };
    const useAll = async (limiter: RateLimiter, count: number) => {
      const demand = limiter.expect(count);
      const turns = await pMap(Array.from({ length: count }), () =>
        limiter.take({ tokens: 0, deadline: Number.MAX_SAFE_INTEGER, demand }),
      );
      demand.done();
      return turns;
    };
    const [booked] = await time.run([bookAndHandOver()]);
    if (!booked) throw new Error('a booking expected');

    // Act: B takes over the reservation
    b.takeBookedTurns(booked.reservation);
    const writes = b.stats.writes;
    const [used] = await time.run([useAll(b, 9)]);

    // Assert
    expect(booked.first).toBe((booked.reservation?.at[0] ?? 0) - 1000);
    expect(booked.later).toBe(TURN_LATER);
    expect(booked.reservation?.at).toHaveLength(9);
    expect(used).toEqual(booked.reservation?.at);
    expect(b.stats.writes).toBe(writes); // no booking of its own

    // Act: booked again, then a 429 elsewhere voids every reservation before B takes it over
    const [again] = await time.run([bookAndHandOver()]);
    await time.run([c.penalize(5_000)]);
    const resumeAt = time.now() + 5_000;
    b.takeBookedTurns(again?.reservation);
    const [afterPause] = await time.run([useAll(b, 9)]);

    // Assert: turns within maxAheadMs of the booking stand (as for every process); later ones
    // were checked against the bucket, found void, and booked anew after the pause
    const reserved = again?.reservation;
    if (!reserved || !afterPause) throw new Error('a reservation and turns expected');
    const kept = (at: number) => at <= reserved.checkedAt + PARAMS.maxAheadMs && reserved.at.includes(at);
    expect(afterPause.every((at) => typeof at === 'number' && (kept(at) || at >= resumeAt))).toBe(true);
    expect(afterPause.filter((at) => typeof at === 'number' && at >= resumeAt).length).toBeGreaterThan(0);
  });

  test('a caller that stops waiting returns at once and gives its slot back to the others of the process', async () => {
    // Arrange: 60 a minute, a burst of 1; the burst is taken
    const time = new VirtualTime();
    const [limiter] = submitters(time, 1, { defaultRequestsPerWindow: 60 });
    if (!limiter) throw new Error('a limiter expected');
    const start = time.now();
    await time.run([limiter.take({ tokens: 0, deadline: Number.MAX_SAFE_INTEGER })]);
    const stopping = new AbortController();

    // Act: a caller waits for the next slot (in 1 s) and is stopped half way
    const [stopped] = await time.run<number | undefined>([
      limiter.take({ tokens: 0, deadline: Number.MAX_SAFE_INTEGER, signal: stopping.signal }),
      time.sleep(500).then(() => {
        stopping.abort();
        return undefined;
      }),
    ]);
    const writes = limiter.stats.writes;
    const [next] = await time.run([limiter.take({ tokens: 0, deadline: Number.MAX_SAFE_INTEGER })]);

    // Assert
    expect(stopped).toBeUndefined();
    expect(next).toBe(start + 1000); // the slot given back, used by the next caller
    expect(limiter.stats.writes).toBe(writes); // without a new reservation
  });

  test('the bucket item is keyed by a hash of the endpoint and key, never the key itself', async () => {
    // Arrange
    const keyId = providerKeyId('https://api.openai.com/v1/', 'sk-secret-123');
    const time = new VirtualTime();
    const [limiter] = submitters(time, 1, { defaultRequestsPerWindow: 600 }, keyId);
    if (!limiter) throw new Error('a limiter expected');

    // Act
    await time.run([submit(limiter, 0, 1, [], time)]);

    // Assert
    expect(keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(keyId).toBe(providerKeyId('https://api.openai.com/v1', 'sk-secret-123'));
    expect(keyId).toBe(providerKeyId(undefined, 'sk-secret-123'));
    expect(keyId).not.toBe(providerKeyId('http://127.0.0.1:1234/v1', 'sk-secret-123'));
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const { Item } = await testTable().dynamo.send(
      new GetCommand({ TableName: testTable().tableName, Key: rateBucketKey(keyId) }),
    );
    expect(Item).toMatchObject({ pk: `RATE#${keyId}`, sk: 'BUCKET', version: 1 });
    expect(JSON.stringify(Item)).not.toContain('sk-secret');
  });
});
