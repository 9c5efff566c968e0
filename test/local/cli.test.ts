import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import type { OutputLine } from '../../shared/types.js';
import { cli } from '../support/cli.js';

async function inputFile(lines: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llm-batch-cli-'));
  const file = join(dir, 'items.jsonl');
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}

function promptLines(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({ id: `item-${i}`, prompt: `Say something about number ${i}` }),
  );
}

describe('llm-batch run on the local runtime with the mock provider', () => {
  test('every input id appears exactly once in the output, the summary matches the file, and only permanent errors fail', async () => {
    // Arrange
    const file = await inputFile(promptLines(400));

    // Act
    const result = await cli([
      'run',
      file,
      '--json',
      '--batch-size',
      '25',
      '--max-concurrency',
      '8',
      '--time-scale',
      '200',
      '--mock-latency-ms',
      '300',
      '--mock-transient-error-rate',
      '0.1',
      '--mock-permanent-error-rate',
      '0.05',
      '--mock-seed',
      '11',
      // Transient failures (10 % of create calls and of background responses) are sent again: at
      // 10 attempts none of 400 items runs out of them (at the default 3, about 1 in 300 would).
      '--max-attempts',
      '10',
    ]);

    // Assert
    expect(result.stderr).not.toMatch(/Error:/);
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    const lines = (await readFile(file.replace(/\.jsonl$/, '.results.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as OutputLine);
    const ids = lines.map((line) => line.custom_id);
    expect(new Set(ids).size).toBe(400);
    expect(ids.sort()).toEqual(Array.from({ length: 400 }, (_, i) => `item-${i}`).sort());
    const failed = lines.filter((line) => line.error !== null);
    const succeeded = lines.filter((line) => line.response?.status_code === 200);
    expect(summary).toMatchObject({
      status: 'COMPLETED_WITH_ERRORS',
      total: 400,
      succeeded: succeeded.length,
      failed: failed.length,
      cancelled: 0,
    });
    expect(succeeded.length + failed.length).toBe(400);
    expect(failed.length).toBeGreaterThan(0);
    // Transient 5xx answers were retried away: every failure is the mock's permanent 400 for that request.
    for (const line of failed) expect(line.error?.code).toBe('invalid_value');
    expect(result.code).toBe(3);
  }, 180_000);

  test('bad input exits 2 with the line number and creates no job', async () => {
    // Arrange
    const file = await inputFile([
      JSON.stringify({ id: 'a', prompt: 'fine' }),
      '{"id": "b", "prompt": ',
      JSON.stringify({ id: 'a', prompt: 'twice' }),
    ]);

    // Act
    const result = await cli(['run', file]);

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('line 2: not valid JSON');
    expect(result.stderr).toContain('line 3: duplicate id "a" (first seen at line 1)');
    expect(result.stdout).toBe('');
  });

  test('an empty file exits 2', async () => {
    const file = await inputFile([]);
    const result = await cli(['run', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the input is empty');
  });

  test('unknown commands and options exit 2 with the usage', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    const result = await cli(['run', 'x.jsonl', '--batch-size', 'many']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--batch-size must be a positive integer');
  });

  test('GIVEN a job type nobody registered WHEN run THEN it exits 2 naming the registered ones', async () => {
    // Arrange
    const file = await inputFile([JSON.stringify({ id: 'a', prompt: 'fine' })]);

    // Act
    const result = await cli(['run', file, '--job-type', 'summarize']);

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown job type "summarize"; registered job types:');
  });

  test('asl prints the deployed definition and graph a Mermaid diagram of it', async () => {
    const asl = await cli(['asl']);
    expect(asl.code).toBe(0);
    expect((JSON.parse(asl.stdout) as { StartAt: string }).StartAt).toBe('Prepare job');
    const graph = await cli(['graph']);
    expect(graph.code).toBe(0);
    expect(graph.stdout).toMatch(/^flowchart TD/);
    expect(graph.stdout).toContain('"Poll batch"');
    expect(graph.stdout).toContain('subgraph');
  });
});
