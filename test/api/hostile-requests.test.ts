import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { describe, expect, test } from '@jest/globals';
import { MAX_OPTIONS_BYTES, MAX_REPORTED_ISSUES } from '../../shared/job-intake.js';
import { MAX_BODY_DEPTH } from '../../tasks/api/request-limits.js';
import { createApiHandler } from '../../tasks/api/router.js';
import {
  errorOf,
  httpEvent,
  jobOf,
  lambdaContext,
  promptJobBody,
  useApiTestEnv,
  type ApiTestEnv,
} from '../support/api.js';
import { TEST_BUCKET, TEST_MODEL, promptLines } from '../support/deps.js';

const env = useApiTestEnv();

function expectNothingWritten(e: ApiTestEnv): void {
  expect(e.s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  expect(e.sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
}

function inputBody(key: string): Record<string, unknown> {
  return { jobType: 'prompt', options: { model: TEST_MODEL }, input: { key } };
}

/** A body nesting `depth` levels: the object itself, then arrays in an unknown field. */
const NESTED_PREFIX = '{"jobType":"prompt","deep":';
function nestedBody(depth: number): string {
  return `${NESTED_PREFIX}${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
}

const badKeys: { key: string; message: string }[] = [
  {
    key: 'inputs/../jobs/job-other/manifest.jsonl',
    message: 'must not have "." or ".." segments, got "inputs/../jobs/job-other/manifest.jsonl"',
  },
  { key: 'inputs/./a.jsonl', message: 'must not have "." or ".." segments, got "inputs/./a.jsonl"' },
  { key: 'inputs//../x', message: 'must not have empty segments ("//" or a trailing "/"), got "inputs//../x"' },
  { key: 'inputs//a.jsonl', message: 'must not have empty segments ("//" or a trailing "/"), got "inputs//a.jsonl"' },
  { key: 'inputs/', message: 'must not have empty segments ("//" or a trailing "/"), got "inputs/"' },
  { key: '/inputs/a.jsonl', message: 'must be relative: no leading "/", got "/inputs/a.jsonl"' },
  { key: 'inputs\\..\\jobs\\x', message: 'must separate segments with "/", not "\\", got "inputs\\\\..\\\\jobs\\\\x"' },
  {
    key: 'inputs/%2e%2e/jobs/x',
    message: 'must not be percent-encoded: give the key as it is stored, got "inputs/%2e%2e/jobs/x"',
  },
  {
    key: 'inputs%2F..%2Fjobs%2Fx',
    message: 'must not be percent-encoded: give the key as it is stored, got "inputs%2F..%2Fjobs%2Fx"',
  },
];

describe('input.key must be a normalized relative key under inputs/', () => {
  test.each(badKeys)('$key -> 400', async ({ key, message }) => {
    // GIVEN another job's manifest where the key would lead after normalization
    const e = env();
    e.s3.put(TEST_BUCKET, 'jobs/job-other/manifest.jsonl', '{"index":0,"customId":"secret","line":{}}\n');

    // WHEN
    const response = await e.request('POST', '/jobs', { body: inputBody(key) });

    // THEN nothing is read, nothing written
    expect(response.status).toBe(400);
    expect(errorOf(response).issues).toEqual([{ where: 'input.key', message }]);
    expect(e.s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
    expectNothingWritten(e);
  });
});

describe('a body answers 4xx for the client mistakes in it, never 5xx', () => {
  test(`nesting deeper than ${MAX_BODY_DEPTH} levels -> 400 at body, even 5,000 deep`, async () => {
    // (the object is level 1, so the bracket too deep is the 32nd)
    for (const depth of [MAX_BODY_DEPTH + 1, 5_000]) {
      // WHEN
      const response = await env().request('POST', '/jobs', { body: nestedBody(depth) });

      // THEN
      expect(response.status).toBe(400);
      expect(errorOf(response).issues).toEqual([
        {
          where: 'body',
          message: `nests deeper than ${MAX_BODY_DEPTH} levels (at character ${NESTED_PREFIX.length + MAX_BODY_DEPTH - 1}); a body may nest at most ${MAX_BODY_DEPTH}`,
        },
      ]);
    }
    expectNothingWritten(env());
  });

  test(`exactly ${MAX_BODY_DEPTH} levels pass the depth check (this one fails later, on its unknown field)`, async () => {
    const response = await env().request('POST', '/jobs', { body: nestedBody(MAX_BODY_DEPTH) });

    expect(response.status).toBe(400);
    expect(errorOf(response).issues?.[0]?.where).toBe('deep');
  });

  test('brackets inside strings are not nesting', async () => {
    const body = promptJobBody(1);
    body.items = [{ id: 'brackets', prompt: `${'[{'.repeat(100)} "\\" ]` }];

    const response = await env().request('POST', '/jobs', { body });

    expect(response.status).toBe(202);
  });

  test('a UTF-8 byte order mark before the JSON is accepted, as text and base64-encoded', async () => {
    const e = env();
    const text = `\uFEFF${JSON.stringify(promptJobBody(2))}`;

    const plain = await e.request('POST', '/jobs', { body: text });
    const encoded = await e.request('POST', '/jobs', { body: text, base64: true });

    expect([plain.status, encoded.status]).toEqual([202, 202]);
    expect(jobOf(encoded).counts.total).toBe(2);
  });

  test('a base64-encoded body that is not UTF-8 -> 400 at body', async () => {
    // GIVEN a body with a Latin-1 "é" (0xE9), as API Gateway base64-encodes a body that is not text
    const e = env();
    const bytes = Buffer.concat([
      Buffer.from('{"jobType":"prompt","items":[{"id":"a","prompt":"caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}]}'),
    ]);
    const event = {
      ...httpEvent('POST', '/jobs', { body: '' }),
      body: bytes.toString('base64'),
      isBase64Encoded: true,
    };

    // WHEN
    const result = await createApiHandler(e.api)(event, lambdaContext());

    // THEN
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body ?? '')).toMatchObject({
      error: {
        code: 'ValidationError',
        issues: [{ where: 'body', message: 'is not valid UTF-8: send JSON encoded as UTF-8' }],
      },
    });
    expectNothingWritten(e);
  });
});

describe('options too large for the job record', () => {
  test(`over ${MAX_OPTIONS_BYTES} bytes -> 400 at options, not a 500 from DynamoDB`, async () => {
    // GIVEN a model name that makes the options half a megabyte
    const e = env();
    const body = promptJobBody(1, { model: 'm'.repeat(500_000) });

    // WHEN
    const response = await e.request('POST', '/jobs', { body });

    // THEN
    expect(response.status).toBe(400);
    expect(errorOf(response).issues).toEqual([
      { where: 'options', message: `are 500128 bytes as JSON; the limit is ${MAX_OPTIONS_BYTES} bytes` },
    ]);
    expectNothingWritten(e);
  });
});

describe(`past ${MAX_REPORTED_ISSUES} problems the list says how many more there are`, () => {
  test('25 bad items: 20 listed, then one entry naming where the 5 others start', async () => {
    // GIVEN 25 items without a prompt
    const items = promptLines(25).map(({ id }) => ({ id }));

    // WHEN
    const response = await env().request('POST', '/jobs', { body: { ...promptJobBody(0), items } });

    // THEN
    expect(response.status).toBe(400);
    const error = errorOf(response);
    expect(error.issues).toHaveLength(MAX_REPORTED_ISSUES + 1);
    expect(error.issues?.[MAX_REPORTED_ISSUES - 1]).toEqual({
      where: 'items[19]: prompt',
      message: 'is required: a non-empty string',
    });
    expect(error.issues?.[MAX_REPORTED_ISSUES]).toEqual({
      where: 'items[20]: prompt and later',
      message: '5 more problems, not listed: only the first 20 are',
    });
    expect(error.message).toMatch(/^25 invalid item\(s\) \(and 5 more\): items\[0\]: prompt: /);
  });
});
