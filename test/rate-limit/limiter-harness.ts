import pMap from 'p-map';
import { bucketParams } from '../../shared/rate-limit/bucket.js';
import type { RateLimiter } from '../../shared/rate-limit/rate-limiter.js';
import { createRateLimiter, type RateLimitSettings } from '../../shared/rate-limit/settings.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from '@jest/globals';
import { startTestTable, type TestTable } from '../support/dynamo.js';
import type { VirtualTime } from '../support/virtual-time.js';

// Submitter processes sharing one provider key on a test table, in simulated time.

export const WINDOW_MS = 60_000;
export const PARAMS = bucketParams(WINDOW_MS);

/** A deterministic Math.random stand-in. */
export function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

export interface Turn {
  submitter: number;
  /** The slot the limiter handed out. */
  at: number;
  /** When the caller was let go (the simulated clock). */
  sentAt: number;
}

/** `count` submitter processes sharing one provider key: one limiter (and one local pool) each. */
export function submittersOn(
  table: TestTable,
  time: VirtualTime,
  count: number,
  settings: RateLimitSettings,
  keyId: string,
): RateLimiter[] {
  return Array.from({ length: count }, (_, i) =>
    createRateLimiter({
      dynamo: time.track(table.dynamo),
      tableName: table.tableName,
      keyId,
      settings,
      clock: time.now,
      sleep: time.sleep,
      random: seeded(i + 1),
    }),
  );
}

/** One submit task: `requests` requests, 8 at a time (or `concurrency`), each waiting for its turn. */
export async function submit(
  limiter: RateLimiter,
  submitter: number,
  requests: number,
  turns: Turn[],
  time: VirtualTime,
  options: { tokens?: number; deadline?: number; concurrency?: number; onTurn?: (turn: Turn) => Promise<void> } = {},
): Promise<number> {
  const demand = limiter.expect(requests);
  let refused = 0;
  await pMap(
    Array.from({ length: requests }),
    async () => {
      const at = await limiter.take({
        tokens: options.tokens ?? 100,
        deadline: options.deadline ?? Number.MAX_SAFE_INTEGER,
        demand,
      });
      if (at === undefined) {
        refused++;
        return;
      }
      const turn = { submitter, at, sentAt: time.now() };
      turns.push(turn);
      await options.onTurn?.(turn);
    },
    { concurrency: options.concurrency ?? 8 },
  );
  demand.done();
  return refused;
}

/** The most turns sent within any `windowMs` (sliding). */
export function busiest(turns: readonly Turn[], windowMs: number): number {
  const times = turns.map((turn) => turn.sentAt).sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

/** A rate-limit test file's table (started before its tests, closed after) and its submitters on it. */
export function useLimiterTable(): {
  table: () => TestTable;
  submitters: (time: VirtualTime, count: number, settings: RateLimitSettings, keyId?: string) => RateLimiter[];
} {
  let table: TestTable | undefined;
  beforeAll(async () => {
    table = await startTestTable(`rate-${randomUUID().slice(0, 8)}`);
  });
  afterAll(async () => {
    await table?.close();
  });
  const started = () => {
    if (!table) throw new Error('the rate-limit test table did not start');
    return table;
  };
  return {
    table: started,
    submitters: (time, count, settings, keyId = `key-${randomUUID().slice(0, 8)}`) =>
      submittersOn(started(), time, count, settings, keyId),
  };
}
