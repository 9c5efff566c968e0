import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import {
  LOCAL_BUCKET,
  LOCAL_REGION,
  LOCAL_STATE_MACHINE_ARN,
  LocalRuntime,
  type LocalRuntimeOptions,
} from '../../local/local-stack.js';
import { LOCAL_CREDENTIALS } from '../../local/services/dynamodb.js';
import { validateJob, writeJob } from '../../shared/job-intake.js';
import type { JobRecord } from '../../shared/types.js';
import type { ApiDeps } from '../../tasks/api/api-deps.js';
import { createApiHandler } from '../../tasks/api/router.js';
import { httpEvent, lambdaContext, type RequestOptions } from '../support/api.js';
import { CallRecorder } from './call-recorder.js';
import { API_PRINCIPAL, LOCAL_SECRET_ARN } from './deployed-policies.js';

export interface ApiAnswer {
  status: number;
  json: Record<string, unknown>;
}

/**
 * A local runtime whose every AWS call is recorded with the principal that made it: the tasks,
 * the state machine's own reads and writes and the execution-ended handler through the runtime's
 * `runAs`, and the HTTP API handler, which this harness runs itself as API_PRINCIPAL (with its
 * own SFNClient over the runtime's Step Functions endpoint, as the deployed API has).
 */
export class RecordedRun {
  private constructor(
    readonly runtime: LocalRuntime,
    readonly recorder: CallRecorder,
    private readonly handler: ReturnType<typeof createApiHandler>,
    private readonly apiSfn: SFNClient,
  ) {}

  static async start(recorder: CallRecorder, options: LocalRuntimeOptions = {}): Promise<RecordedRun> {
    // The SDK path (dynalite): the recorder's middleware sees each DynamoDB call as the deployed code makes it.
    const runtime = await LocalRuntime.start({
      ...options,
      store: 'dynalite',
      stepFunctionsPort: 0,
      runAs: recorder.runAs,
    });
    const { dynamo, s3, sfn } = runtime.clients;
    for (const client of [dynamo, s3, sfn]) recorder.instrument(client);
    // On AWS the provider's key comes from Secrets Manager, read when a function first needs the
    // provider (or its rate limiter, whose bucket is named after the key); locally it is passed in.
    const { provider, rateLimiter } = runtime.deps;
    const readsKey = () =>
      recorder.simulate({
        client: 'SecretsManagerClient',
        command: 'GetSecretValueCommand',
        input: { SecretId: LOCAL_SECRET_ARN },
      });
    Object.assign(runtime.deps, {
      provider: () => (readsKey(), provider()),
      rateLimiter: () => (readsKey(), rateLimiter()),
    });
    const apiSfn = new SFNClient({
      region: LOCAL_REGION,
      endpoint: runtime.stepFunctionsUrl,
      credentials: LOCAL_CREDENTIALS,
    });
    recorder.instrument(apiSfn);
    const apiDeps: ApiDeps = {
      ...runtime.deps,
      sfn: apiSfn,
      stateMachineArn: LOCAL_STATE_MACHINE_ARN,
      region: LOCAL_REGION,
    };
    return new RecordedRun(runtime, recorder, createApiHandler(apiDeps), apiSfn);
  }

  /** One request through the API's Lambda handler, as the API function's role. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiAnswer> {
    const result = await this.recorder.runAs(API_PRINCIPAL, () =>
      this.handler(httpEvent(method, path, options), lambdaContext()),
    );
    const json = String(result.headers?.['content-type'] ?? '').startsWith('application/json') && result.body;
    return { status: result.statusCode ?? 200, json: json ? (JSON.parse(json) as Record<string, unknown>) : {} };
  }

  /** POST /jobs; returns the job id (the API starts its execution). */
  async createJob(body: unknown): Promise<string> {
    const answer = await this.request('POST', '/jobs', { body });
    if (answer.status !== 202) throw new Error(`POST /jobs answered ${answer.status}: ${JSON.stringify(answer.json)}`);
    return String(answer.json.jobId);
  }

  /** Puts a JSONL file in the job bucket, as a user or an upstream system would (not recorded). */
  putObject(key: string, lines: readonly unknown[]): Promise<unknown> {
    const body = lines.map((line) => `${JSON.stringify(line)}\n`).join('');
    return this.recorder.asTest(() =>
      this.runtime.clients.s3.send(new PutObjectCommand({ Bucket: LOCAL_BUCKET, Key: key, Body: body })),
    );
  }

  /** The job's record, read by the test (not recorded). */
  job(jobId: string): Promise<JobRecord | undefined> {
    return this.recorder.asTest(() => this.runtime.deps.store.getJob(jobId));
  }

  /** The statuses of the job's items, read by the test (not recorded). */
  itemStatuses(jobId: string): Promise<string[]> {
    return this.recorder.asTest(async () => {
      const statuses: string[] = [];
      for await (const page of this.runtime.deps.store.allItems(jobId))
        statuses.push(...page.map((item) => item.status));
      return statuses;
    });
  }

  /**
   * Writes a job as the API does, deletes its manifest, and starts it. The test's writes are not
   * recorded; the execution is started outside them, so its calls are.
   */
  async writeJobWithoutManifest(
    body: { jobType: string; options: unknown },
    items: readonly unknown[],
  ): Promise<string> {
    const jobId = `no-manifest-${randomUUID()}`;
    const { deps, engine, clients } = this.runtime;
    await this.recorder.asTest(async () => {
      const validated = await validateJob(
        body,
        items.map((value, i) => ({ lineNumber: i + 1, value })),
        deps.jobTypes,
      );
      const { job } = await writeJob(
        { jobId, jobType: body.jobType, options: validated.options, source: 'api' },
        validated,
        deps,
      );
      await clients.s3.send(new DeleteObjectCommand({ Bucket: job.manifest.bucket, Key: job.manifest.key }));
    });
    const { executionArn } = engine.startExecution({ name: jobId, input: JSON.stringify({ jobId }) });
    await this.recorder.asTest(() => deps.store.setExecutionArn(jobId, executionArn));
    return jobId;
  }

  /** Waits until the job's execution has ended and the job has a terminal status; returns the status. */
  async finished(jobId: string, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    for (;;) {
      const current = await this.job(jobId);
      if (!ended && current?.executionArn) {
        await this.runtime.engine.waitForExecution(current.executionArn);
        ended = true;
        continue;
      }
      if (ended && current && !['QUEUED', 'RUNNING'].includes(current.status)) return current.status;
      if (Date.now() > deadline)
        throw new Error(`job ${jobId} did not finish in ${timeoutMs} ms (status ${current?.status})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    this.apiSfn.destroy();
    await this.runtime.stop();
  }
}
