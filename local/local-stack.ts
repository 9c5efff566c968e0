import { Readable } from 'node:stream';
import { Upload } from '@aws-sdk/lib-storage';
import { SFNClient } from '@aws-sdk/client-sfn';
import { createAwsClients, type AwsClients } from '../shared/clients.js';
import type { Config } from '../shared/config.js';
import type { TaskDeps, TaskLogger } from '../shared/deps.js';
import { scaledClock, type Clock } from '../shared/clock.js';
import type { JsonlLine } from '../shared/store/object-store.js';
import { createTaskDeps } from '../shared/task-wiring.js';
import type { Provider } from '../shared/provider/provider.js';
import type { ApiDeps } from '../tasks/api/api-deps.js';
import { createApiHandler } from '../tasks/api/router.js';
import { onExecutionEnded } from '../tasks/execution-ended.js';
import { workflowStateTasks } from '../tasks/handlers/task-logic.js';
import { renderJobWorkflowAsl } from '../workflows/render-asl.js';
import {
  LocalStepFunctions,
  writeMapRunResultFiles,
  type PutPieces,
  type ItemReaderRequest,
  type MapRunResults,
  type ResultWriterTarget,
} from './engine/local-step-functions.js';
import { startStepFunctionsApi } from './engine/sfn-api-server.js';
import { consoleRoutes } from './console/console-routes.js';
import { startMockProvider, type MockProvider } from './mock-provider/server.js';
import type { MockProviderOptions } from './mock-provider/options.js';
import { LOCAL_CREDENTIALS } from './services/dynamodb.js';
import { startLocalTable, type LocalStoreKind, type LocalTable } from './services/local-table.js';
import { startLocalHttpApi } from './services/http-api.js';
import { startLocalS3 } from './services/s3.js';
import { dataDirClock } from './data-dir/clock-file.js';
import { lockDataDir } from './data-dir/lock.js';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_TABLE = 'llm-batch-local';
export const LOCAL_BUCKET = 'llm-batch-local';
export const LOCAL_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:llm-batch-jobs`;
/** With the mock provider, local time runs this many times faster by default, so a demo's waits take seconds. */
export const DEFAULT_TIME_SCALE = 20;

/** A time scale other than 1 was asked for with a real provider, whose time is the wall clock's. */
export class RealProviderTimeScaleError extends Error {
  override readonly name = 'RealProviderTimeScaleError';
  constructor(readonly timeScale: number) {
    super(
      `time scale ${timeScale} with a real provider: its latencies, rate-limit windows and batch windows pass in wall time, ` +
        'so the local clock must too (time scale 1); a faster clock would poll it and retry after 429s too often',
    );
  }
}

/**
 * The local clock's speed: `timeScale` (default 20) with the mock provider, always 1 with a real
 * one (a scale other than 1 is refused).
 */
export function localTimeScale(options: Pick<LocalRuntimeOptions, 'timeScale' | 'openai'>): number {
  if (!options.openai?.apiKey) return options.timeScale ?? DEFAULT_TIME_SCALE;
  if (options.timeScale !== undefined && options.timeScale !== 1)
    throw new RealProviderTimeScaleError(options.timeScale);
  return 1;
}

export interface LocalRuntimeOptions {
  /** Keep DynamoDB and S3 data on disk here (default: a temporary folder / in memory). */
  dataDir?: string;
  /**
   * The job table's store: `embedded` (default; SQLite in process) or `dynalite` (the SDK over
   * DynamoDB's API, as deployed; test/iam records those calls). A data dir written by dynalite stays on dynalite.
   */
  store?: LocalStoreKind;
  /**
   * How many times faster than the wall clock local time runs, with the mock provider (default 20); 1 with a real
   * provider.
   */
  timeScale?: number;
  /** Knobs of the mock provider, used when no OpenAI key is given. */
  mock?: Partial<MockProviderOptions>;
  /** A real OpenAI-compatible provider: with a key the mock is not started. */
  openai?: { apiKey?: string; baseURL?: string };
  /** Start the HTTP API (port 0 = any free port). */
  apiPort?: number;
  /** Start the Step Functions API endpoint (port 0 = any free port). */
  stepFunctionsPort?: number;
  logger?: TaskLogger;
  /** Told how long each task invocation took (benchmarks use it as a proxy for Lambda duration). */
  onTask?: (stateName: string, milliseconds: number) => void;
  /**
   * Runs each piece of work as the deployed role that does it on AWS: a task (by its state name),
   * LOCAL_PRINCIPALS.executionEnded or LOCAL_PRINCIPALS.stateMachine (the Distributed Map's item
   * reads and result writes). test/iam checks the AWS calls made inside against that role's policy.
   */
  runAs?: RunAs;
  /**
   * Told of every create call a task is about to make (responses, batches, and a batch takeover's
   * look-up, as the job's providerSubmitCalls counts them), with the call's job id, before it goes out.
   */
  onSubmitCall?: (jobId: string) => void;
}

/** Runs `work` on behalf of `principal` (see LocalRuntimeOptions.runAs). */
export type RunAs = <T>(principal: string, work: () => Promise<T>) => Promise<T>;
/** The principals that are not tasks: the EventBridge rule's function and the state machine itself. */
export const LOCAL_PRINCIPALS = { executionEnded: 'Execution ended', stateMachine: 'State machine' } as const;
const runDirectly: RunAs = (_principal, work) => work();

const quietLogger: TaskLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The whole system on one machine: DynamoDB, S3, Step Functions and (unless a key is given) an
 * OpenAI-compatible provider as embedded stand-ins on 127.0.0.1, running the deployed state
 * machine definition with the same task code in process. `stop()` ends every server.
 */
export class LocalRuntime {
  private constructor(
    readonly config: Config,
    /** The stack's one clock: the engine, the mock provider, the tasks, the store and the API read and sleep on it. */
    readonly clock: Clock,
    readonly clients: AwsClients,
    readonly deps: TaskDeps,
    readonly engine: LocalStepFunctions,
    readonly mockProvider: MockProvider | undefined,
    readonly apiUrl: string | undefined,
    readonly stepFunctionsUrl: string | undefined,
    private readonly closers: (() => Promise<void>)[],
  ) {}

  get usesMockProvider(): boolean {
    return this.mockProvider !== undefined;
  }

  static async start(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
    const closers: (() => Promise<void>)[] = [];
    const stopAll = async () => {
      for (const close of closers.reverse()) await close().catch(() => undefined);
    };
    try {
      const timeScale = localTimeScale(options);
      let clock = scaledClock(timeScale);
      if (options.dataDir) {
        // One process at a time: the lock first, before anything opens the data.
        closers.push(await lockDataDir(options.dataDir));
        const kept = dataDirClock(options.dataDir, timeScale);
        clock = kept.clock;
        closers.push(() => Promise.resolve(kept.stop()));
      }
      const dynamo = await startLocalTable({
        tableName: LOCAL_TABLE,
        ...(options.dataDir ? { dataDir: options.dataDir } : {}),
        ...(options.store ? { store: options.store } : {}),
      });
      closers.push(() => dynamo.close());
      const s3 = await startLocalS3({
        bucketName: LOCAL_BUCKET,
        ...(options.dataDir ? { dataDir: `${options.dataDir}/s3` } : {}),
      });
      closers.push(() => s3.close());
      let mockProvider: MockProvider | undefined;
      if (!options.openai?.apiKey) {
        mockProvider = await startMockProvider({
          ...options.mock,
          clock,
          // Its responses and batches outlive the process, as a real provider's do, so a resume polls them.
          ...(options.dataDir ? { dataDir: `${options.dataDir}/mock-provider` } : {}),
        });
        const provider = mockProvider;
        closers.push(() => provider.close());
      }

      const config: Config = {
        region: LOCAL_REGION,
        tableName: LOCAL_TABLE,
        bucketName: LOCAL_BUCKET,
        ...(dynamo.endpoint ? { dynamoEndpoint: dynamo.endpoint } : {}),
        s3Endpoint: s3.endpoint,
        stateMachineArn: LOCAL_STATE_MACHINE_ARN,
        openai: {
          apiKey: options.openai?.apiKey ?? 'mock-key',
          ...(mockProvider
            ? { baseURL: mockProvider.url }
            : options.openai?.baseURL
              ? { baseURL: options.openai.baseURL }
              : {}),
          maxRetries: 2,
          timeoutMs: 60_000,
        },
        recordTtlDays: 7,
      };
      const clients = localClients(config, dynamo);
      closers.push(() => {
        clients.dynamo.destroy();
        clients.s3.destroy();
        clients.sfn.destroy();
        return Promise.resolve();
      });
      const logger = options.logger ?? quietLogger;
      // The tasks keep the stack's clock, as the engine and the mock do (with the mock, a one-minute
      // rate-limit window is a simulated minute), and reach the mock in process (its fetch): the
      // same answers without a socket.
      const deps = countingSubmitCalls(
        createTaskDeps(config, logger as never, clients, {
          limiterPerInvocation: true,
          clock,
          ...(mockProvider && { providerFetch: mockProvider.fetch }),
        }),
        options.onSubmitCall,
      );

      const runAs = options.runAs ?? runDirectly;
      const definition = renderJobWorkflowAsl({
        account: LOCAL_ACCOUNT,
        region: LOCAL_REGION,
        bucketName: LOCAL_BUCKET,
      });
      const engine = new LocalStepFunctions({
        definition,
        stateMachineArn: LOCAL_STATE_MACHINE_ARN,
        clock,
        tasks: timed(workflowStateTasks(deps), options.onTask, runAs),
        readItems: (reader) => readJsonItems(deps, reader, runAs),
        writeResults: (writer, run) =>
          runAs(LOCAL_PRINCIPALS.stateMachine, () => writeMapRunResults(clients, writer, run)),
      });
      // The deployed stack's EventBridge rule on execution status changes, emulated.
      engine.onExecutionEnded((execution) => {
        if (execution.status === 'SUCCEEDED') return;
        void runAs(LOCAL_PRINCIPALS.executionEnded, () =>
          onExecutionEnded(
            {
              detail: {
                executionArn: execution.executionArn,
                name: execution.name,
                status: execution.status,
                input: execution.input,
                error: execution.error ?? null,
                cause: execution.cause ?? null,
              },
            },
            deps,
          ),
        ).catch((error: unknown) => logger.error('execution-ended handler failed', { error: String(error) }));
      });

      // The HTTP API reaches Step Functions the way it does on AWS: an SFNClient over the endpoint.
      let stepFunctionsUrl: string | undefined;
      if (options.stepFunctionsPort !== undefined || options.apiPort !== undefined) {
        const sfnApi = await startStepFunctionsApi(engine, { port: options.stepFunctionsPort ?? 0 });
        closers.push(() => sfnApi.close());
        stepFunctionsUrl = sfnApi.url;
      }
      let apiUrl: string | undefined;
      if (options.apiPort !== undefined && stepFunctionsUrl) {
        const sfn = new SFNClient({ region: LOCAL_REGION, endpoint: stepFunctionsUrl, credentials: LOCAL_CREDENTIALS });
        closers.push(() => Promise.resolve(sfn.destroy()));
        const apiDeps: ApiDeps = { ...deps, sfn, stateMachineArn: LOCAL_STATE_MACHINE_ARN, region: LOCAL_REGION };
        // The console is served at the API's root URL (local only).
        const routes = await consoleRoutes({ engine, store: deps.store, definition });
        const api = await startLocalHttpApi(createApiHandler(apiDeps), { port: options.apiPort, clock, routes });
        closers.push(() => api.close());
        apiUrl = api.url;
      }
      return new LocalRuntime(config, clock, clients, deps, engine, mockProvider, apiUrl, stepFunctionsUrl, closers);
    } catch (error) {
      await stopAll();
      throw error;
    }
  }

  /** Starts the job's execution, named after the job, as the API does. */
  async startJob(jobId: string): Promise<string> {
    const { executionArn } = this.engine.startExecution({ name: jobId, input: JSON.stringify({ jobId }) });
    await this.deps.store.setExecutionArn(jobId, executionArn);
    return executionArn;
  }

  async stop(): Promise<void> {
    await this.engine.shutdown();
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    this.closers.length = 0;
  }
}

/** The deps whose provider tells `onSubmitCall` of each create call before making it. */
function countingSubmitCalls(deps: TaskDeps, onSubmitCall: LocalRuntimeOptions['onSubmitCall']): TaskDeps {
  if (!onSubmitCall) return deps;
  let counting: Promise<Provider> | undefined;
  const provider = () =>
    (counting ??= deps.provider().then((inner): Provider => ({
      pollRequest: (id, customId) => inner.pollRequest(id, customId),
      cancelRequest: (id) => inner.cancelRequest(id),
      pollBatch: (id) => inner.pollBatch(id),
      cancelBatch: (id) => inner.cancelBatch(id),
      submitRequest: (request, idempotencyKey) => {
        // The key is `<jobId>:<customId>`; job ids hold no colon.
        onSubmitCall(idempotencyKey.slice(0, idempotencyKey.indexOf(':')));
        return inner.submitRequest(request, idempotencyKey);
      },
      submitBatch: (requests, metadata) => {
        onSubmitCall(metadata.jobId);
        return inner.submitBatch(requests, metadata);
      },
      findBatch: (metadata) => {
        onSubmitCall(metadata.jobId);
        return inner.findBatch(metadata);
      },
    })));
  return { ...deps, provider };
}

/**
 * The deployed clients' configuration (shared/clients.ts), except that DynamoDB calls go to the
 * local table's own client (services/local-table.ts): the embedded store in process, or dynalite's
 * worker thread as messages. They are most of the local runtime's work (about seven per item).
 */
function localClients(config: Config, dynamo: LocalTable): AwsClients {
  const clients = createAwsClients(config, LOCAL_CREDENTIALS);
  const { translateConfig } = clients.dynamo.config;
  clients.dynamo.destroy(); // never used: it has opened nothing
  return { ...clients, dynamo: dynamo.documentClient(config.region, translateConfig) };
}

async function* readJsonItems(deps: TaskDeps, reader: ItemReaderRequest, runAs: RunAs): AsyncGenerator<unknown> {
  if (reader.inputType !== 'JSONL')
    throw new Error(`the local runtime reads JSONL items only, not ${reader.inputType}`);
  const lines: AsyncGenerator<JsonlLine, unknown> = deps.objects.readJsonl({ bucket: reader.bucket, key: reader.key });
  try {
    // Each read runs as the state machine's role (the ItemReader's), not the caller's.
    for (;;) {
      const { done, value: line } = await runAs(LOCAL_PRINCIPALS.stateMachine, () => lines.next());
      if (done) return;
      if (line.error !== undefined)
        throw new Error(`s3://${reader.bucket}/${reader.key} line ${line.lineNumber}: ${line.error}`);
      yield line.value;
    }
  } finally {
    await lines.return(undefined);
  }
}

/** Writes a map run's results to the local S3 as the Distributed Map's ResultWriter does. */
function writeMapRunResults(
  clients: AwsClients,
  writer: ResultWriterTarget,
  run: MapRunResults,
): Promise<{ Bucket: string; Key: string }> {
  // A multipart upload from the pieces: the file is never whole in memory.
  const put: PutPieces = async (key, pieces) => {
    const params = { Bucket: writer.bucket, Key: key, Body: Readable.from(pieces), ContentType: 'application/json' };
    await new Upload({ client: clients.s3, params }).done();
  };
  return writeMapRunResultFiles(writer, run, put);
}

type TaskImplementations = Record<string, (input: unknown) => Promise<unknown>>;

/** The tasks, each run as its state (`runAs`) and timed for `onTask` when it is given. */
function timed(tasks: TaskImplementations, onTask: LocalRuntimeOptions['onTask'], runAs: RunAs): TaskImplementations {
  return Object.fromEntries(
    Object.entries(tasks).map(([state, task]) => [
      state,
      async (input: unknown) => {
        const started = performance.now();
        try {
          return await runAs(state, () => task(input));
        } finally {
          onTask?.(state, performance.now() - started);
        }
      },
    ]),
  );
}
