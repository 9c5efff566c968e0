/**
 * Counts DynamoDB writes per partition key per simulated second, to set beside DynamoDB's limit
 * of 1,000 write units a second per partition. It wraps the client's `send` (the local runtime's
 * document client, or any object with `send(command)`), so it sees every command the tasks send.
 * A write of a record past 1 KB costs more than one unit: these are writes, not units.
 */
export const PARTITION_WRITE_LIMIT = 1000;

export const KEY_KINDS = ['items', 'job record', 'batch', 'log', 'rate bucket', 'batch queue', 'other'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

const WRITE_COMMANDS = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand', 'BatchWriteCommand']);

interface Key {
  pk?: string;
  sk?: string;
}

/** What a record's key says it is (shared/store/keys.ts, shared/rate-limit/). */
export function kindOf(key: Key): KeyKind {
  const pk = key.pk ?? '';
  const sk = key.sk ?? '';
  if (pk.startsWith('RATE#')) return 'rate bucket';
  if (pk.startsWith('BATCHQ#')) return 'batch queue';
  if (!pk.startsWith('JOB#')) return 'other';
  if (sk.startsWith('ITEM#')) return 'items';
  if (sk === 'JOB') return 'job record';
  if (sk.startsWith('BATCH#')) return 'batch';
  if (sk.startsWith('LOG#')) return 'log';
  return 'other';
}

/** The keys one write command writes (a BatchWrite: each of its requests). */
function keysWritten(command: { constructor: { name: string }; input?: unknown }): Key[] {
  if (!WRITE_COMMANDS.has(command.constructor.name)) return [];
  const input = (command.input ?? {}) as {
    Key?: Key;
    Item?: Key;
    RequestItems?: Record<string, { PutRequest?: { Item: Key }; DeleteRequest?: { Key: Key } }[]>;
  };
  if (input.RequestItems) {
    return Object.values(input.RequestItems)
      .flat()
      .map((request) => request.PutRequest?.Item ?? request.DeleteRequest?.Key ?? {});
  }
  return [input.Key ?? input.Item ?? {}];
}

export interface PeakWrites {
  /** Writes in the busiest simulated second, on the busiest key of this kind. */
  peak: number;
  key: string;
  second: number;
  /** Every write of this kind. */
  total: number;
}

/** Per-second counts, folded into peaks when the second ends, so memory stays flat. */
export class PartitionWriteCounter {
  private second = Number.NaN;
  private readonly thisSecond = new Map<string, { total: number; byKind: Map<KeyKind, number> }>();
  private readonly byKind = new Map<KeyKind, PeakWrites>();
  private partitionPeak: PeakWrites = { peak: 0, key: '', second: 0, total: 0 };

  /** `nowMs`: the simulated clock. */
  constructor(private readonly nowMs: () => number) {}

  /** Wraps `client.send` so that every write it sends is counted. */
  attach<C extends { send: (...args: never[]) => Promise<unknown> }>(client: C): C {
    const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as { send: unknown }).send = (
      command: { constructor: { name: string }; input?: unknown },
      ...rest: unknown[]
    ) => {
      for (const key of keysWritten(command)) this.record(key);
      return send(command, ...rest);
    };
    return client;
  }

  record(key: Key): void {
    const second = Math.floor(this.nowMs() / 1000);
    if (second !== this.second) this.fold(second);
    const pk = key.pk ?? '';
    const kind = kindOf(key);
    const entry = this.thisSecond.get(pk) ?? { total: 0, byKind: new Map<KeyKind, number>() };
    entry.total++;
    entry.byKind.set(kind, (entry.byKind.get(kind) ?? 0) + 1);
    this.thisSecond.set(pk, entry);
    this.partitionPeak.total++;
    const totals = this.byKind.get(kind) ?? { peak: 0, key: '', second: 0, total: 0 };
    totals.total++;
    this.byKind.set(kind, totals);
  }

  /** The peak per key kind, and of any partition key over all kinds (a job's key holds its record, batches and log). */
  peaks(): { byKind: Partial<Record<KeyKind, PeakWrites>>; partition: PeakWrites } {
    this.fold(Number.NaN);
    return { byKind: Object.fromEntries(this.byKind), partition: { ...this.partitionPeak } };
  }

  private fold(next: number): void {
    for (const [pk, entry] of this.thisSecond) {
      if (entry.total > this.partitionPeak.peak)
        this.partitionPeak = { ...this.partitionPeak, peak: entry.total, key: pk, second: this.second };
      for (const [kind, count] of entry.byKind) {
        const peak = this.byKind.get(kind);
        if (peak && count > peak.peak) Object.assign(peak, { peak: count, key: pk, second: this.second });
      }
    }
    this.thisSecond.clear();
    this.second = next;
  }
}
