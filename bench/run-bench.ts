import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hostileTable, type ScenarioResult } from './hostile.js';
import { localCostTable, measureLocalCost, tier5Table } from './scale-rows.js';

/**
 * `npm run bench`: drains jobs of N items through the local runtime against the mock provider at
 * a stated rate limit and latency, and the same N through the old design's limits, and prints a
 * markdown table. `--quick` runs N = 1,000 only. `--out docs/benchmarks.md` also writes it there,
 * between the file's bench markers.
 *
 * Figures are on simulated time (wall time x time scale). The local runtime's own CPU time is
 * multiplied by the time scale too, so each kind of run gets a scale that leaves it CPU to spare
 * (responses mode does the most work per simulated second); the table prints how busy the
 * process was. Run-to-run noise on a shared machine is real: compare ratios from one run.
 */
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    modes: { type: 'string', default: 'responses,batch' },
    rpm: { type: 'string', default: '3000' },
    'latency-ms': { type: 'string', default: '2000' },
    'time-scale': { type: 'string', default: '2' },
    'batch-time-scale': { type: 'string', default: '4' },
    'baseline-time-scale': { type: 'string', default: '10' },
    /** V8 old-space cap of each scenario process (MB): the live heap stays far below it (see docs/benchmarks.md). */
    'max-old-space-mb': { type: 'string', default: '512' },
    out: { type: 'string' },
    /** Only the hostile provider table (bench/hostile.ts), or everything but it. */
    'hostile-only': { type: 'boolean', default: false },
    'skip-hostile': { type: 'boolean', default: false },
    /** With --quick, also the hostile table (at 1,000 items): it takes about 2.5 minutes more. */
    hostile: { type: 'boolean', default: false },
    /**
     * Defaults 4 (responses) and 20 (batch). The local runtime's CPU time is scaled too: at 100,
     * Submit batch's scaled time ran past its budgets and the batch job failed.
     */
    'hostile-time-scale': { type: 'string' },
    'hostile-batch-time-scale': { type: 'string' },
    /** Issue 13's rows: the local runtime's own cost, and responses mode at R = 500/s (bench/scale-rows.ts). */
    'skip-scale': { type: 'boolean', default: false },
    /** Defaults 100,000 (10,000 with --quick). */
    'local-cost-items': { type: 'string' },
    /** Defaults 100,000 (5,000 with --quick). */
    'tier5-items': { type: 'string' },
    'tier5-rpm': { type: 'string', default: '30000' },
    /** Below 1: the simulated clock runs slower than the wall, so 500 items a simulated second fit the CPU. */
    'tier5-time-scale': { type: 'string', default: '0.5' },
  },
});

const sizes = (values.sizes ?? (values.quick ? '1000' : '1000,10000,100000')).split(',').map(Number);
const modes = values.modes.split(',');
const rpm = Number(values.rpm);
const latencyMs = Number(values['latency-ms']);
const timeScales: Record<string, number> = {
  responses: Number(values['time-scale']),
  batch: Number(values['batch-time-scale']),
};
const baselineTimeScale = Number(values['baseline-time-scale']);
const maxOldSpaceMb = Number(values['max-old-space-mb']);
for (const [name, value] of Object.entries({ rpm, latencyMs, maxOldSpaceMb, baselineTimeScale, ...timeScales })) {
  if (!(Number.isFinite(value) && value > 0))
    throw new RangeError(`bench: ${name} must be a positive number, got ${value}`);
}
if (sizes.some((n) => !(Number.isInteger(n) && n > 0)))
  throw new RangeError(`bench: --sizes must be positive integers, got ${values.sizes}`);

type Result = ScenarioResult;

function runScenario(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [`--max-old-space-size=${maxOldSpaceMb}`, '--import', 'tsx', join(import.meta.dirname, 'scenario.ts'), ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').at(-1);
      if (code !== 0 || !last) reject(new Error(`scenario ${args.join(' ')} failed with exit code ${code}`));
      else resolve(JSON.parse(last) as Result);
    });
  });
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;
const pct = (share: number) => `${Math.round(share * 100)} %`;
const common = ['--rpm', String(rpm), '--latency-ms', String(latencyMs)];
const perSecond = rpm / 60;

