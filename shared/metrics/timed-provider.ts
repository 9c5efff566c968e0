import type { Clock } from '../clock.js';
import type { BatchMetadata, BatchProgress, Provider, RequestProgress } from '../provider/provider.js';
import type { ProviderRequest } from '../types.js';

/** Where a provider call's duration goes (JobMetrics.providerLatency). */
export type LatencyRecorder = (ms: number) => void;

/**
 * A provider that measures every call on the process's clock, failed calls included (a 429 or a
 * timeout is latency the task paid for), and hands the duration to the recorder. The wiring wraps
 * the real provider with it, so the provider modes stay unaware of metrics.
 */
export class TimedProvider implements Provider {
  constructor(
    private readonly provider: Provider,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly record: LatencyRecorder,
  ) {}

  submitRequest(request: ProviderRequest, idempotencyKey: string): Promise<RequestProgress> {
    return this.timed(() => this.provider.submitRequest(request, idempotencyKey));
  }

  pollRequest(providerId: string, customId: string): Promise<RequestProgress> {
    return this.timed(() => this.provider.pollRequest(providerId, customId));
  }

  cancelRequest(providerId: string): Promise<void> {
    return this.timed(() => this.provider.cancelRequest(providerId));
  }

  submitBatch(requests: ProviderRequest[], metadata: BatchMetadata): Promise<{ providerBatchId: string }> {
    return this.timed(() => this.provider.submitBatch(requests, metadata));
  }

  findBatch(metadata: BatchMetadata): Promise<string | undefined> {
    return this.timed(() => this.provider.findBatch(metadata));
  }

  pollBatch(providerBatchId: string): Promise<BatchProgress> {
    return this.timed(() => this.provider.pollBatch(providerBatchId));
  }

  cancelBatch(providerBatchId: string): Promise<void> {
    return this.timed(() => this.provider.cancelBatch(providerBatchId));
  }

  private async timed<T>(call: () => Promise<T>): Promise<T> {
    const started = this.clock.now().getTime();
    try {
      return await call();
    } finally {
      this.record(this.clock.now().getTime() - started);
    }
  }
}
