import { describe, expect, test } from '@jest/globals';
import { ValidationError } from '../../shared/errors.js';
import { validateJob } from '../../shared/job-intake.js';
import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import { MAX_CUSTOM_ID_BYTES, MAX_CUSTOM_ID_LENGTH } from '../../shared/job-types/validation.js';
import { idempotencyHeaderValue } from '../../shared/provider/openai-client.js';

type JobTypeName = 'prompt' | 'classify' | 'openai-batch';

const OPTIONS: Record<JobTypeName, Record<string, unknown>> = {
  prompt: { model: 'gpt-4.1-mini' },
  classify: { model: 'gpt-4.1-mini', params: { labels: ['a', 'b'] } },
  'openai-batch': { model: 'gpt-4.1-mini' },
};

function lineWithId(jobType: JobTypeName, id: string): Record<string, unknown> {
  if (jobType === 'prompt') return { id, prompt: 'p' };
  if (jobType === 'classify') return { id, text: 't' };
  return { custom_id: id, method: 'POST', url: '/v1/responses', body: { input: 'p' } };
}

/** The input errors intake reports for these ids, one line each, as "where: message". */
async function intakeIssues(jobType: JobTypeName, ids: readonly string[]): Promise<string[]> {
  const lines = ids.map((id, i) => ({ lineNumber: i + 1, value: lineWithId(jobType, id) }));
  try {
    await validateJob({ jobType, options: OPTIONS[jobType] }, lines, createDefaultRegistry());
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.issues.map((issue) => `${issue.where}: ${issue.message}`);
  }
}

const ANY_SCRIPT = ['café-名', '🚀', '👨‍👩‍👧‍👦', 'مرحبا', 'שלום', 'say "hi"', "it's", 'a\\b', 'tab\t', 'nl\n', '\u0001'];

describe.each(['prompt', 'classify', 'openai-batch'] as const)('GIVEN a %s job', (jobType) => {
  const field = jobType === 'openai-batch' ? 'custom_id' : 'id';

  test('WHEN its ids are in any script or hold quotes and control characters THEN intake takes them', async () => {
    expect(await intakeIssues(jobType, ANY_SCRIPT)).toEqual([]);
  });

  test('WHEN an id has a lone surrogate THEN intake names the line, the field and the character', async () => {
    // Arrange: JSON input can spell one as "\ud83d"; it has no UTF-8 form, so it cannot round-trip
    const ids = ['fine', 'ok-\ud83d', '🚀-\udc00-x'];

    // Act
    const issues = await intakeIssues(jobType, ids);

    // Assert
    expect(issues).toEqual([
      `line 2: ${field}: has a lone surrogate (U+D83D) at character 4, which has no UTF-8 form; ids must be valid Unicode`,
      `line 3: ${field}: has a lone surrogate (U+DC00) at character 3, which has no UTF-8 form; ids must be valid Unicode`,
    ]);
  });

  test('WHEN an id is over the limits THEN intake names the line and the limit; ids at the limits pass', async () => {
    // Arrange: length counts characters (code points): the last id is 519 UTF-16 units, and passes
    const ids = [
      'x'.repeat(MAX_CUSTOM_ID_LENGTH),
      'x'.repeat(MAX_CUSTOM_ID_LENGTH + 1),
      '名'.repeat(339) + 'ab', // 1,019 bytes
      '名'.repeat(340), // 1,020 bytes, 340 characters
      '🚀'.repeat(250) + 'x'.repeat(19), // 1,019 bytes, 269 characters, 519 UTF-16 units
    ];

    // Act
    const issues = await intakeIssues(jobType, ids);

    // Assert
    expect(MAX_CUSTOM_ID_BYTES).toBe(1019);
    expect(issues).toEqual([
      `line 2: ${field}: is 513 characters long; at most 512 are allowed`,
      `line 4: ${field}: is 1020 bytes in UTF-8; at most 1019 are allowed`,
    ]);
  });
});

describe('the Idempotency-Key header value', () => {
  test('GIVEN any Unicode key WHEN hashed THEN it is 64 hex characters, the same every time, one per key', () => {
    // Arrange
    const keys = ['job-1:café-名', 'job-1:👨‍👩‍👧‍👦', 'job-1:tab\there', 'job-1:e\u0301', 'job-1:é', 'job-2:café-名'];

    // Act
    const values = keys.map(idempotencyHeaderValue);

    // Assert
    for (const value of values) expect(value).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.map(idempotencyHeaderValue)).toEqual(values);
    expect(new Set(values).size).toBe(keys.length);
    // A header value fetch accepts: no ByteString error.
    expect(() => new Headers({ 'Idempotency-Key': values[0] ?? '' })).not.toThrow();
    expect(() => new Headers({ 'Idempotency-Key': keys[0] ?? '' })).toThrow(/ByteString/);
  });
});
