import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import OpenAI from 'openai';
import { LocalRuntime, RealProviderTimeScaleError } from '../../local/local-stack.js';
import { systemClock } from '../../shared/clock.js';
import { BIN, type CliResult } from '../support/cli.js';

const TIME_SCALE = 200;

interface ApiJob {
  jobId: string;
  status: string;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
}

async function api<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** Runs `llm-batch` with OPENAI_API_KEY set (to a key that is never used: the command must stop first). */
function cliWithKey(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, OPENAI_API_KEY: 'sk-never-used' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the local stack keeps one clock', () => {
  let runtime: LocalRuntime;

  beforeAll(async () => {
    runtime = await LocalRuntime.start({ timeScale: TIME_SCALE, apiPort: 0, mock: { latencyMs: 2_000, seed: 7 } });
  });
  afterAll(async () => {
    await runtime.stop();
  });

  test('GIVEN the served API at time scale 200 WHEN a job runs to the end THEN createdAt <= startedAt <= completedAt, all on the stack clock', async () => {
    // Arrange
    const items = Array.from({ length: 20 }, (_, i) => ({ id: `clock-${i}`, prompt: `Say ${i}` }));
    const wallBefore = Date.now();

    // Act
    const created = await api<ApiJob>(`${runtime.apiUrl}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobType: 'prompt', options: { model: 'gpt-4.1-mini', batchSize: 10 }, items }),
    });
    let job = await api<ApiJob>(`${runtime.apiUrl}/jobs/${created.jobId}`);
    while (!job.completedAt) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      job = await api<ApiJob>(`${runtime.apiUrl}/jobs/${created.jobId}`);
    }
    const clockAfter = runtime.clock.now().getTime();

    // Assert
    expect(job.status).toBe('COMPLETED');
    const createdAt = Date.parse(job.createdAt);
    const startedAt = Date.parse(job.startedAt ?? '');
    const completedAt = Date.parse(job.completedAt);
    expect(createdAt).toBeLessThanOrEqual(startedAt);
    expect(startedAt).toBeLessThanOrEqual(completedAt);
    expect(completedAt).toBeLessThanOrEqual(clockAfter);
    // Every response takes about 2 s of the clock's time: the job lasted seconds of it, whatever the wall clock did.
    expect(completedAt - createdAt).toBeGreaterThanOrEqual(1_000);
    // All three are the stack clock's, which runs ahead of the wall clock since the stack started.
    expect(createdAt).toBeGreaterThan(wallBefore);
  }, 60_000);

  test('GIVEN the stack WHEN the engine, the tasks, the store and the mock tell the time THEN they read the one clock', async () => {
    // Arrange: let the clock run ahead of the wall clock by more than the tolerance below
    await new Promise((resolve) => setTimeout(resolve, 100));
    const openai = new OpenAI({
      apiKey: 'mock-key',
      baseURL: runtime.mockProvider?.url ?? '',
      fetch: runtime.mockProvider?.fetch ?? fetch,
    });

    // Act
    const response = await openai.responses.create({ model: 'gpt-4.1-mini', input: 'time?', background: true });
    const { startDate } = runtime.engine.startExecution({ name: 'clock-probe', input: { jobId: 'no-such-job' } });
    const now = runtime.clock.now().getTime();

    // Assert
    expect(runtime.engine.clock).toBe(runtime.clock);
    expect(runtime.deps.clock).toBe(runtime.clock);
    expect(runtime.clock.timeScale).toBe(TIME_SCALE);
    expect(now - Date.now()).toBeGreaterThan(10_000);
    expect(Math.abs(response.created_at * 1000 - now)).toBeLessThan(5_000);
    expect(Math.abs(startDate.getTime() - now)).toBeLessThan(5_000);
  });
});

describe('a real provider runs on the wall clock', () => {
  test('GIVEN an OpenAI key WHEN the runtime is asked for time scale 20 THEN it refuses, naming why', async () => {
    // Act
    const starting = LocalRuntime.start({ timeScale: 20, openai: { apiKey: 'sk-never-used' } });

    // Assert
    await expect(starting).rejects.toBeInstanceOf(RealProviderTimeScaleError);
    await expect(starting).rejects.toThrow('time scale 20 with a real provider');
  });

  test('GIVEN an OpenAI key and no time scale WHEN the runtime starts THEN its clock is the wall clock', async () => {
    // Act
    const real = await LocalRuntime.start({ openai: { apiKey: 'sk-never-used', baseURL: 'http://127.0.0.1:9/v1' } });

    // Assert
    try {
      expect(real.usesMockProvider).toBe(false);
      expect(real.clock).toBe(systemClock);
      expect(real.engine.clock).toBe(systemClock);
    } finally {
      await real.stop();
    }
  });

  test('GIVEN OPENAI_API_KEY WHEN llm-batch run gets --time-scale 20 THEN it exits 2 and says why, before reading the input', async () => {
    // Arrange
    const dir = await mkdtemp(join(tmpdir(), 'llm-batch-clock-'));
    const file = join(dir, 'items.jsonl');
    await writeFile(file, `${JSON.stringify({ id: 'a', prompt: 'hi' })}\n`);

    // Act
    const run = await cliWithKey(['run', file, '--time-scale', '20']);
    const serve = await cliWithKey(['serve', '--port', '0', '--time-scale', '5']);

    // Assert
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--time-scale 20 cannot be used with a real provider (OPENAI_API_KEY is set)');
    expect(run.stderr).toContain('local time must too (time scale 1)');
    expect(run.stdout).toBe('');
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('--time-scale 5 cannot be used with a real provider');
  }, 60_000);
});
