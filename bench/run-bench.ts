import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/**
 * `npm run bench`: drains jobs of N items through the local runtime against the mock provider at
 * a stated rate limit and latency, and the same N through the old design's limits, and prints a
 * markdown table. `--quick` runs N = 1,000 only. `--out docs/benchmarks.md` also writes it there.
 * Figures are measured on simulated time (wall time x time scale); run-to-run noise on a shared
 * machine is real, so compare ratios from one run.
 */
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    modes: { type: 'string', default: 'responses,batch' },
    rpm: { type: 'string', default: '6000' },
    'latency-ms': { type: 'string', default: '2000' },
    'time-scale': { type: 'string', default: '5' },
    'baseline-time-scale': { type: 'string', default: '100' },
    out: { type: 'string' },
  },
});

const sizes = (values.sizes ?? (values.quick ? '1000' : '1000,10000,100000')).split(',').map(Number);
const modes = values.modes.split(',');
const rpm = Number(values.rpm);
const latencyMs = Number(values['latency-ms']);
const timeScale = Number(values['time-scale']);
const baselineTimeScale = Number(values['baseline-time-scale']);

type Result = Record<string, unknown> & { peakRssBytes: number };

function runScenario(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'scenario.ts'), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
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
const common = ['--rpm', String(rpm), '--latency-ms', String(latencyMs)];

const rows: string[] = [];
const baselineRows: string[] = [];
for (const items of sizes) {
  for (const mode of modes) {
    process.stderr.write(`bench: ${items} items, ${mode} mode...\n`);
    const r = await runScenario(['--items', String(items), '--mode', mode, '--time-scale', String(timeScale), ...common]);
    const n = items;
    const cost = (r.costPerMillion as { total: number }).total;
    rows.push(
      `| ${n.toLocaleString('en-US')} | ${mode} | ${String(r.status)} | ${fmt(r.simSeconds as number, 1)} | ${fmt(r.idealSimSeconds as number, 1)} | ${fmt((r.simSeconds as number) / (r.idealSimSeconds as number))} | ${String(r.rateLimited)} (${fmt((100 * (r.rateLimited as number)) / Math.max(1, r.createCalls as number), 2)} %) | ${fmt((r.providerCalls as number) / n)} | ${fmt((r.stateTransitions as number) / n, 3)} | ${fmt((r.taskInvocations as number) / n, 3)} | ${mib(r.peakRssBytes)} | $${fmt(cost)} |`,
    );
  }
  process.stderr.write(`bench: ${items} items, old design...\n`);
  const b = await runScenario(['--baseline', '--items', String(items), '--time-scale', String(baselineTimeScale), ...common]);
  baselineRows.push(`| ${items.toLocaleString('en-US')} | ${fmt(b.simSeconds as number, 1)} | ${fmt(items / (rpm / 60), 1)} | ${fmt((b.simSeconds as number) / (items / (rpm / 60)))} | ${String(b.runs)} |`);
}

const command = `npm run bench --${values.quick ? ' --quick' : ''}${values.sizes ? ` --sizes ${values.sizes}` : ''} --rpm ${rpm} --latency-ms ${latencyMs} --time-scale ${timeScale}`;
const table = [
  `Mock provider: ${rpm} requests/minute (R = ${fmt(rpm / 60, 1)}/s), median latency ${latencyMs} ms (log-normal); time scale ${timeScale}.`,
  `Times are simulated seconds (wall x time scale). Ideal = N / R.`,
  '',
  '| N | mode | job | time (s) | ideal N/R (s) | ratio | 429s (% of creates) | provider calls / item | state transitions / item | task invocations / item | peak RSS | AWS orchestration $ / 1M items |',
  '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
  `Old design (a run every 30 s, at most 1000 items submitted per run), same mock and clock (time scale ${baselineTimeScale}):`,
  '',
  '| N | time (s) | ideal N/R (s) | ratio | runs |',
  '|---:|---:|---:|---:|---:|',
  ...baselineRows,
  '',
  `Reproduce: \`${command}\``,
].join('\n');
process.stdout.write(`${table}\n`);
if (values.out) await writeFile(values.out, `# Benchmarks\n\n${table}\n`);
