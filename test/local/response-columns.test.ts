import { describe, expect, test } from '@jest/globals';
import { idFor } from '../../local/mock-provider/outcomes.js';
import { ResponseColumns, type ResponseRow } from '../../local/mock-provider/response-columns.js';

const row = (sequence: number, fields: Partial<ResponseRow> = {}): ResponseRow => ({
  id: idFor(7, 'resp_', sequence),
  createdAt: 1_000 + sequence,
  latencyMs: 1.25,
  background: true,
  store: true,
  model: 'gpt-5-mini',
  text: `answer ${sequence}`,
  inputTokens: 3,
  outputTokens: 4,
  formatName: undefined,
  fails: false,
  cancelledAt: undefined,
  ...fields,
});

describe('the mock provider stored responses', () => {
  test('a response comes back with every field; a cancel sticks', () => {
    const columns = new ResponseColumns();
    for (let sequence = 1; sequence <= 3000; sequence++) columns.add(row(sequence, { fails: sequence === 2 }));
    columns.add(row(3001, { formatName: 'label', background: false, model: 'gpt-5' }));

    columns.cancel(idFor(7, 'resp_', 3), 5_000);

    expect(columns.size).toBe(3001);
    expect(columns.get(idFor(7, 'resp_', 1))).toEqual(row(1));
    expect(columns.get(idFor(7, 'resp_', 2))?.fails).toBe(true);
    expect(columns.get(idFor(7, 'resp_', 3))?.cancelledAt).toBe(5_000);
    expect(columns.get(idFor(7, 'resp_', 3001))).toEqual(
      row(3001, { formatName: 'label', background: false, model: 'gpt-5' }),
    );
  });

  test('an id of the right shape that was never made is not found, nor one past the last', () => {
    const columns = new ResponseColumns();
    columns.add(row(1));
    const made = idFor(7, 'resp_', 1);

    expect(columns.get(`resp_00000000000000${made.slice(-8)}`)).toBeUndefined();
    expect(columns.get(idFor(8, 'resp_', 1))).toBeUndefined();
    expect(columns.get(idFor(7, 'resp_', 2))).toBeUndefined();
    expect(columns.get('resp_x')).toBeUndefined();
  });

  test('answer texts of any length and script come back exactly, across chunk boundaries', () => {
    const columns = new ResponseColumns();
    const texts = new Map<number, string>();
    // About 1.4 MB of texts: at least one boundary of the 1 MiB chunks is crossed.
    for (let sequence = 1; sequence <= 20_000; sequence++) texts.set(sequence, `réponse ${sequence} 例 `.repeat(5));
    texts.set(20_001, '');
    texts.set(20_002, 'x'.repeat(3 << 20)); // longer than a chunk
    texts.set(20_003, 'after the long one 🙂');
    for (const [sequence, text] of texts) columns.add(row(sequence, { text }));
    columns.add(row(5, { text: 'replaced' }));
    texts.set(5, 'replaced');

    for (const [sequence, text] of texts) expect(columns.get(idFor(7, 'resp_', sequence))?.text).toBe(text);
  });
});
