import { Token } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { scheduleProblems } from './job-schedules.js';
import type { JobSchedule } from './schedules.js';
import type { ApiAuth } from './stack-config.js';

/** What an LlmBatch construct is built with. Every prop is optional: `new LlmBatch(this, 'LlmBatch')` works. */
export interface LlmBatchProps {
  /**
   * An OpenAI-compatible endpoint the provider-calling tasks use, e.g. an Azure OpenAI or a proxy URL.
   * @default the OpenAI SDK's own (https://api.openai.com/v1)
   */
  readonly openaiBaseUrl?: string;
  /**
   * An existing Secrets Manager secret holding the OpenAI API key (its whole value is the key).
   * Only the tasks that call the provider may read it.
   * @default a new secret named `llm-batch/openai-api-key` with a random placeholder; put your key in it after deploy
   */
  readonly openAiKeySecret?: ISecret;
  /**
   * Days job records are kept after they finish (DynamoDB TTL); job files are kept 7 days longer. 1 to 3650.
   * @default 7
   */
  readonly recordTtlDays?: number;
  /**
   * DynamoDB tables the `classify` job type may write labels into (`params.apply.table`); it is
   * granted dynamodb:UpdateItem on them, nothing else.
   * @default none
   */
  readonly applyTables?: readonly ITable[];
  /**
   * Buckets other than the job bucket that scheduled job templates may read their items from
   * (`template.input.bucket`); Prepare job is granted reading them.
   * @default none
   */
  readonly inputBuckets?: readonly IBucket[];
  /**
   * How callers of the HTTP API authenticate: IAM (SigV4), or a JWT authorizer for an OpenID
   * Connect / OAuth 2 issuer (https) and its audiences. `GET /health` is always public.
   * @default { kind: 'iam' }
   */
  readonly apiAuth?: ApiAuth;
  /**
   * Exact browser origins allowed to call the API (CORS), e.g. `https://app.example.com`. No wildcard.
   * @default none (no CORS configuration)
   */
  readonly corsAllowedOrigins?: readonly string[];
  /**
   * Steady requests per second (1 to 10000) and burst (1 to 5000) on the API's default stage.
   * @default { rateLimit: 50, burstLimit: 100 }
   */
  readonly apiThrottle?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * An existing SNS topic the alarms notify. It is used as it is: when it is encrypted with a
   * customer managed key, that key's policy must let cloudwatch.amazonaws.com use it.
   * @default a new topic, encrypted with its own rotating KMS key, that only this account's alarms may publish to
   */
  readonly alarmTopic?: ITopic;
  /**
   * An email address subscribed to the alarm topic LlmBatch creates (the address must confirm).
   * @default no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Jobs started on a schedule, each an EventBridge Scheduler schedule that starts the state machine.
   * @default none
   */
  readonly schedules?: readonly JobSchedule[];
}

/** The props with every default filled in, as the construct builds from them. */
export interface LlmBatchSettings {
  openaiBaseUrl?: string;
  openAiKeySecret?: ISecret;
  recordTtlDays: number;
  applyTables: readonly ITable[];
  inputBuckets: readonly IBucket[];
  apiAuth: ApiAuth;
  corsAllowedOrigins: readonly string[];
  apiThrottle: { rateLimit: number; burstLimit: number };
  alarmTopic?: ITopic;
  alarmEmail?: string;
  schedules: readonly JobSchedule[];
}

export const LLM_BATCH_DEFAULTS = {
  recordTtlDays: 7,
  apiThrottle: { rateLimit: 50, burstLimit: 100 },
} as const;

/** Props an LlmBatch cannot be built with; `problems` names each prop and what to change. */
export class LlmBatchPropsError extends Error {
  readonly problems: readonly string[];

  constructor(path: string, problems: readonly string[]) {
    super(
      `LlmBatch ${path}: ${problems.length} invalid prop${problems.length === 1 ? '' : 's'}:\n- ${problems.join('\n- ')}`,
    );
    this.name = 'LlmBatchPropsError';
    this.problems = problems;
  }
}

const EMAIL = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;

