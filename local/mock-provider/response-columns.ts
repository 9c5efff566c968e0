/**
 * The mock's stored responses, one column per field and one row per id sequence number, so a
 * million responses cost about 120 MB (their answer texts, mostly) instead of about 400 MB as
 * one object and one map entry each. An id (`resp_` + 14 hex of a hash + 8 hex of its
 * sequence, outcomes.ts idFor) gives its row; the row keeps the hash to tell a made-up id.
 */

import type { ResponseContent } from './shapes.js';

/** One stored response's fields. */
export interface ResponseRow extends ResponseContent {
  id: string;
  createdAt: number;
  latencyMs: number;
  /** A background response that ends `failed` with server_error instead of completing. */
  fails: boolean;
  cancelledAt: number | undefined;
}

const PREFIX = 'resp_';
const ID_PATTERN = /^resp_([0-9a-f]{14})([0-9a-f]{8})$/;
const STORED = 1;
const BACKGROUND = 2;
const FAILS = 4;

export class ResponseColumns {
  private capacity = 0;
  private flags = new Uint8Array(0);
  private mix = new Float64Array(0);
  private createdAt = new Float64Array(0);
  private latencyMs = new Float64Array(0);
  private inputTokens = new Uint32Array(0);
  private outputTokens = new Uint32Array(0);
  private modelIndex = new Uint16Array(0);
  /** 0: none, else the index + 1 in `names`. */
  private formatIndex = new Uint16Array(0);
  private readonly texts = new TextArena();
  private textChunk = new Uint32Array(0);
  private textOffset = new Uint32Array(0);
  private textLength = new Uint32Array(0);
  private readonly cancelled = new Map<number, number>();
  /** Model and format names, each kept once. */
  private readonly names: string[] = [];
  private readonly nameIndex = new Map<string, number>();
  /** Responses whose id is not of the usual form (none the mock makes): kept whole. */
  private readonly others = new Map<string, ResponseRow>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(row: ResponseRow): void {
    const match = ID_PATTERN.exec(row.id);
    const sequence = match ? Number.parseInt(match[2] ?? '', 16) : -1;
    if (!match || this.names.length >= 0xfffe) {
      if (!this.others.has(row.id)) this.count++;
      this.others.set(row.id, { ...row });
      return;
    }
    this.grow(sequence + 1);
    if ((this.flags[sequence] ?? 0) === 0) this.count++;
    this.flags[sequence] = STORED | (row.background ? BACKGROUND : 0) | (row.fails ? FAILS : 0);
    this.mix[sequence] = Number.parseInt(match[1] ?? '', 16);
    this.createdAt[sequence] = row.createdAt;
    this.latencyMs[sequence] = row.latencyMs;
    this.inputTokens[sequence] = row.inputTokens;
    this.outputTokens[sequence] = row.outputTokens;
    this.modelIndex[sequence] = this.nameOf(row.model);
    this.formatIndex[sequence] = row.formatName === undefined ? 0 : this.nameOf(row.formatName) + 1;
    const where = this.texts.add(row.text);
    this.textChunk[sequence] = where.chunk;
    this.textOffset[sequence] = where.offset;
    this.textLength[sequence] = where.length;
    if (row.cancelledAt === undefined) this.cancelled.delete(sequence);
    else this.cancelled.set(sequence, row.cancelledAt);
  }

  get(id: string): ResponseRow | undefined {
    const other = this.others.get(id);
    if (other) return { ...other };
    const sequence = this.rowOf(id);
    if (sequence === undefined) return undefined;
    const formatIndex = this.formatIndex[sequence] ?? 0;
    const flags = this.flags[sequence] ?? 0;
    return {
      id,
      createdAt: this.createdAt[sequence] ?? 0,
      latencyMs: this.latencyMs[sequence] ?? 0,
      background: (flags & BACKGROUND) !== 0,
      store: true,
      model: this.names[this.modelIndex[sequence] ?? 0] ?? '',
      text: this.textOf(sequence),
      inputTokens: this.inputTokens[sequence] ?? 0,
      outputTokens: this.outputTokens[sequence] ?? 0,
      formatName: formatIndex === 0 ? undefined : this.names[formatIndex - 1],
      fails: (flags & FAILS) !== 0,
      cancelledAt: this.cancelled.get(sequence),
    };
  }