const rows: string[] = [];
const phaseRows: string[] = [];
const baselineRows: string[] = [];
for (const items of values['hostile-only'] ? [] : sizes) {
  const ideal = items / perSecond;
  for (const mode of modes) {
    const timeScale = timeScales[mode];
    if (timeScale === undefined) throw new RangeError(`bench: unknown mode ${mode} (responses or batch)`);
    process.stderr.write(`bench: ${items} items, ${mode} mode, time scale ${timeScale}...\n`);
    const started = performance.now();
    const r = await runScenario([
      '--items',
      String(items),
      '--mode',
      mode,
      '--time-scale',
      String(timeScale),
      ...common,
    ]);
    process.stderr.write(`bench:   ${r.status as string} in ${fmt((performance.now() - started) / 1000, 0)} s\n`);
    const n = items;
    const cost = (r.costPerMillion as { total: number }).total;
    const sim = r.simSeconds as number;
    rows.push(
      `| ${n.toLocaleString('en-US')} | ${mode} | ${String(r.status)} | ${fmt(sim, 1)} | ${fmt(ideal, 1)} | ${fmt(sim / ideal)} | ${String(r.rateLimited)} (${fmt((100 * (r.rateLimited as number)) / Math.max(1, r.createCalls as number), 2)} %) | ${fmt((r.providerCalls as number) / n, 3)} | ${fmt((r.stateTransitions as number) / n, 3)} | ${fmt((r.taskInvocations as number) / n, 4)} | ${mib(r.peakRssBytes)} | $${fmt(cost)} |`,
    );
    const phases = r.phases as { firstCreate: number; lastCreate: number; lastItemFinished: number; finalize: number };
    phaseRows.push(
      `| ${n.toLocaleString('en-US')} | ${mode} | ${timeScale} | ${fmt(phases.firstCreate, 1)} | ${fmt(phases.lastCreate, 1)} | ${fmt(phases.lastItemFinished - phases.lastCreate, 1)} | ${fmt(phases.finalize, 1)} | ${pct(r.cpuBusy)} |`,
    );
  }
  process.stderr.write(`bench: ${items} items, old design, time scale ${baselineTimeScale}...\n`);
  const b = await runScenario([
    '--baseline',
    '--items',
    String(items),
    '--time-scale',
    String(baselineTimeScale),
    ...common,
  ]);
  baselineRows.push(
    `| ${items.toLocaleString('en-US')} | ${fmt(b.simSeconds as number, 1)} | ${fmt(ideal, 1)} | ${fmt((b.simSeconds as number) / ideal)} | ${String(b.runs)} | ${String(b.lateRuns)} | ${pct(b.cpuBusy)} |`,
  );
}

const flags = [
  values.quick ? ' --quick' : '',
  values.sizes ? ` --sizes ${values.sizes}` : '',
  values.modes !== 'responses,batch' ? ` --modes ${values.modes}` : '',
  ` --rpm ${rpm} --latency-ms ${latencyMs}`,
  ` --time-scale ${timeScales.responses} --batch-time-scale ${timeScales.batch} --baseline-time-scale ${baselineTimeScale}`,
].join('');
const table = [
  `Mock provider: ${rpm} requests/minute (R = ${fmt(perSecond, 1)}/s), median latency ${latencyMs} ms (log-normal, sigma 0.5); a provider batch completes 60 s after it is created. Ideal = N / R.`,
  `Times are simulated seconds (wall time x time scale).`,
  '',
  '| N | mode | job | time (s) | ideal N/R (s) | ratio | 429s (% of creates) | provider calls / item | state transitions / item | task invocations / item | peak RSS | AWS orchestration $ / 1M items |',
  '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
  'Where the time went (simulated seconds from the start of the execution): the first and last create call the provider saw, how long after the last create the last item finished, the reducer, and how busy the process was (CPU time / wall time, both threads).',
  '',
  '| N | mode | time scale | first create | last create | last item after last create | reducer | CPU |',
  '|---:|---|---:|---:|---:|---:|---:|---:|',
  ...phaseRows,
  '',
  `Old design (a run every 30 s, at most 1000 items submitted per run), same mock and simulated clock (time scale ${baselineTimeScale}); a late run is one that took longer than the 30 s between runs:`,
  '',
  '| N | time (s) | ideal N/R (s) | ratio | runs | late runs | CPU |',
  '|---:|---:|---:|---:|---:|---:|---:|',
  ...baselineRows,
  '',
  `Reproduce: \`npm run bench --${flags}\``,
].join('\n');
if (!values['hostile-only']) {
  process.stdout.write(`${table}\n`);
  if (values.out) await writeTable(values.out, table);
}

