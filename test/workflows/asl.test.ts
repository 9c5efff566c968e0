import { createRequire } from 'node:module';
import { describe, expect, test } from '@jest/globals';
import { renderJobWorkflowAsl } from '../../workflows/render-asl.js';
import { STATE } from '../../workflows/state-names.js';

/**
 * asl-validator 4 is CommonJS without type declarations: `module.exports = validator(definition,
 * options?)`. Loaded through require so the test states the one signature it uses.
 */
interface AslValidationResult {
  isValid: boolean;
  errors: unknown[];
  errorsText(separator?: string): string;
}
type AslValidator = (definition: unknown, options?: { checkPaths: boolean; checkArn: boolean }) => AslValidationResult;
const validateAsl = createRequire(import.meta.url)('asl-validator') as AslValidator;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type AslState = { [key: string]: Json } & { Type: string };
interface AslGraph {
  StartAt: string;
  States: Record<string, AslState>;
}

const asl = renderJobWorkflowAsl() as unknown as AslGraph & Record<string, Json>;

/** Every States block (the top level, then each Map's item processor), with where it sits. */
function graphs(graph: AslGraph, where = 'top level'): { where: string; graph: AslGraph }[] {
  const nested = Object.entries(graph.States).flatMap(([name, state]) => {
    const processor = (state.ItemProcessor ?? state.Iterator) as unknown as AslGraph | undefined;
    return processor ? graphs(processor, `item processor of "${name}"`) : [];
  });
  return [{ where, graph }, ...nested];
}

const allStates = new Map(graphs(asl).flatMap(({ graph }) => Object.entries(graph.States)));
const map = allStates.get(STATE.processBatches) as AslState & Record<string, Record<string, Json>>;

/** Every [path, key, value] in a JSON tree. */
function* walk(value: Json, path: string[] = []): Generator<[string[], string, Json]> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* walk(item, [...path, String(i)]);
  } else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      yield [path, key, child];
      yield* walk(child, [...path, key]);
    }
  }
}

describe('rendered job workflow ASL', () => {
  test('passes asl-validator with path and ARN checks on', () => {
    // The validator fills in QueryLanguage on every state it sees: give it a copy.
    const result = validateAsl(structuredClone(asl), { checkPaths: true, checkArn: true });

    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  test('has every named state', () => {
    expect([...allStates.keys()].sort()).toEqual(Object.values(STATE).sort());
    expect(asl.StartAt).toBe(STATE.prepareJob);
  });

  test('is JSONPath only: no JSONata query language, no variables (Assign), no JSONata fields', () => {
    const offending = [...walk(asl)]
      .filter(
        ([, key, value]) =>
          (key === 'QueryLanguage' && value !== 'JSONPath') ||
          key === 'Assign' ||
          key === 'Arguments' ||
          key === 'Output',
      )
      .map(([path, key]) => [...path, key].join('.'));

    expect(offending).toEqual([]);
  });

  // ------------------------------------------------------------------------------------------
  // What asl-validator 4 accepts without checking, found by feeding it broken copies of this
  // definition; each is checked here instead, so none of it goes unchecked:
  // - a transition from inside the item processor to a top-level state ("Poll batch" -> "Finalize
  //   job") is accepted;
  // - Retry's JitterStrategy and MaxDelaySeconds are not in its schema (any value passes);
  // - ItemReader.ReaderConfig allows any properties (InputType "BOGUS" passes);
  // - ItemReader.Resource and ResultWriter.Resource are any string (no ARN check) and
  //   ResultWriter allows unknown fields;
  // - payload templates are checked for syntax only, so a path in a field without the `.$`
  //   suffix (sent as a literal string) passes.
  // ------------------------------------------------------------------------------------------

  test('every transition stays inside its own States block', () => {
    const outside: string[] = [];
    for (const { where, graph } of graphs(asl)) {
      const names = new Set(Object.keys(graph.States));
      for (const [name, state] of Object.entries(graph.States)) {
        const targets = [
          state.Next,
          state.Default,
          ...((state.Choices as { Next?: string }[] | undefined) ?? []).map((c) => c.Next),
          ...((state.Catch as { Next?: string }[] | undefined) ?? []).map((c) => c.Next),
        ].filter((t): t is string => typeof t === 'string');
        for (const target of targets) if (!names.has(target)) outside.push(`${where}: "${name}" -> "${target}"`);
      }
    }

    expect(outside).toEqual([]);
  });

  test('retries use a known jitter strategy and whole-second caps', () => {
    const retries = [...allStates].flatMap(([name, state]) =>
      ((state.Retry as Record<string, Json>[] | undefined) ?? []).map((retry) => ({ name, retry })),
    );

    expect(retries.length).toBeGreaterThan(0);
    for (const { retry } of retries) {
      if (retry.JitterStrategy !== undefined) expect(['FULL', 'NONE']).toContain(retry.JitterStrategy);
      if (retry.MaxDelaySeconds !== undefined) {
        expect(Number.isInteger(retry.MaxDelaySeconds) && (retry.MaxDelaySeconds as number) > 0).toBe(true);
      }
    }
  });

  test('the Distributed Map reads JSONL with s3:getObject and writes results with s3:putObject', () => {
    expect(map.ItemReader).toMatchObject({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSONL' },
    });
    expect(map.ResultWriter).toEqual({
      Resource: 'arn:aws:states:::s3:putObject',
      Parameters: { Bucket: 'llm-batch-local', Prefix: 'map-runs' },
    });
  });

  test('no payload template field holds a path without the .$ suffix', () => {
    const templates = ['Parameters', 'ItemSelector', 'ResultSelector', 'BatchInput'];
    const literalPaths = [...walk(asl)]
      .filter(([path, key, value]) => {
        const inTemplate = path.some((segment) => templates.includes(segment));
        return inTemplate && !key.endsWith('.$') && typeof value === 'string' && value.startsWith('$');
      })
      .map(([path, key, value]) => `${[...path, key].join('.')} = ${JSON.stringify(value)}`);

    expect(literalPaths).toEqual([]);
  });
});
