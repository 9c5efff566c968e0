import { describe, expect, test } from '@jest/globals';
import {
  BATCH_DEADLINE_SECONDS,
  EVENTS_PER_POLL_TURN_WORST_CASE,
  HISTORY_EVENT_LIMIT,
  MAX_POLL_TURNS,
  POLL_INTERVALS,
} from '../../shared/limits.js';
import {
  batchEtaSeconds,
  initialWaitSeconds,
  median,
  nextWaitSeconds,
  observedLatencySeconds,
  pollLimitReached,
} from '../../shared/polling.js';
import type { OutputLine } from '../../shared/types.js';

function completed(createdAt: number, completedAt: number): OutputLine {
  return {
    id: 'resp_1',
    custom_id: 'a',
    response: { status_code: 200, request_id: 'r', body: { created_at: createdAt, completed_at: completedAt } },
    error: null,
  };
}

describe('adaptive polling', () => {
  test('the first wait is the latency the job has seen, within the mode bounds, else the default', () => {
    expect(initialWaitSeconds('responses')).toBe(POLL_INTERVALS.responses.initial);
    expect(initialWaitSeconds('responses', { latencyEstimateSeconds: 12 })).toBe(12);
    expect(initialWaitSeconds('responses', { latencyEstimateSeconds: 0.2 })).toBe(POLL_INTERVALS.responses.min);
    expect(initialWaitSeconds('batch', { latencyEstimateSeconds: 10_000 })).toBe(POLL_INTERVALS.batch.max);
  });

  test('nothing moved: the wait grows by the growth factor up to the cap', () => {
    expect(nextWaitSeconds('responses', 10, { progressed: false })).toBe(15);
    expect(nextWaitSeconds('responses', POLL_INTERVALS.responses.max, { progressed: false })).toBe(
      POLL_INTERVALS.responses.max,
    );
  });

  test('requests finished: the next poll comes after half their observed latency', () => {
    expect(nextWaitSeconds('responses', 30, { progressed: true, latencySeconds: 8 })).toBe(4);
    expect(nextWaitSeconds('responses', 30, { progressed: true, latencySeconds: 1 })).toBe(
      POLL_INTERVALS.responses.min,
    );
    // Latency unknown: a little sooner than last time.
    expect(nextWaitSeconds('responses', 30, { progressed: true })).toBe(20);
  });

  test('at the end of a job, a quarter of the expected latency until the requests are 3 latencies old, then as usual', () => {
    expect(nextWaitSeconds('responses', 10, { progressed: false, tail: { ageSeconds: 5, expectedSeconds: 8 } })).toBe(
      2,
    );
    expect(nextWaitSeconds('responses', 10, { progressed: false, tail: { ageSeconds: 23, expectedSeconds: 8 } })).toBe(
      2,
    );
    expect(nextWaitSeconds('responses', 10, { progressed: false, tail: { ageSeconds: 24, expectedSeconds: 8 } })).toBe(
      15,
    );
    expect(
      nextWaitSeconds('responses', 10, {
        progressed: true,
        latencySeconds: 8,
        tail: { ageSeconds: 30, expectedSeconds: 8 },
      }),
    ).toBe(4);
    expect(nextWaitSeconds('responses', 10, { progressed: false, tail: { ageSeconds: 0, expectedSeconds: 2 } })).toBe(
      POLL_INTERVALS.responses.min,
    );
  });

  test('a provider batch that reports progress is polled when it should be done, at the rate its requests finish', () => {
    expect(batchEtaSeconds(120, { total: 1000, completed: 250, failed: 0 })).toBe(360);
    expect(batchEtaSeconds(120, { total: 1000, completed: 0, failed: 0 })).toBeUndefined();
    expect(batchEtaSeconds(120, { total: 1000, completed: 990, failed: 10 })).toBe(0);
    expect(nextWaitSeconds('batch', 60, { progressed: false, etaSeconds: 360 })).toBe(360);
    expect(nextWaitSeconds('batch', 60, { progressed: true, etaSeconds: 0 })).toBe(POLL_INTERVALS.batch.min);
    expect(nextWaitSeconds('batch', 60, { progressed: false, etaSeconds: 100_000 })).toBe(POLL_INTERVALS.batch.max);
  });

  test('observed latency comes from the response body; none without both times', () => {
    expect(observedLatencySeconds(completed(100, 107))).toBe(7);
    expect(
      observedLatencySeconds({ id: 'x', custom_id: 'a', response: null, error: { code: 'e', message: 'm' } }),
    ).toBeUndefined();
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 2])).toBe(3);
    expect(median([])).toBeUndefined();
  });

  test('the poll-turn bound and the deadline stop a batch, with the reason', () => {
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(pollLimitReached({ pollTurn: MAX_POLL_TURNS - 1, deadline: future }, new Date())).toBeUndefined();
    expect(pollLimitReached({ pollTurn: MAX_POLL_TURNS, deadline: future }, new Date())?.code).toBe(
      'poll_limit_reached',
    );
    expect(pollLimitReached({ pollTurn: 0, deadline: new Date(Date.now() - 1).toISOString() }, new Date())?.code).toBe(
      'deadline_exceeded',
    );
  });

  test('the turn bound keeps a child under the history limit, yet outlasts the batch deadline even when nothing moves', () => {
    // A child: submit, choice, then each turn wait + poll + choice, with retries at worst.
    expect(MAX_POLL_TURNS * EVENTS_PER_POLL_TURN_WORST_CASE + 100).toBeLessThan(HISTORY_EVENT_LIMIT);
    for (const mode of ['responses', 'batch'] as const) {
      let wait = initialWaitSeconds(mode);
      let waited = 0;
      for (let turn = 0; turn < MAX_POLL_TURNS; turn++) {
        waited += wait;
        wait = nextWaitSeconds(mode, wait, { progressed: false });
      }
      expect(waited).toBeGreaterThan(BATCH_DEADLINE_SECONDS[mode]);
    }
  });
});
