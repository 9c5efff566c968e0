/**
 * The mock's memory across processes: an append-only JSONL journal of everything a restarted
 * provider needs to answer for the objects it made (responses, files, batches, cancels, batch
 * results, attempt counts), as a real provider outlives the process that calls it. Each entry is
 * written synchronously before the call that made it answers, so a kill after an answer never
 * loses it (the OS keeps what was written when the process dies).
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchCreateBody } from './batch-input.js';
import type { BatchResult } from './batch-timeline.js';
import type { ResponseContent } from './shapes.js';

export type JournalEntry =
  | (ResponseContent & {
      k: 'resp';
      id: string;
      at: number;
      latencyMs: number;
      fails: boolean;
      /** The item the create was counted under (StatsCounter.sent), for counting creates per item. */
      item?: string;
    })
  | { k: 'resp-cancel'; id: string; at: number }
  | { k: 'file'; id: string; at: number; filename: string; purpose: string; content: string }
  | {
      k: 'batch';
      id: string;
      at: number;
      body: BatchCreateBody;
      /** Lines that do not succeed, as [index, kind] (batch-timeline LINE_*): their fate was drawn per attempt. */
      failing: Array<[number, number]>;
    }
  | { k: 'batch-cancel'; id: string; at: number }
  | { k: 'batch-result'; id: string; result: BatchResult }
  | { k: 'attempt'; key: string; attempt: number };

/** Where the mock's state goes: a journal on disk, or nowhere (a mock without a data dir). */
export interface Journal {
  write(entry: JournalEntry): void;
  close(): void;
}

export const NO_JOURNAL: Journal = { write: () => undefined, close: () => undefined };

/** The journal file inside the mock's data dir. */
export function journalPath(dataDir: string): string {
  return join(dataDir, 'journal.jsonl');
}

/**
 * Opens the journal in `dataDir` (made if missing): the entries written by earlier processes, in
 * order, and a journal that appends to them. A line cut off by a kill mid-write is skipped.
 */
export function openJournal(dataDir: string): { entries: JournalEntry[]; journal: Journal } {
  mkdirSync(dataDir, { recursive: true });
  const path = journalPath(dataDir);
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      // the torn last line of a killed process: its call was never answered
    }
  }
  const fd = openSync(path, 'a');
  // A torn last line gets its newline, so the next entry starts a line of its own.
  if (text !== '' && !text.endsWith('\n')) writeSync(fd, '\n');
  let open = true;
  return {
    entries,
    journal: {
      write: (entry) => {
        if (open) writeSync(fd, `${JSON.stringify(entry)}\n`);
      },
      close: () => {
        if (!open) return;
        open = false;
        closeSync(fd);
      },
    },
  };
}
