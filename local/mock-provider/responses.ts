import type { Answer } from './answers.js';
import type { SimClock } from './clock.js';
import { badRequest, notFound } from './http-error.js';
import type { LatencyModel } from './latency.js';
import { NO_JOURNAL, type Journal, type JournalEntry } from './journal.js';
import type { IdMaker } from './outcomes.js';
import { responseObject, serverErrorBody, type ResponseStatus } from './shapes.js';

/** Share of a background response's latency it spends queued before in_progress. */
const QUEUED_SHARE = 0.2;

/**
 * One stored response, kept compact: no request body, no timers. Its status is derived when it
 * is read, from its creation time and sampled latency, so 100,000 live background responses
 * cost only their records (a few hundred bytes each).
 */
class ResponseRecord {
  cancelledAt: number | undefined = undefined;

  constructor(
    readonly id: string,
    readonly createdAt: number,
    readonly latencyMs: number,
    readonly background: boolean,
    readonly store: boolean,
    readonly model: string,
    readonly text: string,
    readonly inputTokens: number,
    readonly outputTokens: number,
    readonly formatName: string | undefined,
    /** A background response that ends `failed` with server_error instead of completing (transientErrorRate). */
    readonly fails: boolean,
  ) {}

  /** What the journal keeps of it. */
  fields() {
    return {
      id: this.id,
      at: this.createdAt,
      latencyMs: this.latencyMs,
      background: this.background,
      store: this.store,
      model: this.model,
      text: this.text,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      ...(this.formatName !== undefined && { formatName: this.formatName }),
      fails: this.fails,
    };
  }

  statusAt(now: number): ResponseStatus {
    if (this.cancelledAt !== undefined) return 'cancelled';
    const elapsed = now - this.createdAt;
    if (!this.background) return 'completed';
    if (elapsed >= this.latencyMs) return this.fails ? 'failed' : 'completed';
    return elapsed >= this.latencyMs * QUEUED_SHARE ? 'in_progress' : 'queued';
  }
}

export interface CreatedResponse {
  /** The object to answer with at once (background) or after `latencyMs` (synchronous). */
  body: Record<string, unknown>;
  /** Simulated ms the response takes. */
  latencyMs: number;
}

/** Responses (POST /v1/responses, GET /v1/responses/{id}, cancel) with their lifecycle. */
export class ResponseStore {
  private readonly records = new Map<string, ResponseRecord>();
  /** One string per model name, shared by every record. */
  private readonly models = new Map<string, string>();

  constructor(
    private readonly clock: SimClock,
    private readonly ids: IdMaker,
    private readonly latency: LatencyModel,
    private readonly journal: Journal = NO_JOURNAL,
  ) {}

  /** How many responses are stored. */
  get size(): number {
    return this.records.size;
  }

  /**
   * Creates a response for an admitted request. A background one answers `queued`; a
   * synchronous one is answered completed once its latency has passed. `store: false` keeps
   * nothing (a synchronous response only; background mode needs storage). `fails`: a background
   * response ends `failed` with server_error when its latency has passed.
   */
  create(
    model: string,
    answer: Answer,
    options: { background: boolean; store: boolean; fails?: boolean; item?: string },
  ): CreatedResponse {
    const now = this.clock.now();
    const record = new ResponseRecord(
      this.ids.next('resp_'),
      now,
      this.latency.next(),
      options.background,
      options.store,
      this.intern(model),
      answer.text,
      answer.inputTokens,
      answer.outputTokens,
      answer.formatName,
      options.background && options.fails === true,
    );
    if (options.store) {
      this.records.set(record.id, record);
      this.journal.write({ k: 'resp', ...record.fields(), ...(options.item !== undefined && { item: options.item }) });
    }
    const answeredAt = options.background ? now : now + record.latencyMs;
    return { body: view(record, answeredAt), latencyMs: record.latencyMs };
  }

  retrieve(id: string): Record<string, unknown> {
    return view(this.find(id), this.clock.now());
  }

  /**
   * Cancels a background response still queued or in progress. As OpenAI does: cancelling a
   * cancelled one answers it again (idempotent); a finished one, or one that was not created in
   * background mode, is a 400 invalid_request_error.
   */
  cancel(id: string): Record<string, unknown> {
    const record = this.find(id);
    if (!record.background) {
      throw badRequest('Only responses created with background=true can be cancelled.', null, 'response_id');
    }
    const now = this.clock.now();
    const status = record.statusAt(now);
    if (status === 'queued' || status === 'in_progress') {
      record.cancelledAt = now;
      this.journal.write({ k: 'resp-cancel', id, at: now });
    } else if (status !== 'cancelled') {
      throw badRequest(`Cannot cancel a ${status} response.`, null, 'response_id');
    }
    return view(record, now);
  }

  /** Takes up a response (or its cancel) made by an earlier process. */
  restore(entry: JournalEntry & { k: 'resp' | 'resp-cancel' }): void {
    if (entry.k === 'resp-cancel') {
      const record = this.records.get(entry.id);
      if (record) record.cancelledAt = entry.at;
      return;
    }
    this.ids.restore(entry.id);
    this.records.set(
      entry.id,
      new ResponseRecord(
        entry.id,
        entry.at,
        entry.latencyMs,
        entry.background,
        entry.store,
        this.intern(entry.model),
        entry.text,
        entry.inputTokens,
        entry.outputTokens,
        entry.formatName,
        entry.fails,
      ),
    );
  }

  private find(id: string): ResponseRecord {
    const record = this.records.get(id);
    if (!record) throw notFound(`Response with id '${id}' not found.`);
    return record;
  }

  private intern(model: string): string {
    const known = this.models.get(model);
    if (known !== undefined) return known;
    this.models.set(model, model);
    return model;
  }
}

function view(record: ResponseRecord, now: number): Record<string, unknown> {
  const status = record.statusAt(now);
  return responseObject({
    id: record.id,
    createdAt: record.createdAt,
    ...(status === 'completed' && { completedAt: record.createdAt + record.latencyMs }),
    ...(status === 'failed' && { error: serverErrorBody(500).error }),
    status,
    background: record.background,
    store: record.store,
    model: record.model,
    text: record.text,
    inputTokens: record.inputTokens,
    outputTokens: record.outputTokens,
    ...(record.formatName !== undefined && { formatName: record.formatName }),
  });
}
