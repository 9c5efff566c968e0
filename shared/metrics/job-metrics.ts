import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { JobProgress } from '../store/job-progress.js';
import type { JobOptions, JobRecord } from '../types.js';

/** The CloudWatch namespace of every metric llm-batch emits; the dashboard reads the same one. */
export const METRICS_NAMESPACE = 'LlmBatch';
/** Powertools' `service` dimension (POWERTOOLS_SERVICE_NAME on the functions). */
export const METRICS_SERVICE = 'llm-batch';

/**
 * The dimensions of the job metrics: the job type and the provider mode, never the job id (one
 * time series per job would cost a custom metric per job). Powertools adds `service`.
 */
export const JOB_METRIC_DIMENSIONS = ['service', 'jobType', 'mode'] as const;

/** The job metrics by what they count, with their CloudWatch names. */
export const JOB_METRIC = {
  itemsSubmitted: 'ItemsSubmitted',
  itemsSucceeded: 'ItemsSucceeded',
  itemsFailed: 'ItemsFailed',
  itemsCancelled: 'ItemsCancelled',
  /** Create calls to the provider, each attempt counted (batch mode: one per OpenAI Batch). */
  providerSubmitCalls: 'ProviderSubmitCalls',
  providerPollCalls: 'ProviderPollCalls',
  /** Provider answers of 429. */
  providerRateLimited: 'ProviderRateLimited',
  /** Duration of each provider API call (milliseconds): one value per call. */
  providerLatency: 'ProviderLatency',
  inputTokens: 'InputTokens',
  outputTokens: 'OutputTokens',
  /** List-price estimate of the tokens used, in US dollars. */
  estimatedCostUsd: 'EstimatedCostUsd',
  /** Items sent to the provider again after a transient failure (JobProgress.resent). */
  itemsResent: 'ItemsResent',
} as const;

export type JobMetricName = (typeof JOB_METRIC)[keyof typeof JOB_METRIC];

/** What the job metrics need of Powertools Metrics (a test may hand in its own). */
export type MetricsSink = Pick<Metrics, 'addDimensions' | 'addMetric' | 'publishStoredMetrics'>;

/** The job a task's progress belongs to, as far as its metrics dimensions go. */
export type JobLabels = Pick<JobRecord, 'jobType'> & { options: Pick<JobOptions, 'mode'> };

/**
 * Powertools stores at most 100 values of one metric, then flushes on its own and clears the
 * dimensions: the samples of one invocation stay below that (the latest are kept).
 */
export const MAX_LATENCY_SAMPLES = 99;

/**
 * The job metrics of one process: what a task invocation added to its job (its JobProgress), and
 * the provider latencies it measured, published as one EMF record per invocation with the job's
 * type and mode as dimensions. Emitting never throws into the task: metrics are not worth a retry.
 */
export class JobMetrics {
  private latencies: number[] = [];
  private next = 0;

  constructor(private readonly sink: MetricsSink) {}

  /** One provider call took this long; published with the invocation's progress. */
  providerLatency(ms: number): void {
    if (this.latencies.length < MAX_LATENCY_SAMPLES) this.latencies.push(ms);
    else this.latencies[this.next++ % MAX_LATENCY_SAMPLES] = ms;
  }

  /** Publishes the invocation's progress and latencies for the job's type and mode; nothing when both are empty. */
  emit(job: JobLabels, progress: JobProgress): void {
    const latencies = this.latencies;
    this.latencies = [];
    this.next = 0;
    const counts: [JobMetricName, number][] = [
      [JOB_METRIC.itemsSubmitted, progress.counts.submitted],
      [JOB_METRIC.itemsSucceeded, progress.counts.succeeded],
      [JOB_METRIC.itemsFailed, progress.counts.failed],
      [JOB_METRIC.itemsCancelled, progress.counts.cancelled],
      [JOB_METRIC.providerSubmitCalls, progress.calls.submit],
      [JOB_METRIC.providerPollCalls, progress.calls.poll],
      [JOB_METRIC.providerRateLimited, progress.calls.rateLimited],
      [JOB_METRIC.inputTokens, progress.usage.inputTokens],
      [JOB_METRIC.outputTokens, progress.usage.outputTokens],
      [JOB_METRIC.itemsResent, progress.resent],
    ];
    const nonZero = counts.filter(([, value]) => value !== 0);
    if (nonZero.length === 0 && progress.costUsd === 0 && latencies.length === 0) return;
    this.sink.addDimensions({ jobType: job.jobType, mode: job.options.mode });
    for (const [name, value] of nonZero) this.sink.addMetric(name, MetricUnit.Count, value);
    if (progress.costUsd !== 0) this.sink.addMetric(JOB_METRIC.estimatedCostUsd, MetricUnit.NoUnit, progress.costUsd);
    for (const ms of latencies) this.sink.addMetric(JOB_METRIC.providerLatency, MetricUnit.Milliseconds, ms);
    this.sink.publishStoredMetrics();
  }
}
