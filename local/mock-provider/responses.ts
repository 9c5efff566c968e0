import type { Answer } from './answers.js';
import type { SimClock } from './clock.js';
import { badRequest, notFound } from './http-error.js';
import type { LatencyModel } from './latency.js';
import { NO_JOURNAL, type Journal, type JournalEntry } from './journal.js';
import type { IdMaker } from './outcomes.js';
import { ResponseColumns, type ResponseRow } from './response-columns.js';
import { responseObject, serverErrorBody, type ResponseContent, type ResponseStatus } from './shapes.js';

/** Share of a background response's latency it spends queued before in_progress. */
const QUEUED_SHARE = 0.2;

/** Its status at `now`, derived from its creation time and sampled latency (no timers). */
function statusAt(record: ResponseRow, now: number): ResponseStatus {
  if (record.cancelledAt !== undefined) return 'cancelled';
  const elapsed = now - record.createdAt;
  if (!record.background) return 'completed';
  if (elapsed >= record.latencyMs) return record.fails ? 'failed' : 'completed';
  return elapsed >= record.latencyMs * QUEUED_SHARE ? 'in_progress' : 'queued';
}

/** The fields a response holds from its creation on (the journal's and the answer's alike). */
function contentOf(record: ResponseRow): ResponseContent {
  return {
    background: record.background,
    store: record.store,
    model: record.model,
    text: record.text,
    inputTokens: record.inputTokens,
    outputTokens: record.outputTokens,
    ...(record.formatName !== undefined && { formatName: record.formatName }),
  };
}

/** What the journal keeps of a response. */
function journalFields(record: ResponseRow) {
  return {
    id: record.id,
    at: record.createdAt,
    latencyMs: record.latencyMs,
    ...contentOf(record),
    fails: record.fails,
  };
}

export interface CreatedResponse {
  /** The object to answer with at once (background) or after `latencyMs` (synchronous). */
  body: Record<string, unknown>;
  /** Simulated ms the response takes. */
  latencyMs: number;
}

/** Responses (POST /v1/responses, GET /v1/responses/{id}, cancel) with their lifecycle. */
export class ResponseStore {
  /** Stored responses: no request body, no timers, no object each (response-columns.ts). */
  private readonly records = new ResponseColumns();

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
    const record: ResponseRow = {
      id: this.ids.next('resp_'),
      createdAt: now,
      latencyMs: this.latency.next(),
      background: options.background,
      store: options.store,
      model,
      text: answer.text,
      inputTokens: answer.inputTokens,
      outputTokens: answer.outputTokens,
      formatName: answer.formatName,
      fails: options.background && options.fails === true,
      cancelledAt: undefined,
    };
    if (options.store) {
      this.records.add(record);
      this.journal.write({
        k: 'resp',
        ...journalFields(record),
        ...(options.item !== undefined && { item: options.item }),
      });
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
    const status = statusAt(record, now);
    if (status === 'queued' || status === 'in_progress') {
      record.cancelledAt = now;
      this.records.cancel(id, now);
      this.journal.write({ k: 'resp-cancel', id, at: now });
    } else if (status !== 'cancelled') {
      throw badRequest(`Cannot cancel a ${status} response.`, null, 'response_id');
    }
    return view(record, now);
  }

  /** Takes up a response (or its cancel) made by an earlier process. */
  restore(entry: JournalEntry & { k: 'resp' | 'resp-cancel' }): void {
    if (entry.k === 'resp-cancel') {
      this.records.cancel(entry.id, entry.at);
      return;
    }
    this.ids.restore(entry.id);
    this.records.add({
      id: entry.id,
      createdAt: entry.at,
      latencyMs: entry.latencyMs,
      background: entry.background,
      store: entry.store,
      model: entry.model,
      text: entry.text,
      inputTokens: entry.inputTokens,
      outputTokens: entry.outputTokens,
      formatName: entry.formatName,
      fails: entry.fails,
      cancelledAt: undefined,
    });
  }

  private find(id: string): ResponseRow {
    const record = this.records.get(id);
    if (!record) throw notFound(`Response with id '${id}' not found.`);
    return record;
  }
}

function view(record: ResponseRow, now: number): Record<string, unknown> {
  const status = statusAt(record, now);
  return responseObject({
    id: record.id,
    createdAt: record.createdAt,
    ...(status === 'completed' && { completedAt: record.createdAt + record.latencyMs }),
    ...(status === 'failed' && { error: serverErrorBody(500).error }),
    status,
    ...contentOf(record),
  });
}