/** Checks every prop and fills in the defaults; throws one LlmBatchPropsError listing every problem. */
export function resolveLlmBatchProps(props: LlmBatchProps, path: string): LlmBatchSettings {
  const settings: LlmBatchSettings = {
    ...(props.openaiBaseUrl !== undefined ? { openaiBaseUrl: props.openaiBaseUrl } : {}),
    ...(props.openAiKeySecret ? { openAiKeySecret: props.openAiKeySecret } : {}),
    recordTtlDays: props.recordTtlDays ?? LLM_BATCH_DEFAULTS.recordTtlDays,
    applyTables: props.applyTables ?? [],
    inputBuckets: props.inputBuckets ?? [],
    apiAuth: props.apiAuth ?? { kind: 'iam' },
    corsAllowedOrigins: props.corsAllowedOrigins ?? [],
    apiThrottle: { ...LLM_BATCH_DEFAULTS.apiThrottle, ...props.apiThrottle },
    ...(props.alarmTopic ? { alarmTopic: props.alarmTopic } : {}),
    ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
    schedules: props.schedules ?? [],
  };
  const problems = [
    ...urlProblems(settings.openaiBaseUrl),
    ...wholeNumberProblems('recordTtlDays', settings.recordTtlDays, 1, 3650, 'days'),
    ...authProblems(settings.apiAuth),
    ...settings.corsAllowedOrigins.flatMap(originProblems),
    ...wholeNumberProblems('apiThrottle.rateLimit', settings.apiThrottle.rateLimit, 1, 10_000, 'requests per second'),
    ...wholeNumberProblems('apiThrottle.burstLimit', settings.apiThrottle.burstLimit, 1, 5_000, 'requests'),
    ...alarmProblems(settings),
    ...scheduleProblems(settings.schedules, {
      list: 'schedules',
      inputBucketNames: settings.inputBuckets.map((bucket) => bucket.bucketName),
      allowBucket: (bucket) => `add the bucket "${bucket}" to inputBuckets`,
    }),
  ];
  if (problems.length > 0) throw new LlmBatchPropsError(path, problems);
  return settings;
}

const literal = (value: string) => !Token.isUnresolved(value);

function urlProblems(baseUrl: string | undefined): string[] {
  if (baseUrl === undefined || !literal(baseUrl)) return [];
  const url = URL.parse(baseUrl);
  if (url && (url.protocol === 'https:' || url.protocol === 'http:')) return [];
  return [`openaiBaseUrl ${JSON.stringify(baseUrl)} must be an http(s) URL, e.g. "https://api.openai.com/v1"`];
}

function wholeNumberProblems(prop: string, value: number, min: number, max: number, unit: string): string[] {
  if (Token.isUnresolved(value) || (Number.isInteger(value) && value >= min && value <= max)) return [];
  return [`${prop} must be a whole number of ${unit} from ${min} to ${max} (got ${value})`];
}

function authProblems(auth: ApiAuth): string[] {
  if (auth.kind === 'iam') return [];
  const problems: string[] = [];
  const issuer = URL.parse(auth.issuer);
  // API Gateway fetches the issuer's OpenID configuration and keys over TLS only.
  if (literal(auth.issuer) && issuer?.protocol !== 'https:')
    problems.push(`apiAuth.issuer ${JSON.stringify(auth.issuer)} must be an https URL (API Gateway fetches its keys)`);
  if (auth.audience.length === 0)
    problems.push('apiAuth.audience must list at least one accepted audience (client id)');
  return problems;
}

function originProblems(origin: string): string[] {
  if (!literal(origin)) return [];
  if (origin.includes('*')) {
    return [
      `corsAllowedOrigins must not contain a wildcard (got "${origin}"): every route but /health is called with ` +
        'credentials, so list the exact origins of the web apps you trust',
    ];
  }
  const url = URL.parse(origin);
  if (url && (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === origin) return [];
  return [`corsAllowedOrigins has "${origin}", which is not an origin (scheme://host[:port], no path or trailing /)`];
}

function alarmProblems(settings: LlmBatchSettings): string[] {
  const email = settings.alarmEmail;
  if (email === undefined) return [];
  if (settings.alarmTopic) {
    return [
      'alarmEmail subscribes an address to the topic LlmBatch creates; with alarmTopic, subscribe the address to your topic instead',
    ];
  }
  return literal(email) && !EMAIL.test(email) ? [`alarmEmail "${email}" is not an email address`] : [];
}
