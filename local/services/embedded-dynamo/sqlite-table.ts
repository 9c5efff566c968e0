/**
 * One DynamoDB table (string partition and sort keys, global secondary indexes with string keys
 * projecting everything) in an SQLite file: a row per record holding its keys in columns and the
 * record as JSON text. SQLite compares TEXT as UTF-8 bytes, DynamoDB's order of string keys. A
 * sparse index is a partial SQLite index on the rows that have its keys.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { ValidationException } from './errors.js';

export interface KeyNames {
  partition: string;
  sort: string;
}

export interface TableShape {
  name: string;
  key: KeyNames;
  indexes: Map<string, KeyNames>;
}

/** A sort key condition of a query: the value(s) it compares with are strings (string keys). */
export type SortCondition =
  | { op: '=' | '<' | '<=' | '>' | '>='; value: string }
  | { op: 'between'; low: string; high: string }
  | { op: 'begins_with'; prefix: string };

export interface RangeRead {
  index?: string;
  partition: string;
  sort?: SortCondition;
  forward: boolean;
  /** The key of the last record of the previous page (table keys, and the index keys on an index). */
  after?: Record<string, unknown>;
  limit?: number;
}

export interface Row {
  doc: string;
}

/** SQLite's page cache per connection, in KiB (negative cache_size): bounded, whatever the data's size. */
const PAGE_CACHE_KIB = 16_384;

export function tableShape(definition: CreateTableCommandInput): TableShape {
  const keyOf = (schema: { AttributeName?: string; KeyType?: string }[] | undefined): KeyNames => {
    const partition = schema?.find((key) => key.KeyType === 'HASH')?.AttributeName;
    const sort = schema?.find((key) => key.KeyType === 'RANGE')?.AttributeName;
    if (!partition || !sort) throw new Error('the embedded store keeps tables with a partition and a sort key only');
    return { partition, sort };
  };
  return {
    name: definition.TableName ?? '',
    key: keyOf(definition.KeySchema),
    indexes: new Map(
      (definition.GlobalSecondaryIndexes ?? []).map((index) => [index.IndexName ?? '', keyOf(index.KeySchema)]),
    ),
  };
}

export class SqliteTable {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  /** Index name to its column pair (i0pk, i0sk, ...). */
  private readonly indexColumns = new Map<string, { partition: string; sort: string }>();
  private readonly upsertSql: string;
  private writing = false;

