import { inspect, parseArgs } from 'node:util';
import { renderJobWorkflowAsl } from '../../workflows/render-asl.js';
import type { MockProviderOptions } from '../mock-provider/options.js';
import {
  DEFAULT_TIME_SCALE,
  LocalRuntime,
  RealProviderTimeScaleError,
  type LocalRuntimeOptions,
} from '../local-stack.js';
import { apiClientFor, parseApiUrl, type ApiAuthFlags } from './api-client.js';
import { errorLine, isAddressInUse, PortInUseError } from './error-line.js';
import { EXIT, UsageError } from './exit-codes.js';
import { toMermaid } from './graph.js';
import { runJob } from './run.js';
import { DataDirLockedError } from '../data-dir/lock.js';
import { listLocalJobs } from './jobs.js';
import { resumeLocally } from './run-local.js';

export const DEFAULT_API_PORT = 3000;
export const DEFAULT_MODEL = 'gpt-4.1-mini';

const USAGE = `Usage: llm-batch <command> [options]

Commands:
  run <items.jsonl>    run a job on the local runtime (or on an API with --api <url>)
  serve                run the local stack (HTTP API, Step Functions API) until Ctrl-C
  status <jobId>       show a job (from a running serve, or --api <url>)
  cancel <jobId>       cancel a job (from a running serve, or --api <url>)
  redrive <jobId>      continue a FAILED job's execution where it stopped (serve, or --api <url>)
  retry <jobId>        run the FAILED items of an ended job as a new job (serve, or --api <url>);
                       --model, --mode, --batch-size, --max-concurrency, --params replace its options
  asl                  print the state machine definition (plain ASL)
  graph                print a Mermaid diagram of the state machine
  resume <jobId>       go on with an unfinished job of a data dir (--data-dir required)
  jobs                 list the jobs of a data dir, newest first (--data-dir required; --json)

Options for run:
  --job-type <name>          openai-batch | prompt | classify (default: guessed from the first line)
  --model <model>            model for prompt/classify lines (default ${DEFAULT_MODEL})
  --mode <mode>              responses | batch (default responses)
  --batch-size <n>           items per child execution
  --max-concurrency <n>      child executions at once
  --max-attempts <n>         times an item is sent at most, 1 to 10 (default 10; transient failures resend it)
  --params <json>            job-type params, e.g. '{"labels":["ok","spam"]}'
  --out <file>               results file (default: <input>.results.jsonl beside the input)
  --json                     print one final JSON line and no progress
  --api <url>                run against an HTTP API instead of the local runtime
  --console                  serve the web console while the run lasts and print its URL (--port, default any)
  --new                      with --data-dir: a new job, even if one of the same input is unfinished there

Options for run and serve (local runtime):
  --time-scale <n>                  local time runs n times faster (default ${DEFAULT_TIME_SCALE}; mock provider only)
  --data-dir <dir>                  keep DynamoDB and S3 data on disk (default: temporary)
                                    (a run of the same input and options resumes its unfinished job there;
                                    one process at a time per data dir)
  --mock-latency-ms <ms>            mock provider median latency (default 800)
  --mock-transient-error-rate <r>   share of create calls answered 5xx (retried)
  --mock-permanent-error-rate <r>   share of requests answered 400 (those items fail)
  --mock-rate-limit-rpm <n>         requests per minute before 429s
  --mock-seed <n>                   same seed, same outcomes
  --mock-batch-queue-tokens <n>     input tokens a model may have enqueued in running batches (default 0: no limit)
  --mock-batch-expire-rate <r>      share of provider batches that expire half way (default 0)
  --mock-batch-duration-ms <ms>     how long a provider batch runs, in simulated ms (default 60000)
  The mock provider is used unless OPENAI_API_KEY is set (OPENAI_BASE_URL optional).

Options for serve, status and cancel:
  --port <n>                 serve's HTTP API and console port (default ${DEFAULT_API_PORT})
  --api <url>                the API for status and cancel (default http://127.0.0.1:${DEFAULT_API_PORT})

Options with --api (run, status, cancel):
  --auth <iam|jwt|none>      how calls authenticate (default: iam for https URLs, none for http)
  --token <token>            the bearer token for --auth jwt (default: LLM_BATCH_TOKEN)
  --profile <name>           AWS profile for --auth iam (default: the SDK's credential chain)
  --region <region>          AWS region for --auth iam (default: from the execute-api host name)
  Items over one request's limit (50,000, or 6 MB) are uploaded through POST /uploads first.

Any command:
  --debug                    show an error's stack trace (errors are one line otherwise)

Ctrl-C or SIGTERM during run cancels the job, writes the results and exits 3; a second one quits
at once and leaves the job as it is.

Exit codes: 0 every item succeeded; 3 finished with item failures or cancelled; 1 the job failed,
the runtime broke or a second signal quit; 2 bad input or usage.
`;

