import OpenAI from 'openai';
import pMap from 'p-map';

/**
 * The design llm-batch replaces, reproduced with its limits: a function runs every 30 seconds;
 * each run submits at most 1000 queued items (50 in parallel, the SDK's retries on errors) and
 * polls at most 1000 submitted ones (50 in parallel). Driven against the same mock provider, on
 * the same simulated clock.
 */
export const BASELINE = { intervalSeconds: 30, maxSubmitPerRun: 1000, maxPollPerRun: 1000, parallel: 50 } as const;

export interface BaselineResult {
  simSeconds: number;
  runs: number;
  /** Runs that took longer than the interval (the machine, not the design, set their pace). */
  lateRuns: number;
  failed: number;
}

export async function runBaseline(options: {
  items: number;
  providerUrl: string;
  timeScale: number;
  model: string;
}): Promise<BaselineResult> {
  const client = new OpenAI({ apiKey: 'mock-key', baseURL: options.providerUrl, maxRetries: 2 });
  const queued = Array.from({ length: options.items }, (_, i) => `item-${i}`);
  const submitted = new Map<string, string>();
  let finished = 0;
  let failed = 0;
  let runs = 0;
  let lateRuns = 0;
  const started = performance.now();
  while (finished < options.items) {
    runs++;
    const runStarted = performance.now();
    const batch = queued.splice(0, BASELINE.maxSubmitPerRun);
    await pMap(
      batch,
      async (id) => {
        try {
          const response = await client.responses.create({
            model: options.model,
            input: `Tell me about ${id}`,
            background: true,
          });
          submitted.set(id, response.id);
        } catch {
          queued.push(id); // picked up by a later run
        }
      },
      { concurrency: BASELINE.parallel },
    );
    const toPoll = [...submitted.entries()].slice(0, BASELINE.maxPollPerRun);
    await pMap(
      toPoll,
      async ([id, responseId]) => {
        try {
          const response = await client.responses.retrieve(responseId);
          if (response.status === 'queued' || response.status === 'in_progress') return;
          if (response.status !== 'completed') failed++;
          submitted.delete(id);
          finished++;
        } catch {
          // polled again next run
        }
      },
      { concurrency: BASELINE.parallel },
    );
    // The next scheduled run, 30 simulated seconds after this one started.
    const next = runStarted + (BASELINE.intervalSeconds * 1000) / options.timeScale;
    if (performance.now() > next) lateRuns++;
    if (finished < options.items)
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  return { simSeconds: ((performance.now() - started) / 1000) * options.timeScale, runs, lateRuns, failed };
}
