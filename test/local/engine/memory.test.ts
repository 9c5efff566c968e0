import { expect, test } from '@jest/globals';
import { STATE } from '../../../workflows/state-names.js';
import { Harness, makeItems, type ChildInput } from './harness.js';

/**
 * Many items, one per child, MaxConcurrency 1,000, through a trivial child (Submit answers nothing
 * pending): the items are pulled as the pool has room, never all children at once.
 *
 * 50,000 rather than 100,000 to keep the suite short on a shared 2-core machine: 100,000 took
 * 11-15 s alone (up to 20 s under load): 0.1-0.15 ms of CPU per child, much of it in the engine
 * (jsonpath-plus throws an Error for every scalar JSONPath result, the engine JSON-clones per state).
 */
test('50,000 items through a Distributed Map at MaxConcurrency 1,000 stream through the pool', async () => {
  const count = 50_000;
  let itemsReadAtFirstSubmit = -1;
  let results = 0;
  const h = new Harness({
    items: makeItems(count),
    job: { batchSize: 1, maxConcurrency: 1000, toleratedFailurePercentage: 0 },
    tasks: {
      [STATE.submitBatch]: async (input) => {
        if (itemsReadAtFirstSubmit < 0) itemsReadAtFirstSubmit = h.itemsRead;
        await new Promise((resolve) => setImmediate(resolve)); // the children overlap, so the pool fills up
        return { items: (input as ChildInput).Items.length, pending: 0 };
      },
    },
    writeResults: (writer, run) => {
      results = run.succeeded.length + run.failed.length;
      return Promise.resolve({ Bucket: writer.bucket, Key: `${writer.prefix}/${run.mapRunId}/manifest.json` });
    },
  });
  const heapBefore = process.memoryUsage().heapUsed;
  const started = Date.now();

  const { description } = await h.run();

  const seconds = (Date.now() - started) / 1000;
  const stats = h.engine.stats();
  console.log(
    `${count} items: ${seconds.toFixed(1)} s, heap +${Math.round((process.memoryUsage().heapUsed - heapBefore) / 1e6)} MB, rss ${Math.round(process.memoryUsage().rss / 1e6)} MB`,
    stats,
  );
  expect(description.status).toBe('SUCCEEDED');
  expect(stats.childExecutions).toBe(count);
  expect(stats.peakRunningChildren).toBeLessThanOrEqual(1000);
  expect(stats.peakRunningChildren).toBe(1000);
  // The reader is pulled only as far as the pool has room.
  expect(itemsReadAtFirstSubmit).toBeLessThanOrEqual(1001);
  expect(results).toBe(count);
  expect(h.callsOf(STATE.submitBatch)).toHaveLength(count);
  // The time is printed, not asserted (a shared CI machine varies): the bound only catches a hang.
}, 120_000);
