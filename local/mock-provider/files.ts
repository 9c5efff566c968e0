import { unixSeconds, type SimClock } from './clock.js';
import { badRequest, notFound } from './http-error.js';
import { NO_JOURNAL, type Journal, type JournalEntry } from './journal.js';
import type { IdMaker } from './outcomes.js';

/** Purposes the mock accepts on upload (the Batch API uses `batch`). */
const UPLOAD_PURPOSES = new Set(['batch', 'assistants', 'fine-tune', 'vision', 'user_data', 'evals']);

export interface StoredFile {
  id: string;
  filename: string;
  purpose: string;
  createdAt: number;
  content: string;
  bytes: number;
}

/** Files: uploads (POST /v1/files), batch output files, metadata and content. */
export class FileStore {
  private readonly files = new Map<string, StoredFile>();

  constructor(
    private readonly clock: SimClock,
    private readonly ids: IdMaker,
    private readonly journal: Journal = NO_JOURNAL,
  ) {}

  /** An upload from the multipart form of POST /v1/files. */
  async upload(form: FormData): Promise<Record<string, unknown>> {
    const file = form.get('file');
    const purpose = form.get('purpose');
    if (typeof purpose !== 'string' || !UPLOAD_PURPOSES.has(purpose)) {
      throw badRequest(
        `Invalid value for 'purpose': expected one of ${[...UPLOAD_PURPOSES].join(', ')}.`,
        'invalid_value',
        'purpose',
      );
    }
    if (file === null || typeof file === 'string') {
      throw badRequest("Missing required parameter: 'file'.", 'missing_required_parameter', 'file');
    }
    const stored = this.add(file.name || 'upload', purpose, await file.text());
    return fileObject(stored);
  }

  /** Stores a file the mock writes itself (batch output and error files). */
  add(filename: string, purpose: string, content: string): StoredFile {
    const stored: StoredFile = {
      id: this.ids.next('file-'),
      filename,
      purpose,
      createdAt: this.clock.now(),
      content,
      bytes: Buffer.byteLength(content, 'utf8'),
    };
    this.files.set(stored.id, stored);
    this.journal.write({ k: 'file', id: stored.id, at: stored.createdAt, filename, purpose, content });
    return stored;
  }

  /** Takes up a file stored by an earlier process. */
  restore(entry: JournalEntry & { k: 'file' }): void {
    this.ids.restore(entry.id);
    const { id, at, filename, purpose, content } = entry;
    this.files.set(id, { id, filename, purpose, createdAt: at, content, bytes: Buffer.byteLength(content, 'utf8') });
  }

  get(id: string): StoredFile {
    const file = this.files.get(id);
    if (!file) throw notFound(`No such File object: ${id}`);
    return file;
  }

  retrieve(id: string): Record<string, unknown> {
    return fileObject(this.get(id));
  }
}

function fileObject(file: StoredFile): Record<string, unknown> {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: unixSeconds(file.createdAt),
    expires_at: null,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
    status_details: null,
  };
}
