import { appendFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { describe, expect, test } from '@jest/globals';
import { journalPath } from '../../local/mock-provider/journal.js';
import { startMockProvider, type StartMockProviderOptions } from '../../local/mock-provider/server.js';
import type { Clock } from '../../shared/clock.js';

/** A clock the test moves by hand, as the data dir's clock continues across processes. */
function handClock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  const clock: Clock = { now: () => new Date(now), sleep: () => Promise.resolve() };
  return { clock, advance: (ms: number) => (now += ms) };
}

const KNOBS: StartMockProviderOptions = { latencyMs: 1_000, latencySpread: 0, batchDurationMs: 10_000 };
const BODY = { model: 'gpt-5-mini', input: 'Say hello', background: true };

async function startOn(dataDir: string, clock: Clock, options: StartMockProviderOptions = KNOBS) {
  const provider = await startMockProvider({ ...options, clock, dataDir });
  const client = new OpenAI({ apiKey: 'mock', baseURL: provider.url, fetch: provider.fetch, maxRetries: 0 });
  return { provider, client };
}

/** The output of BODY from a mock that never stopped. */
async function steadyOutput(): Promise<string> {
  const time = handClock();
  const provider = await startMockProvider({ ...KNOBS, clock: time.clock });
  const client = new OpenAI({ apiKey: 'mock', baseURL: provider.url, fetch: provider.fetch, maxRetries: 0 });
  const created = await client.responses.create(BODY);
  time.advance(20_000);
  const done = await client.responses.retrieve(created.id);
  await provider.close();
  return done.output_text;
}

const newDataDir = async () => join(await mkdtemp(join(tmpdir(), 'llm-batch-mock-journal-')), 'mock-provider');

describe('mock provider journal: its objects outlive the process', () => {
  test('GIVEN a response and a batch made by a mock on a data dir WHEN a new mock starts on it and the clock moves on THEN the old ids answer as if it had kept running, and new ids continue', async () => {
    // Arrange
    const dataDir = await newDataDir();
    const time = handClock();
    const first = await startOn(dataDir, time.clock);
    const created = await first.client.responses.create(BODY, { headers: { 'idempotency-key': 'item-1' } });
    const uploaded = await first.client.files.create({
      file: await toFile(
        Buffer.from(
          `${JSON.stringify({ custom_id: 'line-1', method: 'POST', url: '/v1/responses', body: { model: 'gpt-5-mini', input: 'hi' } })}\n`,
        ),
        'batch.jsonl',
      ),
      purpose: 'batch',
    });
    const batch = await first.client.batches.create({
      input_file_id: uploaded.id,
      endpoint: '/v1/responses',
      completion_window: '24h',
    });
    await first.provider.close();

    // Act
    time.advance(20_000);
    const second = await startOn(dataDir, time.clock);
    const polled = await second.client.responses.retrieve(created.id);
    const finished = await second.client.batches.retrieve(batch.id);
    const output = await (await second.client.files.content(finished.output_file_id ?? '')).text();
    const next = await second.client.responses.create(BODY);
    await second.provider.close();
    const journal = (await readFile(journalPath(dataDir), 'utf8')).trim().split('\n');

    // Assert
    expect(created.status).toBe('queued');
    expect(polled).toMatchObject({ id: created.id, status: 'completed' });
    expect(polled.output_text).toBe(await steadyOutput());
    expect(polled.completed_at).toBe(Math.floor((Date.UTC(2026, 0, 1) + 1_000) / 1000));
    expect(finished).toMatchObject({ id: batch.id, status: 'completed', request_counts: { total: 1, completed: 1 } });
    expect(JSON.parse(output.trim())).toMatchObject({ custom_id: 'line-1', response: { status_code: 200 } });
    expect(next.id).not.toBe(created.id);
    expect(Number.parseInt(next.id.slice(-8), 16)).toBe(Number.parseInt(created.id.slice(-8), 16) + 1);
    expect(journal.map((line) => (JSON.parse(line) as { k: string }).k)).toEqual([
      'resp',
      'file',
      'batch',
      'file',
      'batch-result',
      'resp',
    ]);
    expect(JSON.parse(journal[0] ?? '{}')).toMatchObject({ id: created.id, item: 'item-1' });
  });

  test('GIVEN a mock with transient errors WHEN the same request is sent before and after a restart THEN the attempts count on, giving the same answers as one mock that never stopped', async () => {
    // Arrange
    const knobs = { ...KNOBS, transientErrorRate: 0.5, seed: 7 };
    const send = async (client: OpenAI) =>
      client.responses.create(BODY).then(
        () => 200,
        (error: { status?: number }) => error.status ?? 0,
      );
    const sendTimes = async (client: OpenAI, count: number) => {
      const statuses: number[] = [];
      for (let i = 0; i < count; i += 1) statuses.push(await send(client));
      return statuses;
    };
    const steady = await startOn(await newDataDir(), handClock().clock, knobs);
    const expected = await sendTimes(steady.client, 12);
    await steady.provider.close();
    const dataDir = await newDataDir();
    const time = handClock();

    // Act
    const before = await startOn(dataDir, time.clock, knobs);
    const firstHalf = await sendTimes(before.client, 6);
    await before.provider.close();
    const after = await startOn(dataDir, time.clock, knobs);
    const secondHalf = await sendTimes(after.client, 6);
    await after.provider.close();

    // Assert
    expect(new Set(expected).size).toBeGreaterThan(1); // some fail, some pass: the test can tell attempts apart
    expect([...firstHalf, ...secondHalf]).toEqual(expected);
  });

  test('GIVEN a journal whose last line was cut off by a kill WHEN a mock starts on it THEN it keeps the whole entries and appends after them', async () => {
    // Arrange
    const dataDir = await newDataDir();
    const time = handClock();
    const first = await startOn(dataDir, time.clock);
    const created = await first.client.responses.create(BODY);
    await first.provider.close();
    await appendFile(journalPath(dataDir), '{"k":"resp","id":"resp_cut');

    // Act
    const second = await startOn(dataDir, time.clock);
    const next = await second.client.responses.create(BODY);
    await second.provider.close();
    const third = await startOn(dataDir, time.clock);
    const polled = await third.client.responses.retrieve(next.id);
    await third.provider.close();

    // Assert
    expect(next.id).not.toBe(created.id);
    expect(polled.id).toBe(next.id);
  });
});
