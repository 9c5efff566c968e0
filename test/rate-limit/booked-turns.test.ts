import { describe, expect, test } from '@jest/globals';
import { BookedTurns, MAX_RESERVED_TURNS, type Chunk } from '../../shared/rate-limit/booked-turns.js';

const BURST_MS = 1000;
const NOW = 1_000_000;

function chunk(epoch: number, checkedAt = NOW): Chunk {
  return { epoch, checkedAt, void: false };
}

describe('the booked turns of one process', () => {
  test("releasing hands over the earliest epoch's turns in whole milliseconds, at most MAX_RESERVED_TURNS, and empties the pool", () => {
    // GIVEN turns of epoch 3 (more than a reservation carries) and a later chunk of epoch 4
    const turns = new BookedTurns(BURST_MS);
    const many = Array.from({ length: MAX_RESERVED_TURNS + 5 }, (_, i) => NOW + 10 + i + 0.25);
    turns.add(many, 50, chunk(3, NOW - 5));
    turns.add([NOW + 100_000], 50, chunk(4));

    // WHEN they are released
    const reservation = turns.release('key-1', NOW);

    // THEN
    expect(reservation).toMatchObject({ keyId: 'key-1', epoch: 3, checkedAt: NOW - 5, tokens: 50 });
    expect(reservation?.at).toHaveLength(MAX_RESERVED_TURNS);
    expect(reservation?.at[0]).toBe(NOW + 11);
    expect(turns.first(NOW)).toBeUndefined();
    expect(turns.release('key-1', NOW)).toBeUndefined();
  });

  test('taking over takes the turns of its own key only, and drops the ones more than a burst past', () => {
    // GIVEN a reservation whose first turn is long past
    const reservation = { keyId: 'key-1', epoch: 0, checkedAt: NOW, at: [NOW - 2 * BURST_MS, NOW + 500], tokens: 0 };
    const own = new BookedTurns(BURST_MS);
    const other = new BookedTurns(BURST_MS);

    // WHEN each takes it over
    own.takeOver('key-1', reservation, NOW);
    other.takeOver('key-2', reservation, NOW);

    // THEN
    expect(own.first(NOW)?.at).toBe(NOW + 500);
    expect(other.first(NOW)).toBeUndefined();
  });

  test('a 429 voids every turn booked before it, including one a caller is waiting for', () => {
    // GIVEN two turns, the first handed to a caller
    const turns = new BookedTurns(BURST_MS);
    turns.add([NOW + 100, NOW + 200], 0, chunk(0));
    const waitedFor = turns.first(NOW);
    turns.handOut();
    if (!waitedFor) throw new Error('a turn expected');

    // WHEN the process sees a 429
    turns.dropAfterPenalty();

    // THEN
    expect(turns.isVoid(waitedFor)).toBe(true);
    expect(turns.first(NOW)).toBeUndefined();
  });

  test('the turns wanted are the demand not yet held or handed out', () => {
    // GIVEN a demand of 10, three turns booked and one of them handed out
    const turns = new BookedTurns(BURST_MS);
    const demand = turns.expect(10);
    turns.add([NOW + 1, NOW + 2, NOW + 3], 0, chunk(0));
    turns.handOut();

    // WHEN one turn is taken and the demand then ends
    const beforeTaking = turns.wanted;
    turns.handedBack();
    demand.took();
    const afterTaking = turns.wanted;
    demand.done();

    // THEN
    expect(beforeTaking).toBe(10 - 2 - 1);
    expect(afterTaking).toBe(9 - 2);
    expect(turns.wanted).toBe(-2);
  });
});
