import { describe, expect, test } from '@jest/globals';
import { childResult, mapRunResultFiles, packChildResult } from '../../../local/engine/map-run-results.js';

const identity = {
  name: 'child-1',
  executionArn: 'arn:aws:states:us-east-1:000000000000:execution:jobs/Map:child-1',
  stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:jobs/Map',
};

describe('map run child results', () => {
  test('GIVEN a child result WHEN packed THEN it keeps only its own bytes, and the result file has it back whole', () => {
    const input = { Items: Array.from({ length: 100 }, (_, i) => ({ customId: `item-${i}`, prompt: `About ${i}` })) };
    const result = childResult(
      identity,
      input,
      { status: 'SUCCEEDED', output: { left: 0 } },
      new Date(0),
      new Date(1000),
    );

    const packed = packChildResult(result);

    expect(packed.buffer.byteLength).toBe(packed.length);
    expect(packed.length).toBeLessThan(JSON.stringify(result).length / 3);
    const { files } = mapRunResultFiles(
      { bucket: 'b', prefix: 'results' },
      { mapRunArn: 'arn:map-run', mapRunId: 'run-1', succeeded: [packed, packed], failed: [] },
    );
    expect(JSON.parse(files[0]?.body ?? '')).toEqual([result, result]);
  });
});
