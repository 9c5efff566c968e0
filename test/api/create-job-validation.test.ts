import { PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { describe, expect, test } from '@jest/globals';
import { MAX_ITEM_BYTES, MAX_ITEMS_PER_REQUEST } from '../../shared/limits.js';
import { errorOf, promptJobBody, useApiTestEnv, type ApiTestEnv } from '../support/api.js';
import { TEST_BUCKET, TEST_MODEL, chatLines, jsonl, promptLines } from '../support/deps.js';

// Every request in this file is refused: no test here may create a job, so "no job record"
// can be checked by listing the whole (per-file) table.
const env = useApiTestEnv();

async function expectNothingWritten(e: ApiTestEnv): Promise<void> {
  expect((await e.store.listJobs({ limit: 100 })).items).toEqual([]);
  expect(e.s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  expect([...e.s3.objects.keys()].filter((id) => id.startsWith(`${TEST_BUCKET}/jobs/`))).toEqual([]);
  expect(e.sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
}

function chatBody(items: unknown[]): Record<string, unknown> {
  return { jobType: 'openai-batch', items };
}

const withoutCustomId = (() => {
  const { custom_id: _id, ...line } = chatLines(1, 'bad')[0] ?? {};
  return line;
})();

interface Case {
  name: string;
  body: unknown;
  where: string;
  message: string | RegExp;
}

const cases: Case[] = [
  { name: 'a body that is not JSON', body: '{"jobType": "prompt",', where: 'body', message: /^not valid JSON \(/ },
  { name: 'a body that is an array', body: [promptJobBody(1)], where: 'body', message: 'must be a JSON object' },
  { name: 'a body that is a string', body: '"prompt"', where: 'body', message: 'must be a JSON object' },
  { name: 'a body that is null', body: 'null', where: 'body', message: 'must be a JSON object' },
  { name: 'an empty body', body: '', where: 'body', message: 'a JSON body is required' },
  {
    name: 'an unknown field',
    body: { ...promptJobBody(1), priority: 'high' },
    where: 'priority',
    message: /^unknown field; known fields: jobType, options, items, input$/,
  },
  {
    name: 'no jobType',
    body: { items: promptLines(1) },
    where: 'jobType',
    message: 'is required; registered job types: openai-batch, prompt, classify',
  },
  {
    name: 'an empty jobType',
    body: { jobType: '', items: promptLines(1) },
    where: 'jobType',
    message: /^is required; registered job types: /,
  },
  {
    name: 'options that are not an object',
    body: { ...promptJobBody(1), options: 'fast' },
    where: 'options',
    message: 'must be an object',
  },
  {
    name: 'a batchSize out of range',
    body: promptJobBody(1, { batchSize: 0 }),
    where: 'options.batchSize',
    message: 'must be an integer from 1 to 50000, got 0',
  },
  {
    name: 'an unknown option',
    body: promptJobBody(1, { temperature: 0.2 }),
    where: 'options.temperature',
    message: /^unknown option; known options: mode, model, /,
  },
  {
    name: 'an unknown mode',
    body: promptJobBody(1, { mode: 'stream' }),
    where: 'options.mode',
    message: 'must be one of responses, batch, got "stream"',
  },
  {
    name: 'a prompt job without a model',
    body: { jobType: 'prompt', items: promptLines(1) },
    where: 'options.model',
    message: /^is required for prompt jobs/,
  },
  {
    name: 'a job-type param it does not know',
    body: promptJobBody(1, { params: { temlate: '{{prompt}}' } }),
    where: 'options.params.temlate',
    message: /"temlate" is not a known setting/,
  },
  {
    name: 'items that are not an array',
    body: { jobType: 'prompt', options: { model: TEST_MODEL }, items: { id: 'a', prompt: 'b' } },
    where: 'items',
    message: 'must be an array of items',
  },
  {
    name: 'neither items nor input',
    body: { jobType: 'prompt', options: { model: TEST_MODEL } },
    where: 'items',
    message: /^is required: an array of items, or input/,
  },
  { name: 'empty items', body: promptJobBody(0), where: 'items', message: 'no items: the input is empty' },
  {
    name: 'both items and input',
    body: { ...promptJobBody(1), input: { key: 'inputs/a.jsonl' } },
    where: 'items',
    message: 'give either items or input, not both',
  },
  {
    name: 'input without a key',
    body: { jobType: 'prompt', options: { model: TEST_MODEL }, input: {} },
    where: 'input.key',
    message: /^must be the S3 key of a JSONL file/,
  },
  {
    name: 'input outside inputs/',
    body: { jobType: 'prompt', options: { model: TEST_MODEL }, input: { key: 'jobs/other/manifest.jsonl' } },
    where: 'input.key',
    message: 'must be under inputs/ in the job bucket, got "jobs/other/manifest.jsonl"',
  },
  {
    name: 'input with an empty key',
    body: { jobType: 'prompt', options: { model: TEST_MODEL }, input: { key: '' } },
    where: 'input.key',
    message: /^must be the S3 key of a JSONL file/,
  },
  {
    name: 'input that is not an object',
    body: { jobType: 'prompt', options: { model: TEST_MODEL }, input: 'inputs/a.jsonl' },
    where: 'input',
    message: /^must be an object: \{ "key": /,
  },
  {
    name: 'an item that is not an object',
    body: chatBody([...chatLines(2), 42]),
    where: 'items[2]',
    message: 'must be a JSON object',
  },
  {
    name: 'an item without custom_id',
    body: chatBody([...chatLines(3), withoutCustomId]),
    where: 'items[3]: custom_id',
    message: 'is required: a non-empty string',
  },
  {
    name: 'an item with an unsupported url',
    body: chatBody([{ ...chatLines(1)[0], url: '/v1/embeddings' }]),
    where: 'items[0]: url',
    message: 'url "/v1/embeddings" is not supported; use one of /v1/responses, /v1/chat/completions',
  },
  {
    name: 'a duplicate custom_id (both positions named)',
    body: chatBody([...chatLines(3), chatLines(1)[0]]),
    where: 'items[3]',
    message: 'duplicate id "chat-000" (first seen at items[0])',
  },
  {
    name: 'an item over the size limit',
    body: { ...promptJobBody(1), items: [...promptLines(1), { id: 'big', prompt: 'x'.repeat(MAX_ITEM_BYTES) }] },
    where: 'items[1]',
    message: new RegExp(`^item is \\d+ bytes; the limit is ${MAX_ITEM_BYTES} bytes`),
  },
];

describe('POST /jobs refuses bad requests with 400, saying what and where, and writes nothing', () => {
  test.each(cases)('$name -> $where', async ({ body, where, message }) => {
    // Arrange
    const e = env();

    // Act
    const response = await e.request('POST', '/jobs', { body });

    // Assert
    expect(response.status).toBe(400);
    const error = errorOf(response);
    expect(error.code).toBe('ValidationError');
    expect(error.issues).toHaveLength(1);
    expect(error.issues?.[0]?.where).toBe(where);
    expect(error.issues?.[0]?.message).toMatch(message);
    expect(error.message).toContain(where);
    await expectNothingWritten(e);
    expect(e.logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  test('an unknown job type -> 400 listing the registered ones', async () => {
    // Arrange
    const e = env();

    // Act
    const response = await e.request('POST', '/jobs', { body: { jobType: 'summarize', items: promptLines(1) } });

    // Assert
    expect(response.status).toBe(400);
    expect(errorOf(response)).toEqual({
      code: 'UnknownJobType',
      message: 'unknown job type "summarize"; registered job types: openai-batch, prompt, classify',
      issues: [
        {
          where: 'jobType',
          message: 'unknown job type "summarize"; registered job types: openai-batch, prompt, classify',
        },
      ],
      registered: ['openai-batch', 'prompt', 'classify'],
    });
    await expectNothingWritten(e);
  });

  test('every bad item is reported at once, each at its index', async () => {
    // Arrange
    const items: unknown[] = chatLines(5);
    items[1] = { ...chatLines(1)[0], custom_id: 'other', url: '/v1/embeddings' };
    items[3] = withoutCustomId;

    // Act
    const response = await env().request('POST', '/jobs', { body: chatBody(items) });

    // Assert
    expect(response.status).toBe(400);
    const error = errorOf(response);
    expect(error.issues?.map((issue) => issue.where)).toEqual(['items[1]: url', 'items[3]: custom_id']);
    expect(error.message).toMatch(/^2 invalid item\(s\): items\[1\]: url: .*; items\[3\]: custom_id: /);
    await expectNothingWritten(env());
  });

  test(`more than ${MAX_ITEMS_PER_REQUEST} items -> 400 pointing at input.key, before any item is checked`, async () => {
    // Arrange: one cheap line repeated (the count is checked before the items are)
    const line = JSON.stringify({ id: 'same', prompt: 'p' });
    const body = `{"jobType":"prompt","options":{"model":"${TEST_MODEL}"},"items":[${Array(MAX_ITEMS_PER_REQUEST + 1)
      .fill(line)
      .join(',')}]}`;

    // Act
    const response = await env().request('POST', '/jobs', { body });

    // Assert
    expect(response.status).toBe(400);
    expect(errorOf(response).issues).toEqual([
      {
        where: 'items',
        message: `has ${MAX_ITEMS_PER_REQUEST + 1} items; a request holds at most ${MAX_ITEMS_PER_REQUEST} (put larger jobs in a JSONL file in S3 and pass input.key)`,
      },
    ]);
    await expectNothingWritten(env());
  });

  test('input.key naming a JSONL file with a bad line -> `input line N` (blank lines still counted)', async () => {
    // Arrange
    const e = env();
    const [first, second] = promptLines(2);
    e.s3.put(
      TEST_BUCKET,
      'inputs/bad.jsonl',
      `${JSON.stringify(first)}\n\n{"id": "b", "prompt": \n${JSON.stringify({ id: 'c' })}\n${JSON.stringify(second)}\n`,
    );

    // Act
    const response = await e.request('POST', '/jobs', {
      body: { jobType: 'prompt', options: { model: TEST_MODEL }, input: { key: 'inputs/bad.jsonl' } },
    });

    // Assert
    expect(response.status).toBe(400);
    const issues = errorOf(response).issues ?? [];
    expect(issues.map((issue) => issue.where)).toEqual(['input line 3', 'input line 4: prompt']);
    expect(issues[0]?.message).toMatch(/^not valid JSON \(/);
    expect(issues[1]?.message).toBe('is required: a non-empty string');
    await expectNothingWritten(e);
  });

  test('input.key naming no object -> 400 at input.key, not a 500', async () => {
    // Arrange
    const e = env();

    // Act
    const response = await e.request('POST', '/jobs', {
      body: { jobType: 'prompt', options: { model: TEST_MODEL }, input: { key: 'inputs/missing.jsonl' } },
    });

    // Assert
    expect(response.status).toBe(400);
    expect(errorOf(response).issues).toEqual([
      { where: 'input.key', message: `no object s3://${TEST_BUCKET}/inputs/missing.jsonl in the job bucket` },
    ]);
    await expectNothingWritten(e);
  });

  test('input.key replaced between its check and its manifest -> 400 at input.key, nothing written', async () => {
    // Arrange: the file is read twice (checked, then streamed into the manifest); it changes after the first read.
    const e = env();
    const key = 'inputs/moving.jsonl';
    e.s3.put(TEST_BUCKET, key, jsonl(promptLines(3, 'line')));
    e.s3.onGet = () => e.s3.put(TEST_BUCKET, key, jsonl(promptLines(3, 'other')));

    // Act
    const response = await e.request('POST', '/jobs', {
      body: { jobType: 'prompt', options: { model: TEST_MODEL }, input: { key } },
    });

    // Assert
    expect(response.status).toBe(400);
    expect(errorOf(response).issues).toEqual([
      {
        where: 'input.key',
        message: 'the object changed while the job was being created; no job was created: send the request again',
      },
    ]);
    await expectNothingWritten(e);
  });

  test('an empty JSONL file -> 400 at items', async () => {
    // Arrange
    const e = env();
    e.s3.put(TEST_BUCKET, 'inputs/empty.jsonl', '\n\n');

    // Act
    const response = await e.request('POST', '/jobs', {
      body: { jobType: 'prompt', options: { model: TEST_MODEL }, input: { key: 'inputs/empty.jsonl' } },
    });

    // Assert
    expect(response.status).toBe(400);
    expect(errorOf(response).issues).toEqual([{ where: 'items', message: 'no items: the input is empty' }]);
    await expectNothingWritten(e);
  });

  test('a refused request stores nothing under its Idempotency-Key: a repeat is validated again, not replayed', async () => {
    // Arrange
    const e = env();
    const headers = { 'Idempotency-Key': 'refused-once' };
    await e.request('POST', '/jobs', { body: promptJobBody(1, { batchSize: -1 }), headers });

    // Act
    const again = await e.request('POST', '/jobs', { body: promptJobBody(1, { batchSize: -1 }), headers });

    // Assert: still a 400 on the same body (not a 409 or a replay)
    expect(again.status).toBe(400);
    expect(errorOf(again).issues?.[0]?.where).toBe('options.batchSize');
    await expectNothingWritten(e);
  });
});