  cancel(id: string, at: number): void {
    const other = this.others.get(id);
    if (other) {
      other.cancelledAt = at;
      return;
    }
    const sequence = this.rowOf(id);
    if (sequence !== undefined) this.cancelled.set(sequence, at);
  }

  private textOf(sequence: number): string {
    const length = this.textLength[sequence] ?? 0;
    return this.texts.read(this.textChunk[sequence] ?? 0, this.textOffset[sequence] ?? 0, length);
  }

  private rowOf(id: string): number | undefined {
    if (!id.startsWith(PREFIX)) return undefined;
    const match = ID_PATTERN.exec(id);
    if (!match) return undefined;
    const sequence = Number.parseInt(match[2] ?? '', 16);
    if (sequence >= this.capacity || ((this.flags[sequence] ?? 0) & STORED) === 0) return undefined;
    return this.mix[sequence] === Number.parseInt(match[1] ?? '', 16) ? sequence : undefined;
  }

  private nameOf(name: string): number {
    let index = this.nameIndex.get(name);
    if (index === undefined) {
      index = this.names.length;
      this.names.push(name);
      this.nameIndex.set(name, index);
    }
    return index;
  }

  private grow(rows: number): void {
    if (rows <= this.capacity) return;
    const capacity = Math.max(1024, this.capacity * 2, rows);
    this.flags = extend(this.flags, new Uint8Array(capacity));
    this.mix = extend(this.mix, new Float64Array(capacity));
    this.createdAt = extend(this.createdAt, new Float64Array(capacity));
    this.latencyMs = extend(this.latencyMs, new Float64Array(capacity));
    this.inputTokens = extend(this.inputTokens, new Uint32Array(capacity));
    this.outputTokens = extend(this.outputTokens, new Uint32Array(capacity));
    this.modelIndex = extend(this.modelIndex, new Uint16Array(capacity));
    this.formatIndex = extend(this.formatIndex, new Uint16Array(capacity));
    this.textChunk = extend(this.textChunk, new Uint32Array(capacity));
    this.textOffset = extend(this.textOffset, new Uint32Array(capacity));
    this.textLength = extend(this.textLength, new Uint32Array(capacity));
    this.capacity = capacity;
  }
}

function extend<T extends { set(source: ArrayLike<number>): void }>(old: ArrayLike<number>, next: T): T {
  next.set(old);
  return next;
}

const ARENA_CHUNK_BYTES = 1 << 20;

/**
 * Answer texts as UTF-8 in 1 MiB chunks: a string each cost about 110 bytes on the heap (header,
 * characters and the concatenation that built it) for a 56-character answer, and the GC walked
 * every one. A replaced text's old bytes are left in place (rows are replaced only by a replay).
 */
class TextArena {
  private readonly chunks: Buffer[] = [];
  private used = ARENA_CHUNK_BYTES;

  add(text: string): { chunk: number; offset: number; length: number } {
    const length = Buffer.byteLength(text);
    if (length === 0) return { chunk: 0, offset: 0, length: 0 };
    if (this.used + length > ARENA_CHUNK_BYTES || this.chunks.length === 0) {
      // A text longer than a chunk gets one of its own size.
      this.chunks.push(Buffer.allocUnsafeSlow(Math.max(ARENA_CHUNK_BYTES, length)));
      this.used = 0;
    }
    const chunk = this.chunks.length - 1;
    const offset = this.used;
    this.chunks[chunk]?.write(text, offset, 'utf8');
    this.used += length;
    return { chunk, offset, length };
  }

  read(chunk: number, offset: number, length: number): string {
    if (length === 0) return '';
    return this.chunks[chunk]?.toString('utf8', offset, offset + length) ?? '';
  }
}