const OPTIONS = {
  'job-type': { type: 'string' },
  model: { type: 'string' },
  mode: { type: 'string' },
  'batch-size': { type: 'string' },
  'max-concurrency': { type: 'string' },
  'max-attempts': { type: 'string' },
  params: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean', default: false },
  api: { type: 'string' },
  console: { type: 'boolean', default: false },
  auth: { type: 'string' },
  token: { type: 'string' },
  profile: { type: 'string' },
  region: { type: 'string' },
  port: { type: 'string' },
  'time-scale': { type: 'string' },
  'data-dir': { type: 'string' },
  'mock-latency-ms': { type: 'string' },
  'mock-transient-error-rate': { type: 'string' },
  'mock-permanent-error-rate': { type: 'string' },
  'mock-rate-limit-rpm': { type: 'string' },
  'mock-seed': { type: 'string' },
  'mock-batch-queue-tokens': { type: 'string' },
  'mock-batch-expire-rate': { type: 'string' },
  'mock-batch-duration-ms': { type: 'string' },
  debug: { type: 'boolean', default: false },
  new: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function number(
  values: Values,
  name: keyof Values,
  check: (n: number) => boolean,
  expected: string,
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || !check(value)) {
    throw new UsageError(`--${name} must be ${expected}, got "${String(raw)}"`);
  }
  return value;
}

const rate = (n: number) => n >= 0 && n <= 1;
const positive = (n: number) => n > 0;
const positiveInteger = (n: number) => Number.isInteger(n) && n > 0;
const nonNegativeInteger = (n: number) => Number.isInteger(n) && n >= 0;

export function runtimeOptions(values: Values, env: NodeJS.ProcessEnv): LocalRuntimeOptions {
  const mock: Partial<MockProviderOptions> = {};
  const latency = number(values, 'mock-latency-ms', (n) => n >= 0, 'a number of milliseconds');
  if (latency !== undefined) mock.latencyMs = latency;
  const transient = number(values, 'mock-transient-error-rate', rate, 'a rate from 0 to 1');
  if (transient !== undefined) mock.transientErrorRate = transient;
  const permanent = number(values, 'mock-permanent-error-rate', rate, 'a rate from 0 to 1');
  if (permanent !== undefined) mock.permanentErrorRate = permanent;
  const rpm = number(values, 'mock-rate-limit-rpm', positive, 'a positive number');
  if (rpm !== undefined) mock.rateLimitRpm = rpm;
  const seed = number(values, 'mock-seed', Number.isInteger, 'an integer');
  if (seed !== undefined) mock.seed = seed;
  const queueTokens = number(values, 'mock-batch-queue-tokens', nonNegativeInteger, 'a non-negative integer');
  if (queueTokens !== undefined) mock.batchQueueTokens = queueTokens;
  const expireRate = number(values, 'mock-batch-expire-rate', rate, 'a rate from 0 to 1');
  if (expireRate !== undefined) mock.batchExpireRate = expireRate;
  const batchDuration = number(values, 'mock-batch-duration-ms', (n) => n >= 0, 'a number of milliseconds');
  if (batchDuration !== undefined) mock.batchDurationMs = batchDuration;
  const timeScale = number(values, 'time-scale', positive, 'a positive number');
  const apiKey = env.OPENAI_API_KEY?.trim();
  if (apiKey && timeScale !== undefined && timeScale !== 1) {
    throw new UsageError(
      `--time-scale ${timeScale} cannot be used with a real provider (OPENAI_API_KEY is set): its latencies, rate limits and ` +
        'batch windows pass in wall time, so local time must too (time scale 1). Drop --time-scale, or unset OPENAI_API_KEY to use the mock provider.',
    );
  }
  return {
    ...(timeScale !== undefined ? { timeScale } : {}),
    ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
    mock,
    ...(apiKey ? { openai: { apiKey, ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}) } } : {}),
  };
}

