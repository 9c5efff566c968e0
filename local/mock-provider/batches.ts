import { answerFor, inputTokensOf } from './answers.js';
import { BatchQueue } from './batch-queue.js';
import { checkCreateBody, parseInput, type BatchCreateBody, type ParsedLine } from './batch-input.js';
import {
  FINALIZING_AT,
  LINE_500,
  LINE_503,
  LINE_OK,
  LINE_PERMANENT,
  LINE_STATUS,
  VALIDATED_AT,
  countsAt,
  cutoffAt,
  isTerminal,
  statusAt,
  timeline,
  type BatchRecord,
  type BatchResult,
  type BatchStatus,
  type LinePlan,
} from './batch-timeline.js';
import { unixSeconds, type SimClock } from './clock.js';
import type { FileStore } from './files.js';
import { badRequest, conflict, notFound } from './http-error.js';
import { NO_JOURNAL, type Journal, type JournalEntry } from './journal.js';
import { contentKey, hash53, idFor, mulberry32, shuffle, type IdMaker, type Outcomes } from './outcomes.js';
import { chatCompletionObject, permanentErrorBody, responseObject, serverErrorBody } from './shapes.js';

const MAX_LISTED_ERRORS = 20;
const LIST_LIMIT_DEFAULT = 20;
const LIST_LIMIT_MAX = 100;
const WINDOW_24H_MS = 24 * 60 * 60 * 1000;

export interface BatchStoreOptions {
  seed: number;
  batchDurationMs: number;
  batchExpireRate: number;
  batchQueueTokens: number;
}

/**
 * Batches (POST/GET /v1/batches, GET /v1/batches/{id}, cancel). Status and request_counts are
 * derived from the clock when a batch is read; the output and error files are written once, the
 * first time the batch is seen in a terminal state.
 */
export class BatchStore {
  /** In creation order; listing walks it backwards (newest first). */
  private readonly batches: BatchRecord[] = [];
  private readonly byId = new Map<string, number>();
  private readonly queue: BatchQueue;

  constructor(
    private readonly clock: SimClock,
    private readonly ids: IdMaker,
    private readonly files: FileStore,
    private readonly outcomes: Outcomes,
    private readonly options: BatchStoreOptions,
    private readonly journal: Journal = NO_JOURNAL,
  ) {
    this.queue = new BatchQueue(options.batchQueueTokens);
  }

  /**
   * Checks the call (400s answer at once) and plans every line (bad lines, or a full batch queue,
   * fail the batch after validating). `sent` hears the custom_id of every line the batch holds.
   */
  create(body: BatchCreateBody, sent: (customId: string) => void = () => undefined): Record<string, unknown> {
    const checked = checkCreateBody(body);
    const file = this.files.get(checked.inputFileId);
    if (file.purpose !== 'batch') {
      throw badRequest(
        `Invalid 'input_file_id': file ${checked.inputFileId} has purpose '${file.purpose}', expected 'batch'.`,
        'invalid_value',
        'input_file_id',
      );
    }
    const now = this.clock.now();
    const record = this.build(checked, this.ids.next('batch_'), now, file.content, sent, (key) => this.drawKind(key));
    this.journal.write({ k: 'batch', id: record.id, at: now, body, failing: failingLines(record.plan) });
    return this.view(record, now);
  }

  /** Takes up a batch, its cancel or its result from an earlier process (files are restored first). */
  restore(entry: JournalEntry & { k: 'batch' | 'batch-cancel' | 'batch-result' }): void {
    if (entry.k === 'batch') {
      this.ids.restore(entry.id);
      const checked = checkCreateBody(entry.body);
      const failing = new Map(entry.failing);
      const content = this.files.get(checked.inputFileId).content;
      this.build(
        checked,
        entry.id,
        entry.at,
        content,
        () => undefined,
        (_key, index) => failing.get(index) ?? LINE_OK,
      );
      return;
    }
    const record = this.find(entry.id);
    if (entry.k === 'batch-cancel') record.cancelledAt = entry.at;
    else {
      record.result = entry.result;
      delete record.plan;
    }
  }

  /** A batch's record from a checked create call, planned line by line, and stored. */
  private build(
    checked: ReturnType<typeof checkCreateBody>,
    id: string,
    now: number,
    content: string,
    sent: (customId: string) => void,
    kindOf: (key: string, index: number) => number,
  ): BatchRecord {
    const { inputFileId, endpoint, completionWindow, metadata } = checked;
    const record: BatchRecord = {
      id,
      createdAt: now,
      durationMs: this.options.batchDurationMs,
      endpoint,
      inputFileId,
      completionWindow,
      metadata,
      model: null,
      total: 0,
      expires:
        this.options.batchExpireRate > 0 && this.outcomes.draw('batch-expires', id) < this.options.batchExpireRate,
    };
    const parsed = parseInput(content, endpoint);
    for (const line of parsed.lines) sent(line.customId);
    record.model = parsed.lines.map((line) => line.body.model).find((model) => typeof model === 'string') ?? null;
    const tokens = parsed.lines.reduce((sum, line) => sum + inputTokensOf(line.body, endpoint), 0);
    const refused = parsed.errors.length === 0 ? this.queue.admit(record, tokens, now) : undefined;
    if (parsed.errors.length > 0) {
      record.validationErrors = parsed.errors.slice(0, MAX_LISTED_ERRORS);
    } else if (refused) {
      record.validationErrors = [refused];
    } else {
      record.total = parsed.lines.length;
      record.plan = this.plan(record, parsed.lines, kindOf);
    }
    this.byId.set(record.id, this.batches.length);
    this.batches.push(record);
    return record;
  }

