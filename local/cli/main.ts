import { inspect, parseArgs } from 'node:util';
import { renderJobWorkflowAsl } from '../../workflows/render-asl.js';
import type { MockProviderOptions } from '../mock-provider/options.js';
import {
  DEFAULT_TIME_SCALE,
  LocalRuntime,
  RealProviderTimeScaleError,
  type LocalRuntimeOptions,
} from '../local-stack.js';
import { apiCall, parseApiUrl } from './api-client.js';
import { errorLine, isAddressInUse, PortInUseError } from './error-line.js';
import { EXIT, UsageError } from './exit-codes.js';
import { toMermaid } from './graph.js';
import { runJob } from './run.js';

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

Options for run:
  --job-type <name>          openai-batch | prompt | classify (default: guessed from the first line)
  --model <model>            model for prompt/classify lines (default ${DEFAULT_MODEL})
  --mode <mode>              responses | batch (default responses)
  --batch-size <n>           items per child execution
  --max-concurrency <n>      child executions at once
  --params <json>            job-type params, e.g. '{"labels":["ok","spam"]}'
  --out <file>               results file (default: <input>.results.jsonl beside the input)
  --json                     print one final JSON line and no progress
  --api <url>                run against an HTTP API instead of the local runtime

Options for run and serve (local runtime):
  --time-scale <n>                  local time runs n times faster (default ${DEFAULT_TIME_SCALE}; mock provider only)
  --data-dir <dir>                  keep DynamoDB and S3 data on disk (default: in memory)
  --mock-latency-ms <ms>            mock provider median latency (default 800)
  --mock-transient-error-rate <r>   share of create calls answered 5xx (retried)
  --mock-permanent-error-rate <r>   share of requests answered 400 (those items fail)
  --mock-rate-limit-rpm <n>         requests per minute before 429s
  --mock-seed <n>                   same seed, same outcomes
  The mock provider is used unless OPENAI_API_KEY is set (OPENAI_BASE_URL optional).

Options for serve, status and cancel:
  --port <n>                 serve's HTTP API port (default ${DEFAULT_API_PORT})
  --api <url>                the API for status and cancel (default http://127.0.0.1:${DEFAULT_API_PORT})

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
  params: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean', default: false },
  api: { type: 'string' },
  port: { type: 'string' },
  'time-scale': { type: 'string' },
  'data-dir': { type: 'string' },
  'mock-latency-ms': { type: 'string' },
  'mock-transient-error-rate': { type: 'string' },
  'mock-permanent-error-rate': { type: 'string' },
  'mock-rate-limit-rpm': { type: 'string' },
  'mock-seed': { type: 'string' },
  debug: { type: 'boolean', default: false },
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
      `  HTTP API             ${runtime.apiUrl}   (POST /jobs, GET /jobs/{id}, ...)`,
      `  Step Functions API   ${runtime.stepFunctionsUrl}`,
      `  DynamoDB             ${runtime.config.dynamoEndpoint}   table ${runtime.config.tableName}`,
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
          runtime: runtimeOptions(values, process.env),
        });
      }
      case 'serve':
        return await serve(values);
      case 'status':
      case 'cancel': {
        const jobId = rest[0];
        if (!jobId) throw new UsageError(`${command} takes a job id: llm-batch ${command} <jobId>`);
        const api = parseApiUrl(values.api ?? `http://127.0.0.1:${DEFAULT_API_PORT}`);
        const job = await apiCall(
          command === 'status'
            ? `${api}/jobs/${encodeURIComponent(jobId)}`
            : `${api}/jobs/${encodeURIComponent(jobId)}/cancel`,
          command === 'status' ? undefined : { method: 'POST' },
        );
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
        const body = command === 'retry' && Object.keys(options).length > 0 ? JSON.stringify({ options }) : undefined;
        const job = await apiCall(`${api}/jobs/${encodeURIComponent(jobId)}/${command}`, {
          method: 'POST',
          ...(body ? { headers: { 'content-type': 'application/json' }, body } : {}),
        });
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
    if (error instanceof UsageError || error instanceof RealProviderTimeScaleError) {
      process.stderr.write(`llm-batch: ${error.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`llm-batch: ${errorLine(error)}\n`);
    // With its causes (a socket error under "fetch failed", say).
    if (values.debug) process.stderr.write(`${inspect(error)}\n`);
    return EXIT.failed;
  }
}
