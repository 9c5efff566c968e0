/**
 * The "hostile provider" table of `npm run bench` (issue 11): jobs that must end with every item
 * SUCCEEDED although the mock refuses batches past its queue limit, expires batches half way and
 * fails lines and background responses transiently. No permanent errors: a failed item is a bug.
 */

export interface HostileSettings {
  items: number;
  /** Items per child (and per provider batch) in batch mode: the queue holds two of them. */
  batchSize: number;
  rpm: number;
  latencyMs: number;
  batchDurationMs: number;
  batchTimeScale: number;
  responsesTimeScale: number;
}

export type ScenarioResult = Record<string, unknown> & { peakRssBytes: number; cpuBusy: number };
type RunScenario = (args: string[]) => Promise<ScenarioResult>;

interface HostileCase {
  mode: 'batch' | 'responses';
  faults: string;
  args: string[];
  timeScale: number;
}

function cases(settings: HostileSettings): HostileCase[] {
  return [
    {
      mode: 'batch',
      faults: 'queue fits 2 batches, 30 % of batches expire, 10 % transient line errors',
      args: ['--batch-size', String(settings.batchSize), '--queue-batches', '2', '--expire-rate', '0.3'],
      timeScale: settings.batchTimeScale,
    },
    { mode: 'responses', faults: '30 % transient failures', args: [], timeScale: settings.responsesTimeScale },
  ].map((entry) => ({
    ...entry,
    mode: entry.mode as HostileCase['mode'],
    // At 3 attempts, 0.3^3 = 2.7 % of items would run out of them; at 10, about 6 in a million.
    args: [...entry.args, '--transient-rate', entry.mode === 'batch' ? '0.1' : '0.3', '--max-attempts', '10'],
  }));
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** Runs both hostile cases and returns the markdown table; `failed` when an item did not succeed. */
export async function hostileTable(
  runScenario: RunScenario,
  settings: HostileSettings,
): Promise<{ table: string; failed: boolean }> {
  const rows: string[] = [];
  let failed = false;
  for (const hostile of cases(settings)) {
    process.stderr.write(
      `bench: hostile provider, ${settings.items} items, ${hostile.mode} mode (${hostile.faults})...\n`,
    );
    const started = performance.now();
    const r = await runScenario([
      '--items',
      String(settings.items),
      '--mode',
      hostile.mode,
      '--time-scale',
      String(hostile.timeScale),
      '--rpm',
      String(settings.rpm),
      '--latency-ms',
      String(settings.latencyMs),
      '--batch-completion-ms',
      String(settings.batchDurationMs),
      ...hostile.args,
    ]);
    process.stderr.write(`bench:   ${String(r.status)} in ${fmt((performance.now() - started) / 1000, 0)} s\n`);
    if (r.error) process.stderr.write(`bench:   job error: ${JSON.stringify(r.error)}\n`);
    const n = settings.items;
    const allSucceeded = r.succeededIds === n && (r.counts as { succeeded?: number } | undefined)?.succeeded === n;
    if (!allSucceeded) failed = true;
    const sim = r.simSeconds as number;
    // Batch mode is bound by the queue: every item's input tokens once, over the limit, batch durations each.
    const ideal =
      hostile.mode === 'batch'
        ? ((r.totalInputTokens as number) / (r.queueTokens as number)) * (settings.batchDurationMs / 1000)
        : n / (settings.rpm / 60);
    const attempts = r.attempts as { mean: number; max: number } | undefined;
    const created = hostile.mode === 'batch' ? (r.providerBatches as number) : (r.createCalls as number);
    rows.push(
      `| ${n.toLocaleString('en-US')} | ${hostile.mode} | ${hostile.faults} | ${String(r.status)} | ${String(r.succeededIds)} / ${n.toLocaleString('en-US')} | ${fmt(sim, 1)} | ${fmt(ideal, 1)} (${hostile.mode === 'batch' ? 'queue' : 'N/R'}) | ${fmt(sim / ideal)} | ${fmt((created / n) * 1000, 1)} ${hostile.mode === 'batch' ? 'batches' : 'creates'} | ${attempts ? `${fmt(attempts.mean, 3)} / ${attempts.max}` : 'n/a'} | ${fmt((r.stateTransitions as number) / n, 3)} | ${hostile.timeScale} | ${Math.round(r.cpuBusy * 100)} % |`,
    );
  }
  const table = [
    `Hostile provider: no permanent errors, so every item must end SUCCEEDED (maxAttempts 10). Batch mode: ${settings.batchSize} items per provider batch, a batch queue limit (input tokens enqueued per model) that holds two batches, 30 % of provider batches expiring half way, 10 % of batch lines failing with a 5xx; ideal = the items' input tokens / the queue limit x the batch duration (${settings.batchDurationMs / 1000} s). Responses mode: 30 % of create calls answered 5xx and 30 % of background responses ending failed (server_error); ideal = N / R at ${settings.rpm} requests/minute.`,
    '',
    '| N | mode | faults | job | items SUCCEEDED | time (s) | ideal (s) | ratio | provider creates / 1,000 items | attempts / item (mean / max) | state transitions / item | time scale | CPU |',
    '|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
  return { table, failed };
}
