import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { ScenarioResult } from './hostile.js';
import { KEY_KINDS, PARTITION_WRITE_LIMIT, type KeyKind, type PeakWrites } from './write-counter.js';

/**
 * The bench's rows for issue 13: what the local runtime itself costs (`llm-batch run` against the
 * mock at 1 ms and no rate limit), and the cloud design at tier-5 rates (R = 500/s): drain
 * ratio, peak writes per partition key, the reducer's time per 1,000 items and its projection.
 */

const REPO = join(import.meta.dirname, '..');
const LAMBDA_LIMIT_SECONDS = 900;
const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

export interface LocalCost {
  items: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  exitCode: number;
}

/**
 * `llm-batch run` of `items` distinct prompt lines with `--mock-latency-ms 1
 * --mock-rate-limit-rpm 100000000`, measured by /usr/bin/time -v (user + system CPU of the
 * process and its threads, wall, peak RSS), in a temporary directory.
 */
export async function measureLocalCost(items: number): Promise<LocalCost> {
  if (!existsSync('/usr/bin/time'))
    throw new Error('bench: the local-cost row needs /usr/bin/time (apt-get install time)');
  const dir = await mkdtemp(join(tmpdir(), 'llm-batch-cost-'));
  try {
    const input = join(dir, `p${items}.jsonl`);
    const lines = Array.from({ length: items }, (_, i) =>
      JSON.stringify({ id: `p-${i}`, prompt: `Summarise ticket number ${i} in one line.` }),
    );
    await writeFile(input, `${lines.join('\n')}\n`);
    const args = [
      '-v',
      join(REPO, 'bin', 'llm-batch.js'),
      'run',
      input,
      '--mock-latency-ms',
      '1',
      '--mock-rate-limit-rpm',
      '100000000',
    ];
    const PATH = [join(REPO, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter);
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
      const child = spawn('/usr/bin/time', args, {
        cwd: dir,
        env: { ...process.env, PATH },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('error', reject);
      child.on('close', (exit) => resolve({ code: exit ?? 1, stderr: err }));
    });
    const field = (name: string) => stderr.match(new RegExp(`${name}: (.+)`))?.[1]?.trim() ?? '';
    const wall = field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)')
      .split(':')
      .reduce((total, part) => total * 60 + Number(part), 0);
    return {
      items,
      wallSeconds: wall,
      cpuSeconds: Number(field('User time \\(seconds\\)')) + Number(field('System time \\(seconds\\)')),
      peakRssBytes: Number(field('Maximum resident set size \\(kbytes\\)')) * 1024,
      exitCode: code,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function localCostTable(cost: LocalCost): string {
  return [
    `Local runtime's own cost: \`llm-batch run\` of ${cost.items.toLocaleString('en-US')} distinct prompt lines, \`--mock-latency-ms 1 --mock-rate-limit-rpm 100000000\`, measured by \`/usr/bin/time -v\`. Targets (issue 13, at 100,000): CPU at most 1 ms an item, wall at most 90 s, peak RSS at most 600 MiB.`,
    '',
    '| N | exit | wall (s) | CPU user+sys (s) | CPU / item (ms) | peak RSS |',
    '|---:|---:|---:|---:|---:|---:|',
    `| ${cost.items.toLocaleString('en-US')} | ${cost.exitCode} | ${fmt(cost.wallSeconds, 1)} | ${fmt(cost.cpuSeconds, 1)} | ${fmt((cost.cpuSeconds * 1000) / cost.items, 2)} | ${mib(cost.peakRssBytes)} |`,
  ].join('\n');
}

const SHOWN_KINDS: KeyKind[] = ['items', 'job record', 'batch', 'log', 'rate bucket'];

/** The R = 500/s scenario's row and its writes-per-key table. */
export function tier5Table(
  r: ScenarioResult,
  options: { items: number; rpm: number; latencyMs: number; timeScale: number },
): string {
  const ideal = options.items / (options.rpm / 60);
  const phases = r.phases as { lastItemFinished: number };
  const writes = r.partitionWrites as { byKind: Partial<Record<KeyKind, PeakWrites>>; partition: PeakWrites };
  const reducerMsPer1000 = ((r.reducerWallMs as number) / options.items) * 1000;
  const projection = reducerMsPer1000; // ms per 1,000 items x 1,000,000 / 1,000 / 1,000 ms = s per 1M
  const cost = (r.costPerMillion as { total: number }).total;
  const peak = (kind: KeyKind) => {
    const p = writes.byKind[kind];
    return p ? `${p.peak}` : '0';
  };
  const over = KEY_KINDS.filter((kind) => (writes.byKind[kind]?.peak ?? 0) > PARTITION_WRITE_LIMIT);
  return [
    `Tier-5 rates: responses mode, R = ${fmt(options.rpm / 60, 0)}/s (${options.rpm} requests/minute), median latency ${options.latencyMs} ms, time scale ${options.timeScale}. Drain ratio = when the last item finished / (N / R); job ratio = the whole job (reducer included) / (N / R). Writes are DynamoDB writes on one partition key in one simulated second, the peak over the run (limit: ${PARTITION_WRITE_LIMIT} write units a second per partition key); "any key" sums every kind on one key (a job's key holds its record, batches and log).`,
    '',
    '| N | job | drain ratio | job ratio | peak writes/s: items (per shard) | job record | batch | log | rate bucket | any key | state transitions / item | AWS $ / 1M items | CPU |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${options.items.toLocaleString('en-US')} | ${String(r.status)} | ${fmt(phases.lastItemFinished / ideal)} | ${fmt((r.simSeconds as number) / ideal)} | ${SHOWN_KINDS.map(peak).join(' | ')} | ${writes.partition.peak} | ${fmt((r.stateTransitions as number) / options.items, 3)} | $${fmt(cost)} | ${Math.round(r.cpuBusy * 100)} % |`,
    '',
    over.length > 0
      ? `Over ${PARTITION_WRITE_LIMIT} writes/s: ${over.join(', ')}.`
      : `No key kind over ${PARTITION_WRITE_LIMIT} writes/s.`,
    '',
    `The reducer (Finalize job) took ${fmt((r.reducerWallMs as number) / 1000, 1)} s of wall time for ${options.items.toLocaleString('en-US')} items on the local stand-ins: ${fmt(reducerMsPer1000, 1)} ms per 1,000 items, a projection of ${fmt(projection, 0)} s for 1,000,000 items (Lambda's limit: ${LAMBDA_LIMIT_SECONDS} s; target under 300 s).`,
  ].join('\n');
}
