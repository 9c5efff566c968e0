import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScheduleConfigError } from '../../infra/job-schedules.js';
import { CONFIG_FILE_NAME, readScheduleConfig } from '../../infra/schedule-config.js';
import { synth } from './support.js';

// Scheduled jobs of the project's app come from llm-batch.config.json or the `schedules` context
// key, never from source; every entry is checked at synth, naming the entry and the field.

const folders: string[] = [];
afterAll(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

/** An app root holding llm-batch.config.json with `content` (JSON text, or a value to write as JSON). */
function appRoot(content?: unknown): string {
  const folder = mkdtempSync(join(tmpdir(), 'llm-batch-config-'));
  folders.push(folder);
  if (content !== undefined)
    writeFileSync(join(folder, CONFIG_FILE_NAME), typeof content === 'string' ? content : JSON.stringify(content));
  return folder;
}

const NIGHTLY = {
  name: 'nightly-moderation',
  expression: 'cron(0 3 * * ? *)',
  timezone: 'Europe/Berlin',
  template: { jobType: 'classify', input: { key: 'inputs/comments.jsonl' } },
};

function read(root: string, context: Record<string, unknown> = {}, inputBucketNames: string[] = []) {
  return readScheduleConfig({ appRoot: root, context, inputBucketNames });
}

function messageOf(act: () => unknown): string {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(ScheduleConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ScheduleConfigError');
}

describe('where the schedules come from', () => {
  test('no file and no context key: no schedules', () => {
    expect(read(appRoot())).toEqual([]);
  });

  test('llm-batch.config.json at the app root', () => {
    expect(read(appRoot({ $schema: 'x', schedules: [NIGHTLY] }))).toEqual([NIGHTLY]);
  });

  test('the schedules context key: a list from cdk.json, or its JSON text from -c', () => {
    expect(read(appRoot(), { schedules: [NIGHTLY] })).toEqual([NIGHTLY]);
    expect(read(appRoot(), { schedules: JSON.stringify([NIGHTLY]) })).toEqual([NIGHTLY]);
  });

  test('the stack built from the file has one schedule per entry', () => {
    const { template } = synth({}, read(appRoot({ schedules: [NIGHTLY, { ...NIGHTLY, name: 'second' }] })));

    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'nightly-moderation',
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
    });
  });
});

describe('refusals, naming the file or key, the entry and the field', () => {
  test('both a file and a context key', () => {
    expect(messageOf(() => read(appRoot({ schedules: [] }), { schedules: [NIGHTLY] }))).toBe(
      'llm-batch.config.json: 1 problem with scheduled jobs:\n- schedules are given both here and in the context key schedules (cdk.json or -c); keep one list',
    );
  });

  test('a file that is not JSON, or holds other settings', () => {
    expect(messageOf(() => read(appRoot('{ "schedules": [ }')))).toMatch(
      /^llm-batch\.config\.json: 1 problem with scheduled jobs:\n- is not valid JSON \(/,
    );
    expect(messageOf(() => read(appRoot({ schedules: [], recordTtlDays: 3 })))).toBe(
      'llm-batch.config.json: 1 problem with scheduled jobs:\n- recordTtlDays is not a setting of this file; it holds "schedules" (deploy options are context)',
    );
  });

  test('schedules that are not a list', () => {
    expect(messageOf(() => read(appRoot({ schedules: { name: 'x' } })))).toBe(
      'llm-batch.config.json: 1 problem with scheduled jobs:\n- schedules must be a list of { name, expression, timezone?, enabled?, template } (got {"name":"x"})',
    );
  });

  test('every problem of every entry at once, each naming the entry and the field', () => {
    const entries = [
      { ...NIGHTLY, expression: 'at 3', enabled: 'yes', tz: 'UTC' },
      { name: 'a.b', expression: 'rate(1 day)', template: { jobType: 'prompt', input: { key: '' } } },
      'nightly',
      { ...NIGHTLY, name: 'inputs', template: { ...NIGHTLY.template, input: { key: 'a.jsonl', bucket: 'theirs' } } },
    ];

    expect(messageOf(() => read(appRoot({ schedules: entries }), {}, ['mine']))).toBe(
      [
        'llm-batch.config.json: 7 problems with scheduled jobs:',
        '- schedules[0] "nightly-moderation": tz is not a schedule field; use name, expression, timezone, enabled, template',
        '- schedules[0] "nightly-moderation": expression "at 3" must be cron(...), rate(...) or at(...), e.g. "cron(0 3 * * ? *)" (03:00 every day) or "rate(1 day)"',
        '- schedules[0] "nightly-moderation": enabled must be true or false',
        '- schedules[1] "a.b": name must be 1 to 63 of A-Z a-z 0-9 _ - (it names the schedule and starts every job id it creates), e.g. "nightly-moderation"',
        '- schedules[1] "a.b": template.input.key must be the S3 key of a JSONL file with one item per line, e.g. "inputs/comments.jsonl"',
        '- schedules[2]: must be an object { name, expression, timezone?, enabled?, template }',
        '- schedules[3] "inputs": template.input.bucket "theirs" is not an input bucket, so Prepare job could not read it; deploy with -c inputBucketNames=mine,theirs',
      ].join('\n'),
    );
  });

  test('an entry from the context key is named by the key', () => {
    expect(messageOf(() => read(appRoot(), { schedules: [{ ...NIGHTLY, timezone: 'Mars/Olympus' }] }))).toBe(
      'context schedules: 1 problem with scheduled jobs:\n- schedules[0] "nightly-moderation": timezone "Mars/Olympus" is not an IANA time zone; use e.g. "UTC" or "Europe/Berlin"',
    );
  });
});