if (!values['hostile-only'] && !values['skip-scale']) {
  const costItems = Number(values['local-cost-items'] ?? (values.quick ? 10_000 : 100_000));
  process.stderr.write(`bench: local cost, llm-batch run of ${costItems} items...\n`);
  const cost = localCostTable(await measureLocalCost(costItems));
  const tier5 = {
    items: Number(values['tier5-items'] ?? (values.quick ? 5_000 : 100_000)),
    rpm: Number(values['tier5-rpm']),
    latencyMs,
    timeScale: Number(values['tier5-time-scale']),
  };
  process.stderr.write(`bench: ${tier5.items} items at ${tier5.rpm} rpm, time scale ${tier5.timeScale}...\n`);
  const r = await runScenario([
    '--items',
    String(tier5.items),
    '--mode',
    'responses',
    '--rpm',
    String(tier5.rpm),
    '--latency-ms',
    String(latencyMs),
    '--time-scale',
    String(tier5.timeScale),
  ]);
  const scaleText = `${cost}\n\n${tier5Table(r, tier5)}\n\nReproduce: \`npm run bench --${values.quick ? ' --quick' : ''} --local-cost-items ${costItems} --tier5-items ${tier5.items} --tier5-rpm ${tier5.rpm} --tier5-time-scale ${tier5.timeScale} --latency-ms ${latencyMs}\``;
  process.stdout.write(`\n${scaleText}\n`);
  if (values.out) await writeTable(values.out, scaleText, 'bench-scale');
}

// --quick stays short (under 2 minutes): the hostile table only when asked for.
const runHostile = values['hostile-only'] || (!values['skip-hostile'] && (!values.quick || values.hostile));
if (runHostile) {
  // Quick: 1,000 items in 10 batches of 100; else 10,000 in 10 batches of 1,000 (the batch mode default).
  const hostileItems = values.quick ? 1_000 : 10_000;
  const hostileScale = Number(values['hostile-time-scale'] ?? 4);
  const hostileBatchScale = Number(values['hostile-batch-time-scale'] ?? 20);
  const hostile = await hostileTable(runScenario, {
    items: hostileItems,
    batchSize: hostileItems / 10,
    rpm,
    latencyMs,
    batchDurationMs: 60_000,
    batchTimeScale: hostileBatchScale,
    responsesTimeScale: hostileScale,
  });
  const hostileText = `${hostile.table}\n\nReproduce: \`npm run bench --${values.quick ? ' --quick' : ''} --hostile-only --rpm ${rpm} --latency-ms ${latencyMs} --hostile-time-scale ${hostileScale} --hostile-batch-time-scale ${hostileBatchScale}\``;
  process.stdout.write(`\n${hostileText}\n`);
  if (values.out) await writeTable(values.out, hostileText, 'bench-hostile');
  if (hostile.failed) {
    process.stderr.write('bench: the hostile provider left items that did not succeed\n');
    process.exitCode = 1;
  }
}

/**
 * Writes the table into `file` between its `<!-- <marker>:start -->` and `<!-- <marker>:end -->`
 * lines, keeping the text around them; a file without them gets the table appended.
 */
async function writeTable(file: string, text: string, marker = 'bench'): Promise<void> {
  const START = `<!-- ${marker}:start -->`;
  const END = `<!-- ${marker}:end -->`;
  const existing = await readFile(file, 'utf8').catch(() => '');
  const from = existing.indexOf(START);
  const to = existing.indexOf(END);
  const body =
    from >= 0 && to > from
      ? `${existing.slice(0, from + START.length)}\n${text}\n${existing.slice(to)}`
      : `${existing === '' ? '# Benchmarks\n' : existing.trimEnd()}\n\n${START}\n${text}\n${END}\n`;
  await writeFile(file, body);
}