  /** How a line sent now ends: its permanent fate, then this attempt's transient one. */
  private drawKind(key: string): number {
    if (this.outcomes.failsPermanently(key)) return LINE_PERMANENT;
    const transient = this.outcomes.transientFailure(key);
    if (transient === undefined) return LINE_OK;
    return transient === 500 ? LINE_500 : LINE_503;
  }

  retrieve(id: string): Record<string, unknown> {
    return this.view(this.find(id), this.clock.now());
  }

  /**
   * Cancels a running batch: cancelling, then cancelled, keeping the lines finished when the
   * cancel arrived. Cancelling a cancelling batch answers it again; a finished one is a 409, as
   * OpenAI answers ("Cannot cancel a batch with status 'completed'.").
   */
  cancel(id: string): Record<string, unknown> {
    const record = this.find(id);
    const now = this.clock.now();
    const status = statusAt(record, now);
    if (status === 'validating' || status === 'in_progress' || status === 'finalizing') {
      record.cancelledAt = now;
      this.journal.write({ k: 'batch-cancel', id, at: now });
    } else if (status !== 'cancelling') {
      throw conflict(`Cannot cancel a batch with status '${status}'.`);
    }
    return this.view(record, now);
  }

  /** GET /v1/batches: newest first, `limit` (1-100, default 20) after the `after` cursor. */
  list(limitParam: string | null, after: string | null): Record<string, unknown> {
    const limit = parseLimit(limitParam);
    let start = this.batches.length - 1;
    if (after !== null) {
      const index = this.byId.get(after);
      start = index === undefined ? -1 : index - 1;
    }
    const now = this.clock.now();
    const data: Record<string, unknown>[] = [];
    for (let index = start; index >= 0 && data.length < limit; index -= 1) {
      data.push(this.view(this.batches[index] as BatchRecord, now));
    }
    const lastIndex = start - data.length;
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: lastIndex >= 0,
    };
  }

  private find(id: string): BatchRecord {
    const index = this.byId.get(id);
    const record = index === undefined ? undefined : this.batches[index];
    if (!record) throw notFound(`No batch found with id '${id}'.`);
    return record;
  }

  private plan(record: BatchRecord, lines: ParsedLine[], kindOf: (key: string, index: number) => number): LinePlan {
    const start = record.createdAt + record.durationMs * VALIDATED_AT;
    const span = record.durationMs * (FINALIZING_AT - VALIDATED_AT);
    const finishAt = new Float64Array(lines.length);
    const kinds = new Uint8Array(lines.length);
    const ok: number[] = [];
    const fail: number[] = [];
    lines.forEach((line, index) => {
      const kind = kindOf(contentKey(line.body), index);
      const at = start + span * this.outcomes.draw('line-finish', record.id, index);
      finishAt[index] = at;
      kinds[index] = kind;
      (kind === LINE_OK ? ok : fail).push(at);
    });
    return {
      finishAt,
      kinds,
      okSorted: Float64Array.from(ok).sort(),
      failSorted: Float64Array.from(fail).sort(),
    };
  }

  private view(record: BatchRecord, now: number): Record<string, unknown> {
    const status = statusAt(record, now);
    if (isTerminal(status) && !record.result) {
      record.result = this.finish(record, status);
      this.journal.write({ k: 'batch-result', id: record.id, result: record.result });
    }
    const times = timeline(record);
    const reached = (at: number | undefined) => (at !== undefined && now >= at ? unixSeconds(at) : null);
    const failed = record.validationErrors !== undefined;
    const validated =
      !failed && now >= times.validated && (record.cancelledAt === undefined || record.cancelledAt >= times.validated);
    const counts = record.result ?? countsAt(record, now);
    return {
      id: record.id,
      object: 'batch',
      endpoint: record.endpoint,
      model: record.model,
      errors: failed ? { object: 'list', data: record.validationErrors } : null,
      input_file_id: record.inputFileId,
      completion_window: record.completionWindow,
      status,
      output_file_id: record.result?.outputFileId ?? null,
      error_file_id: record.result?.errorFileId ?? null,
      created_at: unixSeconds(record.createdAt),
      in_progress_at: validated ? unixSeconds(times.validated) : null,
      expires_at: unixSeconds(record.createdAt + WINDOW_24H_MS),
      finalizing_at: status === 'finalizing' || status === 'completed' ? reached(times.finalizing) : null,
      completed_at: status === 'completed' ? unixSeconds(times.done) : null,
      failed_at: status === 'failed' ? unixSeconds(times.validated) : null,
      expired_at: status === 'expired' ? unixSeconds(times.expires) : null,
      cancelling_at: record.cancelledAt !== undefined ? unixSeconds(record.cancelledAt) : null,
      cancelled_at: status === 'cancelled' && times.cancelled !== undefined ? unixSeconds(times.cancelled) : null,
      request_counts: {
        total: validated || record.result ? record.total : 0,
        completed: counts.completed,
        failed: counts.failed,
      },
      metadata: record.metadata,
    };
  }

  /** Writes the output and error files of a batch that reached a terminal status. */
  private finish(record: BatchRecord, status: BatchStatus): BatchResult {
    const plan = record.plan;
    if (!plan || status === 'failed') return { outputFileId: null, errorFileId: null, completed: 0, failed: 0 };
    const cutoff = cutoffAt(record, Number.POSITIVE_INFINITY);
    const lines = parseInput(this.files.get(record.inputFileId).content, record.endpoint).lines;
    const output: string[] = [];
    const errors: string[] = [];
    let completed = 0;
    let failed = 0;
    lines.forEach((line, index) => {
      const finishedAt = plan.finishAt[index] ?? Number.POSITIVE_INFINITY;
      const lineId = idFor(this.options.seed, 'batch_req_', `${record.id}:${index}`);
      if (finishedAt > cutoff) {
        if (status === 'expired') {
          errors.push(
            JSON.stringify({
              id: lineId,
              custom_id: line.customId,
              response: null,
              error: {
                code: 'batch_expired',
                message: 'This request could not be executed before the completion window expired.',
              },
            }),
          );
        }
        return;
      }
      const statusCode = LINE_STATUS[plan.kinds[index] ?? LINE_OK] ?? 200;
      const body =
        statusCode === 200
          ? this.lineBody(record, line, index, finishedAt)
          : statusCode === 400
            ? permanentErrorBody()
            : serverErrorBody(statusCode);
      const text = JSON.stringify({
        id: lineId,
        custom_id: line.customId,
        response: {
          status_code: statusCode,
          request_id: idFor(this.options.seed, 'req_', `${record.id}:${index}`),
          body,
        },
        error: null,
      });
      if (statusCode === 200) {
        completed += 1;
        output.push(text);
      } else {
        failed += 1;
        errors.push(text);
      }
    });
    const random = mulberry32(hash53(record.id, this.options.seed) >>> 0);
    const write = (texts: string[], suffix: string): string | null =>
      texts.length === 0
        ? null
        : this.files.add(`batch_${record.id}_${suffix}.jsonl`, 'batch_output', `${shuffle(texts, random).join('\n')}\n`)
            .id;
    const result = { outputFileId: write(output, 'output'), errorFileId: write(errors, 'error'), completed, failed };
    delete record.plan;
    return result;
  }

  private lineBody(record: BatchRecord, line: ParsedLine, index: number, finishedAt: number): Record<string, unknown> {
    const key = contentKey(line.body);
    const answer = answerFor(line.body, record.endpoint, (count) => this.outcomes.pick(key, count));
    const model = typeof line.body.model === 'string' ? line.body.model : 'unknown';
    const started = record.createdAt + record.durationMs * VALIDATED_AT;
    if (record.endpoint === '/v1/responses') {
      return responseObject({
        id: idFor(this.options.seed, 'resp_', `${record.id}:${index}`),
        createdAt: started,
        completedAt: finishedAt,
        status: 'completed',
        background: false,
        store: true,
        model,
        text: answer.text,
        inputTokens: answer.inputTokens,
        outputTokens: answer.outputTokens,
        ...(answer.formatName !== undefined && { formatName: answer.formatName }),
      });
    }
    return chatCompletionObject({
      id: idFor(this.options.seed, 'chatcmpl-', `${record.id}:${index}`),
      createdAt: finishedAt,
      model,
      text: answer.text,
      promptTokens: answer.inputTokens,
      completionTokens: answer.outputTokens,
    });
  }
}

/** The lines of a plan that do not succeed, as [index, kind]. */
function failingLines(plan: LinePlan | undefined): Array<[number, number]> {
  const failing: Array<[number, number]> = [];
  plan?.kinds.forEach((kind, index) => {
    if (kind !== LINE_OK) failing.push([index, kind]);
  });
  return failing;
}

function parseLimit(value: string | null): number {
  if (value === null || value === '') return LIST_LIMIT_DEFAULT;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) {
    throw badRequest(`Invalid 'limit': expected an integer from 1 to ${LIST_LIMIT_MAX}.`, 'invalid_value', 'limit');
  }
  return limit;
}
