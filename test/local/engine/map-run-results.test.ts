import { describe, expect, test } from '@jest/globals';
import {
  childResult,
  packChildResult,
  writeMapRunResultFiles,
  type MapRunChildResult,
} from '../../../local/engine/map-run-results.js';

const identity = {
  name: 'child-1',
  executionArn: 'arn:aws:states:us-east-1:000000000000:execution:jobs/Map:child-1',
  stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:jobs/Map',
};

function resultOf(items: number, status: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED'): MapRunChildResult {
  const input = { Items: Array.from({ length: items }, (_, i) => ({ customId: `item-${i}`, prompt: `About ${i}` })) };
  const outcome = status === 'SUCCEEDED' ? { status, output: { left: 0 } } : { status, error: 'E', cause: 'why' };
  return childResult(identity, input, outcome, new Date(0), new Date(1000));
}

/** Writes a run's files into a map, recording the largest piece each put was given. */
async function writeFiles(succeeded: MapRunChildResult[], failed: MapRunChildResult[] = []) {
  const objects = new Map<string, string>();
  const largestPiece = new Map<string, number>();
  const details = await writeMapRunResultFiles(
    { bucket: 'b', prefix: 'results/' },
    {
      mapRunArn: 'arn:map-run',
      mapRunId: 'run-1',
      succeeded: succeeded.map(packChildResult),
      failed: failed.map(packChildResult),
    },
    (key, pieces) => {
      const list = [...pieces];
      largestPiece.set(key, Math.max(...list.map((piece) => piece.length)));
      objects.set(key, Buffer.concat(list).toString('utf8'));
      return Promise.resolve();
    },
  );
  return { details, objects, largestPiece };
}

describe('map run child results', () => {
  test('GIVEN a child result WHEN packed THEN it keeps only its own bytes, and the result file has it back whole', async () => {
    const result = resultOf(100);

    const packed = packChildResult(result);

    expect(packed.buffer.byteLength).toBe(packed.length);
    expect(packed.length).toBeLessThan(JSON.stringify(result).length / 3);
    const { objects } = await writeFiles([result, result]);
    expect(JSON.parse(objects.get('results/run-1/SUCCEEDED_0.json') ?? '')).toEqual([result, result]);
  });

  test('GIVEN succeeded and failed children WHEN the files are written THEN the manifest lists each with its size in bytes', async () => {
    const ok = [resultOf(3), resultOf(2)];
    // Multi-byte characters: sizes are bytes, not characters.
    const bad = [{ ...resultOf(1, 'FAILED'), Cause: 'naïve — 例' }];

    const { details, objects } = await writeFiles(ok, bad);

    expect(details).toEqual({ Bucket: 'b', Key: 'results/run-1/manifest.json' });
    const manifest = JSON.parse(objects.get(details.Key) ?? '') as {
      DestinationBucket: string;
      ResultFiles: Record<string, { Key: string; Size: number }[]>;
    };
    expect(manifest.DestinationBucket).toBe('b');
    expect(manifest.ResultFiles.PENDING).toEqual([]);
    for (const [status, expected] of [
      ['SUCCEEDED', ok],
      ['FAILED', bad],
    ] as const) {
      const [file] = manifest.ResultFiles[status] ?? [];
      const body = objects.get(file?.Key ?? '') ?? '';
      expect(JSON.parse(body)).toEqual(expected);
      expect(file?.Size).toBe(Buffer.byteLength(body));
    }
  });

  test('GIVEN many children WHEN a result file is written THEN it goes out one child at a time, never whole', async () => {
    const children = Array.from({ length: 50 }, () => resultOf(20));

    const { objects, largestPiece } = await writeFiles(children);

    const key = 'results/run-1/SUCCEEDED_0.json';
    expect(JSON.parse(objects.get(key) ?? '')).toHaveLength(50);
    expect(largestPiece.get(key)).toBe(Buffer.byteLength(JSON.stringify(children[0])));
  });

  test('GIVEN no failed children WHEN the files are written THEN there is no FAILED file', async () => {
    const { objects } = await writeFiles([resultOf(1)]);

    expect([...objects.keys()].sort()).toEqual(['results/run-1/SUCCEEDED_0.json', 'results/run-1/manifest.json']);
  });
});
