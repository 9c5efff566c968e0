import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { OutputLine } from '../../shared/types.js';
import { journalPath } from '../../local/mock-provider/journal.js';
import { startCli, type CliResult } from '../support/cli.js';
import { idempotencyKeyOf, recordsLeftBy, startCountingProvider, type CountingProvider } from './resume-support.js';

const ITEMS = 200;
const STARTED = /job (job-[\w-]+) (?:started|\()/;

async function inputFile(dir: string, count: number): Promise<string> {
  const file = join(dir, 'items.jsonl');
  const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ id: `item-${i}`, prompt: `Say ${i}` }));
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `condition` holds (false) or the child has exited first (true). */
async function until(condition: () => boolean, exited: Promise<unknown>): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  while (!condition() && !gone) await sleep(5);
  return gone && !condition();
}

describe('llm-batch run --data-dir: SIGKILL at random points, resumed each time', () => {
  let provider: CountingProvider;

  beforeAll(async () => {
    // Served from this process, it outlives every killed child and counts what each one sent.
    provider = await startCountingProvider({ latencyMs: 40, latencySpread: 0.3, rateLimitRpm: 6_000, seed: 7 });
  });
  afterAll(() => provider.close());

  test('GIVEN a job killed 3 times (2 mid-sending, 1 after) WHEN it is run again each time THEN every id is in the results once, the counts are exact, and only items in flight at a kill were sent twice', async () => {
    // Arrange
    const dir = await mkdtemp(join(tmpdir(), 'llm-batch-resume-'));
    const file = await inputFile(dir, ITEMS);
    const dataDir = join(dir, 'data');
    const args = ['run', file, '--data-dir', dataDir, '--json', '--batch-size', '20', '--max-concurrency', '4'];
    const env = { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: provider.url };
    // Items sent but not recorded when a child died, by how many deaths caught them so.
    const inFlightAtKills = new Map<string, number>();
    const killedAt: string[] = [];
    let jobId: string | undefined;
    let last: CliResult | undefined;

    // Act: two kills at random points of the sending (past a random number of creates, so sends
    // are in flight), one at a random moment after the last create (polling, finishing).
    const killPoints = [0.15, 0.55].map((from) => Math.floor(ITEMS * (from + Math.random() * 0.25)));
    for (let kill = 0; kill <= killPoints.length; kill++) {
      const run = startCli(args, 60_000, env);
      const [, id] = await run.waitFor(STARTED);
      jobId ??= id;
      expect(id).toBe(jobId);
      if (kill > 0) expect(run.stderr).toMatch(new RegExp(`resuming job ${jobId} \\(\\d+ of ${ITEMS} items done\\)`));
      const point = killPoints[kill] ?? ITEMS;
      const exited = await until(() => provider.totalCreates() >= point, run.done);
      if (point === ITEMS && !exited) await sleep(Math.random() * 1_500);
      killedAt.push(`${provider.totalCreates()} creates`);
      run.kill('SIGKILL');
      const ended = await run.done;
      if (ended.code !== null) {
        last = ended; // it finished before the kill came
        break;
      }
      await provider.settled(); // the dead child's last requests counted before the look
      const left = await recordsLeftBy(dataDir, jobId as string);
      for (let i = 0; i < ITEMS; i++) {
        const customId = `item-${i}`;
        const sent = provider.responseCreates.get(idempotencyKeyOf(jobId as string, customId)) ?? 0;
        const status = left.items.get(customId);
        if (sent > 0 && (status === undefined || status === 'QUEUED'))
          inFlightAtKills.set(customId, (inFlightAtKills.get(customId) ?? 0) + 1);
      }
    }
    last ??= await startCli(args, 60_000, env).done;

    // Assert
    const context = `killed at ${killedAt.join(', ')}; stderr: ${last.stderr}`;
    expect({ code: last.code, context }).toMatchObject({ code: 0 });
    const summary = JSON.parse(last.stdout.trim().split('\n').at(-1) ?? '{}') as {
      jobId: string;
      status: string;
      total: number;
      succeeded: number;
      providerCalls: { submit: number };
    };
    expect(summary).toMatchObject({ jobId, status: 'COMPLETED', total: ITEMS, succeeded: ITEMS, failed: 0 });
    const ids = (await readFile(join(dir, 'items.results.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as OutputLine).custom_id)
      .sort();
    expect(ids).toEqual(Array.from({ length: ITEMS }, (_, i) => `item-${i}`).sort());
    const overSent: string[] = [];
    let inFlight = 0;
    for (let i = 0; i < ITEMS; i++) {
      const customId = `item-${i}`;
      const key = idempotencyKeyOf(jobId as string, customId);
      const creates = provider.responseCreates.get(key) ?? 0;
      const allowed = 1 + (inFlightAtKills.get(customId) ?? 0) + (provider.refusedCreates.get(key) ?? 0);
      inFlight += inFlightAtKills.get(customId) ?? 0;
      if (creates < 1 || creates > allowed) overSent.push(`${customId}: ${creates} creates, ${allowed} allowed`);
    }
    expect({ overSent, context }).toEqual({ overSent: [], context });
    // The job's count covers every process: what reached the provider, and at most the sends cut off by a kill.
    expect(summary.providerCalls.submit).toBeGreaterThanOrEqual(provider.totalCreates());
    expect(summary.providerCalls.submit).toBeLessThanOrEqual(provider.totalCreates() + inFlight + 64 * 3);
  }, 300_000); // four CLI starts and a 200-item job: under a minute unless the machine is loaded
});

/** Response creates the built-in mock journaled in a data dir, by Idempotency-Key. */
async function journaledCreates(dataDir: string): Promise<Map<string, number>> {
  const creates = new Map<string, number>();
  const text = await readFile(journalPath(join(dataDir, 'mock-provider')), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"k":"resp"')) continue;
    const { item } = JSON.parse(line) as { item?: string };
    if (item !== undefined) creates.set(item, (creates.get(item) ?? 0) + 1);
  }
  return creates;
}

describe('llm-batch run --data-dir on the built-in mock: SIGKILL mid-sending, resumed', () => {
  test('GIVEN a job on the built-in mock killed mid-sending WHEN it is run again THEN it polls what the dead process sent: every item created once, except those in flight at the kill', async () => {
    // Arrange
    const dir = await mkdtemp(join(tmpdir(), 'llm-batch-resume-mock-'));
    const file = await inputFile(dir, ITEMS);
    const dataDir = join(dir, 'data');
    // Responses take 2 simulated s (0.1 s of wall time at the default scale): many are pending at the kill.
    const args = ['run', file, '--data-dir', dataDir, '--json', '--batch-size', '20', '--max-concurrency', '4'];
    const mockArgs = ['--mock-latency-ms', '2000'];

    // Act
    const first = startCli([...args, ...mockArgs], 60_000);
    const [, jobId] = await first.waitFor(STARTED);
    let gone = false;
    void first.done.then(() => (gone = true));
    for (let created = 0; !gone && created < ITEMS * 0.4; await sleep(20)) {
      created = [...(await journaledCreates(dataDir)).values()].reduce((sum, n) => sum + n, 0);
    }
    first.kill('SIGKILL');
    const killed = await first.done;
    const atKill = await journaledCreates(dataDir);
    const left = await recordsLeftBy(dataDir, jobId as string);
    const again = await startCli([...args, ...mockArgs], 60_000).done;

    // Assert
    expect(killed.code).toBeNull(); // it was killed mid-job, not finished
    expect(again.stderr).toMatch(new RegExp(`resuming job ${jobId} \\(\\d+ of ${ITEMS} items done\\)`));
    expect(again.stderr).not.toMatch(/sent again/);
    const summary = JSON.parse(again.stdout.trim().split('\n').at(-1) ?? '{}') as { providerCalls: { submit: number } };
    expect(summary).toMatchObject({ jobId, status: 'COMPLETED', total: ITEMS, succeeded: ITEMS });
    const creates = await journaledCreates(dataDir);
    const overSent: string[] = [];
    let inFlight = 0;
    for (let i = 0; i < ITEMS; i++) {
      const customId = `item-${i}`;
      const key = idempotencyKeyOf(jobId as string, customId);
      const status = left.items.get(customId);
      const wasInFlight = (atKill.get(key) ?? 0) > 0 && (status === undefined || status === 'QUEUED');
      if (wasInFlight) inFlight++;
      const count = creates.get(key) ?? 0;
      if (count < 1 || count > (wasInFlight ? 2 : 1)) overSent.push(`${customId}: ${count} creates`);
    }
    expect(overSent).toEqual([]);
    expect(inFlight).toBeLessThanOrEqual(64);
    expect(summary.providerCalls.submit).toBeLessThanOrEqual(ITEMS + inFlight + 64);
  }, 120_000);
});