  constructor(
    readonly shape: TableShape,
    file: string,
    /** With a data dir: survive a process kill (WAL, synchronous NORMAL); a temporary file needs neither. */
    durable: boolean,
  ) {
    this.db = new DatabaseSync(file);
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${durable ? 'NORMAL' : 'OFF'};
      PRAGMA cache_size = -${PAGE_CACHE_KIB}; PRAGMA temp_store = MEMORY;`);
    const indexColumns: string[] = [];
    [...shape.indexes.keys()].forEach((name, i) => {
      this.indexColumns.set(name, { partition: `i${i}pk`, sort: `i${i}sk` });
      indexColumns.push(`i${i}pk TEXT, i${i}sk TEXT`);
    });
    this.db.exec(
      `CREATE TABLE IF NOT EXISTS records (pk TEXT NOT NULL, sk TEXT NOT NULL, ${indexColumns.map((c) => `${c}, `).join('')}doc TEXT NOT NULL, PRIMARY KEY (pk, sk))`,
    );
    for (const { partition, sort } of this.indexColumns.values()) {
      this.db.exec(
        `CREATE INDEX IF NOT EXISTS records_${partition} ON records (${partition}, ${sort}, pk, sk) WHERE ${partition} IS NOT NULL`,
      );
    }
    const columns = [
      'pk',
      'sk',
      ...[...this.indexColumns.values()].flatMap(({ partition, sort }) => [partition, sort]),
    ];
    this.upsertSql =
      `INSERT INTO records (${columns.join(', ')}, doc) VALUES (${columns.map(() => '?').join(', ')}, ?) ` +
      `ON CONFLICT (pk, sk) DO UPDATE SET ${[...columns.slice(2), 'doc'].map((c) => `${c} = excluded.${c}`).join(', ')}`;
  }

  private statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }

  /** The stored JSON text of one record. */
  get(partition: string, sort: string): string | undefined {
    const row = this.statement('SELECT doc FROM records WHERE pk = ? AND sk = ?').get(partition, sort) as
      Row | undefined;
    return row?.doc;
  }

  /** Writes the record (its keys already checked), its JSON text `doc`. */
  put(item: Record<string, unknown>, doc: string): void {
    const args: (string | null)[] = [item[this.shape.key.partition] as string, item[this.shape.key.sort] as string];
    for (const [name, keys] of this.shape.indexes) {
      const partition = item[keys.partition];
      const sort = item[keys.sort];
      // Sparse: a record is in an index only when it has both of the index's keys.
      const indexed = partition !== undefined && sort !== undefined;
      if (indexed && (typeof partition !== 'string' || typeof sort !== 'string' || partition === '' || sort === ''))
        throw new ValidationException(
          `One or more parameter values were invalid: Type mismatch for Index Key ${typeof partition !== 'string' || partition === '' ? keys.partition : keys.sort} Expected: S (non-empty) Index: ${name}`,
        );
      args.push(indexed ? (partition as string) : null, indexed ? (sort as string) : null);
    }
    this.inTransaction();
    this.statement(this.upsertSql).run(...args, doc);
  }

  delete(partition: string, sort: string): void {
    this.inTransaction();
    this.statement('DELETE FROM records WHERE pk = ? AND sk = ?').run(partition, sort);
  }

  /**
   * The writes of one turn of the event loop share a transaction, committed at the start of the
   * next turn: a commit per write cost ~10 times the write itself. The commit is scheduled before
   * the answer of the turn's first write (callers are answered on the next turn, see client.ts),
   * so no write is acknowledged before it is committed, and a killed process loses none.
   */
  private inTransaction(): void {
    if (this.writing) return;
    this.db.exec('BEGIN');
    this.writing = true;
    setImmediate(this.commit);
  }

  private readonly commit = (): void => {
    if (!this.writing) return;
    this.writing = false;
    if (this.db.isOpen) this.db.exec('COMMIT');
  };

  /** The records of one partition in sort key order, lazily (the caller stops at its limits). */
  range(read: RangeRead): IterableIterator<Row & { pk: string; sk: string; ipk?: string; isk?: string }> {
    const columns = read.index === undefined ? { partition: 'pk', sort: 'sk' } : this.indexColumns.get(read.index);
    if (!columns) throw new ValidationException(`The table does not have the specified index: ${read.index}`);
    const where = [`${columns.partition} = ?`];
    const args: string[] = [read.partition];
    const sort = read.sort;
    if (sort?.op === 'between') {
      where.push(`${columns.sort} BETWEEN ? AND ?`);
      args.push(sort.low, sort.high);
    } else if (sort?.op === 'begins_with') {
      where.push(`${columns.sort} >= ?`);
      args.push(sort.prefix);
      const upper = prefixUpperBound(sort.prefix);
      if (upper !== undefined) {
        where.push(`${columns.sort} < ?`);
        args.push(upper);
      }
    } else if (sort) {
      where.push(`${columns.sort} ${sort.op} ?`);
      args.push(sort.value);
    }
    const direction = read.forward ? 'ASC' : 'DESC';
    const after = read.forward ? '>' : '<';
    if (read.after && read.index === undefined) {
      where.push(`sk ${after} ?`);
      args.push(String(read.after[this.shape.key.sort]));
    } else if (read.after && read.index !== undefined) {
      const keys = this.shape.indexes.get(read.index) as KeyNames;
      where.push(`(${columns.sort}, pk, sk) ${after} (?, ?, ?)`);
      args.push(
        String(read.after[keys.sort]),
        String(read.after[this.shape.key.partition]),
        String(read.after[this.shape.key.sort]),
      );
    }
    const order =
      read.index === undefined ? `sk ${direction}` : `${columns.sort} ${direction}, pk ${direction}, sk ${direction}`;
    const limit = read.limit === undefined ? '' : ` LIMIT ${Math.floor(read.limit)}`;
    const select = `pk, sk, doc${read.index === undefined ? '' : `, ${columns.partition} AS ipk, ${columns.sort} AS isk`}`;
    return this.statement(
      `SELECT ${select} FROM records WHERE ${where.join(' AND ')} ORDER BY ${order}${limit}`,
    ).iterate(...args) as IterableIterator<Row & { pk: string; sk: string; ipk?: string; isk?: string }>;
  }

  close(): void {
    this.commit();
    if (this.db.isOpen) this.db.close();
  }
}

/**
 * The least string above every string that starts with `prefix` (its last code point plus one,
 * carried leftwards past U+10FFFF), or none: a begins_with condition as a key range.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = [...prefix].map((char) => char.codePointAt(0) as number);
  while (points.length > 0) {
    const last = (points.pop() as number) + 1;
    if (last <= 0x10ffff) return String.fromCodePoint(...points, last >= 0xd800 && last <= 0xdfff ? 0xe000 : last);
  }
  return undefined;
}
