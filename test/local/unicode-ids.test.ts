import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { LocalRuntime } from '../../local/local-stack.js';
import { TERMINAL_JOB_STATUSES, type ItemRecord, type JobRecord, type OutputLine } from '../../shared/types.js';
import { cli } from '../support/cli.js';

/**
 * Ids a new user might bring. Before the Idempotency-Key header was a hash, one of them (`café-名`)
 * failed every request of its batch with "Cannot convert argument to a ByteString".
 */
const UNICODE_IDS: readonly string[] = [
  'café-名',
  '名前-中文-한국어',
  '🚀 launch',
  '👨‍👩‍👧‍👦', // a ZWJ family: seven code points, one grapheme
  'مرحبا بالعالم', // Arabic, right to left
  'שלום עולם', // Hebrew, right to left
  '\u200fmixed עברית and ascii',
  'e\u0301 (decomposed)', // not normalized: a distinct id from the next one
  'é (composed)',
  'say "hi"',
  "it's",
  'back\\slash',
  'tab\there',
  'line\nbreak\r\n',
  '\u0001control\u001f\u007f',
  '名'.repeat(339) + 'ab', // 1,019 UTF-8 bytes: the most an item's key leaves
];

const TIMEOUT_MS = 60_000;

function expectEachIdOnce(seen: readonly string[]): void {
  expect([...seen].sort()).toEqual([...UNICODE_IDS].sort());
  // Equal strings of valid Unicode are equal bytes; checked as bytes too, as the issue asks.
  const bytes = new Set(seen.map((id) => Buffer.from(id).toString('hex')));
  for (const id of UNICODE_IDS) expect(bytes.has(Buffer.from(id).toString('hex'))).toBe(true);
}

function jobBody(jobType: 'prompt' | 'openai-batch', mode: 'responses' | 'batch'): Record<string, unknown> {
  const items = UNICODE_IDS.map((id, i) =>
    jobType === 'prompt'
      ? { id, prompt: `Say something about item ${i}` }
      : {
          custom_id: id,
          method: 'POST',
          url: '/v1/responses',
          body: { model: 'gpt-4.1-mini', input: `Say something about item ${i}` },
        },
  );
  return { jobType, options: { mode, model: 'gpt-4.1-mini', batchSize: 5, maxConcurrency: 4 }, items };
}

describe('GIVEN item ids in any script, with quotes and control characters', () => {
  let runtime: LocalRuntime;
  let api: string;

  async function call<T>(path: string, init?: RequestInit): Promise<T> {
    const response = await fetch(`${api}${path}`, init);
    const text = await response.text();
    if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async function runToEnd(body: Record<string, unknown>): Promise<JobRecord> {
    const created = await call<JobRecord>('/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const job = await call<JobRecord>(`/jobs/${created.jobId}`);
      if (TERMINAL_JOB_STATUSES.includes(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`job ${job.jobId} still ${job.status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function resultsFile(jobId: string): Promise<OutputLine[]> {
    const job = await runtime.deps.store.getJob(jobId);
    if (!job?.results) throw new Error(`job ${jobId} has no results file`);
    const lines: OutputLine[] = [];
    for await (const line of runtime.deps.objects.readJsonl(job.results)) lines.push(line.value as OutputLine);
    return lines;
  }

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      timeScale: 200,
      apiPort: 0,
      mock: { latencyMs: 300, permanentErrorRate: 0, seed: 3, batchDurationMs: 60_000 },
    });
    api = runtime.apiUrl ?? '';
  });
  afterAll(async () => {
    await runtime.stop();
  });

  test.each([
    ['prompt', 'responses'],
    ['prompt', 'batch'],
    ['openai-batch', 'responses'],
    ['openai-batch', 'batch'],
  ] as const)(
    'WHEN a %s job runs in %s mode through the API THEN every id comes back exactly once, unchanged',
    async (jobType, mode) => {
      // Act
      const job = await runToEnd(jobBody(jobType, mode));
      const fromFile = await resultsFile(job.jobId);
      const served = await fetch(`${api}/jobs/${job.jobId}/results`).then((r) => r.text());
      const items = await call<{ items: ItemRecord[]; nextCursor: string | null }>(
        `/jobs/${job.jobId}/items?limit=100`,
      );

      // Assert
      expect(job).toMatchObject({ status: 'COMPLETED', counts: { total: UNICODE_IDS.length, failed: 0 } });
      expect(fromFile.every((line) => line.error === null)).toBe(true);
      expectEachIdOnce(fromFile.map((line) => line.custom_id));
      const servedLines = served.trim().split('\n');
      expect(servedLines).toHaveLength(UNICODE_IDS.length);
      expectEachIdOnce(servedLines.map((line) => (JSON.parse(line) as OutputLine).custom_id));
      expect(items.nextCursor).toBeNull();
      expectEachIdOnce(items.items.map((item) => item.customId));
    },
    TIMEOUT_MS,
  );
});

describe('GIVEN a prompt file whose ids are Unicode, written with JSON escapes', () => {
  test('WHEN llm-batch runs it THEN the results file has every id once, byte for byte', async () => {
    // Arrange
    const dir = await mkdtemp(join(tmpdir(), 'llm-batch-ids-'));
    const file = join(dir, 'items.jsonl');
    const lines = UNICODE_IDS.map((id, i) => JSON.stringify({ id, prompt: `Say something about item ${i}` }));
    expect(lines.join('')).toContain('\\t'); // the tab, newline and control characters go in as escapes
    await writeFile(file, lines.map((line) => `${line}\n`).join(''));

    // Act
    const run = await cli([
      'run',
      file,
      '--json',
      '--time-scale',
      '200',
      '--mock-latency-ms',
      '300',
      '--mock-permanent-error-rate',
      '0',
    ]);

    // Assert
    expect(run.stderr).not.toMatch(/Error:/);
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({
      status: 'COMPLETED',
      total: UNICODE_IDS.length,
      succeeded: UNICODE_IDS.length,
    });
    const results = (await readFile(join(dir, 'items.results.jsonl'), 'utf8')).trim().split('\n');
    expectEachIdOnce(results.map((line) => (JSON.parse(line) as OutputLine).custom_id));
    expect(run.code).toBe(0);
  }, 120_000);
});
