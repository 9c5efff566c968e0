/** Counters for benchmarks and tests. */
export interface MockProviderStats {
  /** Calls by route, e.g. "POST /v1/responses", "GET /v1/batches/{id}". */
  calls: Record<string, number>;
  /** 429 answers (rate limited). */
  rateLimited: number;
  /** 5xx answers (transientErrorRate). */
  serverErrors: number;
  /** 400 answers (permanentErrorRate and malformed calls). */
  badRequests: number;
  /** Responses created (background or not). */
  responsesCreated: number;
  /** Chat completions answered. */
  chatCompletionsCreated: number;
  /** Batches created. */
  batchesCreated: number;
  /** Files uploaded. */
  filesUploaded: number;
}

export class StatsCounter {
  private readonly calls = new Map<string, number>();
  rateLimited = 0;
  serverErrors = 0;
  badRequests = 0;
  responsesCreated = 0;
  chatCompletionsCreated = 0;
  batchesCreated = 0;
  filesUploaded = 0;

  call(route: string): void {
    this.calls.set(route, (this.calls.get(route) ?? 0) + 1);
  }

  answered(status: number): void {
    if (status === 429) this.rateLimited += 1;
    else if (status >= 500) this.serverErrors += 1;
    else if (status === 400) this.badRequests += 1;
  }

  snapshot(): MockProviderStats {
    return {
      calls: Object.fromEntries(this.calls),
      rateLimited: this.rateLimited,
      serverErrors: this.serverErrors,
      badRequests: this.badRequests,
      responsesCreated: this.responsesCreated,
      chatCompletionsCreated: this.chatCompletionsCreated,
      batchesCreated: this.batchesCreated,
      filesUploaded: this.filesUploaded,
    };
  }
}