function jobOptions(values: Values): { jobType?: string; options: Record<string, unknown> } {
  const options: Record<string, unknown> = {};
  if (values.mode) options.mode = values.mode;
  const batchSize = number(values, 'batch-size', positiveInteger, 'a positive integer');
  if (batchSize !== undefined) options.batchSize = batchSize;
  const maxConcurrency = number(values, 'max-concurrency', positiveInteger, 'a positive integer');
  if (maxConcurrency !== undefined) options.maxConcurrency = maxConcurrency;
  const maxAttempts = number(values, 'max-attempts', positiveInteger, 'a positive integer');
  if (maxAttempts !== undefined) options.maxAttempts = maxAttempts;
  if (values.params) {
    try {
      options.params = JSON.parse(values.params) as unknown;
    } catch (error) {
      throw new UsageError(`--params must be a JSON object: ${(error as Error).message}`);
    }
  }
  options.model = values.model ?? DEFAULT_MODEL;
  return { ...(values['job-type'] ? { jobType: values['job-type'] } : {}), options };
}

/** `run --console`: the runtime serves the HTTP API, and with it the console, on --port or any free port. */
function consoleOptions(values: Values): Pick<LocalRuntimeOptions, 'apiPort'> {
  if (!values.console) return {};
  if (values.api !== undefined)
    throw new UsageError('--console serves the local runtime; with --api, open the console of that `llm-batch serve`');
  return { apiPort: number(values, 'port', (n) => Number.isInteger(n) && n >= 0 && n < 65536, 'a port number') ?? 0 };
}

