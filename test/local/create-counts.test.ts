import { describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { CreateCounts, createsKey } from '../../local/mock-provider/create-counts.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe("the mock's create calls per item", () => {
  test('GIVEN many hashed keys, some sent more than once WHEN counted THEN each count matches a plain map', () => {
    const counts = new CreateCounts();
    const expected = new Map<string, number>();
    // 20,000 keys: the table grows several times while counting.
    for (let i = 0; i < 20_000; i++) {
      const sends = i % 7 === 0 ? 3 : 1;
      for (let send = 1; send <= sends; send++) {
        const key = sha(`job-1:item-${i}`);
        expect(counts.add(key)).toBe(send);
        expected.set(createsKey(key), send);
      }
    }

    expect(counts.size).toBe(20_000);
    expect(counts.entries()).toEqual(expected);
  });

  test('GIVEN a hash whose prefix is all zeros and keys that are not hashes WHEN counted THEN each is its own key', () => {
    const counts = new CreateCounts();
    const zeros = '0'.repeat(64);

    counts.add(zeros);
    counts.add(zeros);
    counts.add('p-1');
    counts.add('p-1');
    counts.add('P-1');
    counts.add(zeros.toUpperCase().replace(/0/g, 'A')); // not lower-case hex: kept whole

    expect(counts.entries()).toEqual(
      new Map([
        ['p-1', 2],
        ['P-1', 1],
        ['A'.repeat(64), 1],
        ['000000000000', 2],
      ]),
    );
    expect(counts.size).toBe(4);
  });
});