/** --auth, --token (or LLM_BATCH_TOKEN, kept out of the process list), --profile, --region. */
function apiAuthFlags(values: Values, env: NodeJS.ProcessEnv): ApiAuthFlags {
  const token = values.token ?? (values.auth === 'jwt' ? env.LLM_BATCH_TOKEN : undefined);
  return {
    ...(values.auth !== undefined ? { auth: values.auth } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(values.profile !== undefined ? { profile: values.profile } : {}),
    ...(values.region !== undefined ? { region: values.region } : {}),
  };
}

async function serve(values: Values): Promise<number> {
  const port =
    number(values, 'port', (n) => Number.isInteger(n) && n >= 0 && n < 65536, 'a port number') ?? DEFAULT_API_PORT;
  const runtime = await LocalRuntime.start({
    ...runtimeOptions(values, process.env),
    apiPort: port,
    stepFunctionsPort: 0,
  }).catch((error: unknown) => {
    throw isAddressInUse(error) ? new PortInUseError(port, error) : error;
  });
  process.stdout.write(
    [
      'llm-batch local stack is running (Ctrl-C to stop):',
      `  console              ${runtime.apiUrl}/`,
      `  HTTP API             ${runtime.apiUrl}   (POST /jobs, GET /jobs/{id}, ...)`,
      `  Step Functions API   ${runtime.stepFunctionsUrl}`,
      `  DynamoDB             ${runtime.config.dynamoEndpoint ?? 'embedded (SQLite, in process)'}   table ${runtime.config.tableName}`,
      `  S3                   ${runtime.config.s3Endpoint}   bucket ${runtime.config.bucketName}`,
      `  provider             ${runtime.usesMockProvider ? `mock at ${runtime.config.openai.baseURL}` : (runtime.config.openai.baseURL ?? 'OpenAI')}`,
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await runtime.stop();
  return EXIT.ok;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  try {
    switch (command) {
      case 'run': {
        const file = rest[0];
        if (!file || rest.length > 1) throw new UsageError('run takes one input file: llm-batch run <items.jsonl>');
        return await runJob({
          file,
          request: jobOptions(values),
          json: values.json,
          ...(values.out ? { out: values.out } : {}),
          ...(values.api !== undefined ? { api: parseApiUrl(values.api) } : {}),
          runtime: { ...runtimeOptions(values, process.env), ...consoleOptions(values) },
          fresh: values.new,
          apiAuth: apiAuthFlags(values, process.env),
        });
      }
      case 'resume': {
        const jobId = rest[0];
        if (!jobId || rest.length > 1)
          throw new UsageError('resume takes a job id: llm-batch resume <jobId> --data-dir <dir>');
        const runtime = runtimeOptions(values, process.env);
        if (!runtime.dataDir) throw new UsageError('resume needs the --data-dir the job was run with');
        return await resumeLocally(
          { jobId, json: values.json, runtime, ...(values.out ? { out: values.out } : {}) },
          runtime.dataDir,
        );
      }
      case 'jobs': {
        const runtime = runtimeOptions(values, process.env);
        if (!runtime.dataDir) throw new UsageError('jobs needs a --data-dir: llm-batch jobs --data-dir <dir>');
        return await listLocalJobs({ ...runtime, dataDir: runtime.dataDir }, values.json);
      }
      case 'serve':
        return await serve(values);
      case 'status':
      case 'cancel': {
        const jobId = rest[0];
        if (!jobId) throw new UsageError(`${command} takes a job id: llm-batch ${command} <jobId>`);
        const api = parseApiUrl(values.api ?? `http://127.0.0.1:${DEFAULT_API_PORT}`);
        const client = apiClientFor(api, apiAuthFlags(values, process.env));
        const job = command === 'status' ? await client.getJob(jobId) : await client.cancelJob(jobId);
        process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
        return EXIT.ok;
      }
      case 'redrive':
      case 'retry': {
        const jobId = rest[0];
        if (!jobId || rest.length > 1) throw new UsageError(`${command} takes a job id: llm-batch ${command} <jobId>`);
        const api = parseApiUrl(values.api ?? `http://127.0.0.1:${DEFAULT_API_PORT}`);
        const { options } = jobOptions(values);
        // Only the options given on the command line replace the original job's.
        if (values.model === undefined) delete options.model;
        const client = apiClientFor(api, apiAuthFlags(values, process.env));
        const job =
          command === 'redrive'
            ? await client.redriveJob(jobId)
            : await client.retryJob(jobId, Object.keys(options).length > 0 ? { options } : {});
        process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
        return EXIT.ok;
      }
      case 'asl':
        process.stdout.write(`${JSON.stringify(renderJobWorkflowAsl(), null, 2)}\n`);
        return EXIT.ok;
      case 'graph':
        process.stdout.write(toMermaid(renderJobWorkflowAsl() as never));
        return EXIT.ok;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (
      error instanceof UsageError ||
      error instanceof RealProviderTimeScaleError ||
      error instanceof DataDirLockedError
    ) {
      process.stderr.write(`llm-batch: ${error.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`llm-batch: ${errorLine(error)}\n`);
    // With its causes (a socket error under "fetch failed", say).
    if (values.debug) process.stderr.write(`${inspect(error)}\n`);
    return EXIT.failed;
  }
}
