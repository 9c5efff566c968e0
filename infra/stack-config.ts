/**
 * The stack's deploy-time options, read from CDK context (`-c name=value` or cdk.json) and checked
 * here, once. Nothing else in infra/ reads context.
 */
export interface StackConfig {
  /** An OpenAI-compatible endpoint for the provider-calling tasks; undefined means api.openai.com. */
  openaiBaseUrl?: string;
  /** An existing Secrets Manager secret (by name) holding the OpenAI key; undefined creates one. */
  openaiApiKeySecretName?: string;
  /** Days job records are kept after they finish (DynamoDB TTL); job files are kept 7 days longer. */
  recordTtlDays: number;
  /** DynamoDB tables the `classify` job type may write labels into (`params.apply.table`). */
  applyTableNames: string[];
  /** Other S3 buckets scheduled job templates may read their items from (`template.input.bucket`). */
  inputBucketNames: string[];
  /** How callers of the HTTP API authenticate: IAM (SigV4) unless a JWT issuer and audience are given. */
  apiAuth: ApiAuth;
  /** Browser origins allowed to call the HTTP API (CORS); empty means no CORS configuration. */
  corsAllowedOrigins: string[];
  /** Steady-state requests per second and burst for the API's default stage. */
  apiThrottle: { rateLimit: number; burstLimit: number };
  /** An email address subscribed to the alarm topic; undefined means no subscription. */
  alarmEmail?: string;
}

/** IAM authorization (SigV4-signed requests) or a JWT authorizer for an OpenID Connect / OAuth 2 issuer. */
export type ApiAuth = { kind: 'iam' } | { kind: 'jwt'; issuer: string; audience: string[] };

/** The context keys this app reads, with what each one takes. */
export const CONTEXT_KEYS = {
  openaiBaseUrl: 'an http(s) URL, e.g. -c openaiBaseUrl=https://api.openai.com/v1',
  openaiApiKeySecretName:
    'the name (not the ARN) of a Secrets Manager secret, e.g. -c openaiApiKeySecretName=prod/openai-key',
  recordTtlDays: 'a whole number of days from 1 to 3650, e.g. -c recordTtlDays=7',
  applyTableNames: 'a comma-separated list of DynamoDB table names, e.g. -c applyTableNames=Comments,Posts',
  inputBucketNames: 'a comma-separated list of S3 bucket names, e.g. -c inputBucketNames=my-inputs',
  jwtIssuer:
    'the https URL of the token issuer, together with jwtAudience, e.g. -c jwtIssuer=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123',
  jwtAudience:
    'a comma-separated list of accepted audiences (client ids), together with jwtIssuer, e.g. -c jwtAudience=7example23client',
  corsAllowedOrigins:
    'a comma-separated list of exact browser origins, e.g. -c corsAllowedOrigins=https://app.example.com',
  apiThrottleRateLimit: 'a whole number of requests per second from 1 to 10000, e.g. -c apiThrottleRateLimit=50',
  apiThrottleBurstLimit: 'a whole number of requests from 1 to 5000, e.g. -c apiThrottleBurstLimit=100',
  alarmEmail: 'an email address, e.g. -c alarmEmail=oncall@example.com',
  schedules:
    'a list of scheduled jobs, in cdk.json context or as JSON text (or put them in llm-batch.config.json; see schedule-config.ts)',
} as const;

export const DEFAULT_RECORD_TTL_DAYS = 7;
/** The API is a control plane (create, list, read jobs): a small default budget, raised by context. */
export const DEFAULT_API_THROTTLE = { rateLimit: 50, burstLimit: 100 } as const;

/** A context value the app cannot use; the message says which key and what it takes. */
export class StackConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackConfigError';
  }
}

type ContextKey = keyof typeof CONTEXT_KEYS;

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const AUDIENCE = /^[\x21-\x7e]{1,256}$/;
const EMAIL = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;

function invalid(key: ContextKey, raw: unknown, why: string): StackConfigError {
  return new StackConfigError(`context ${key} ${why} (got ${JSON.stringify(raw)}); pass ${CONTEXT_KEYS[key]}`);
}

/** A string option; an empty string counts as unset, so `-c key=` clears a cdk.json value. */
function optionalString(context: Record<string, unknown>, key: ContextKey): string | undefined {
  const raw = context[key];
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string') throw invalid(key, raw, 'must be a string');
  const value = raw.trim();
  return value ? value : undefined;
}

function stringList(context: Record<string, unknown>, key: ContextKey, pattern: RegExp, what: string): string[] {
  const raw = context[key];
  if (raw === undefined || raw === null) return [];
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (!items || items.some((item) => typeof item !== 'string')) throw invalid(key, raw, 'must be a list of names');
  const names = (items as string[]).map((item) => item.trim()).filter(Boolean);
  const bad = names.find((name) => !pattern.test(name));
  if (bad !== undefined) throw invalid(key, raw, `has "${bad}", which is not a valid ${what}`);
  return [...new Set(names)];
}

/** A whole number from context: `-c key=50` arrives as a string, a cdk.json value as a number. */
function wholeNumber(
  context: Record<string, unknown>,
  key: ContextKey,
  min: number,
  max: number,
  fallback: number,
  what: string,
): number {
  const raw = context[key];
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < min || value > max)
    throw invalid(key, raw, `must be a whole number of ${what} from ${min} to ${max}`);
  return value;
}

function readApiAuth(context: Record<string, unknown>): ApiAuth {
  const issuer = optionalString(context, 'jwtIssuer');
  const audience = stringList(context, 'jwtAudience', AUDIENCE, 'audience (1 to 256 printable characters, no spaces)');
  if (issuer === undefined && audience.length === 0) return { kind: 'iam' };
  if (issuer === undefined) {
    throw new StackConfigError(
      `context jwtAudience is set but jwtIssuer is not; a JWT authorizer needs both (pass ${CONTEXT_KEYS.jwtIssuer}), or drop jwtAudience to keep IAM authorization`,
    );
  }
  if (audience.length === 0) {
    throw new StackConfigError(
      `context jwtIssuer is set but jwtAudience is not; a JWT authorizer needs both (pass ${CONTEXT_KEYS.jwtAudience}), or drop jwtIssuer to keep IAM authorization`,
    );
  }
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw invalid('jwtIssuer', issuer, 'is not a URL');
  }
  // API Gateway fetches the issuer's OpenID configuration and keys over TLS only.
  if (url.protocol !== 'https:')
    throw invalid('jwtIssuer', issuer, "must be an https URL (API Gateway fetches the issuer's keys over TLS)");
  return { kind: 'jwt', issuer, audience };
}

function readCorsOrigins(context: Record<string, unknown>): string[] {
  const raw = context.corsAllowedOrigins;
  if (raw === undefined || raw === null) return [];
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (!items || items.some((item) => typeof item !== 'string'))
    throw invalid('corsAllowedOrigins', raw, 'must be a list of origins');
  const origins = (items as string[]).map((item) => item.trim()).filter(Boolean);
  for (const origin of origins) {
    if (origin.includes('*')) {
      throw invalid(
        'corsAllowedOrigins',
        raw,
        'must not contain a wildcard: every route but /health is called with credentials (IAM signatures or JWT bearer tokens), ' +
          'so only web apps you trust may call it from a browser; list their exact origins instead',
      );
    }
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== origin.replace(/\/$/, '')) {
      throw invalid(
        'corsAllowedOrigins',
        raw,
        `has "${origin}", which is not an origin (scheme://host[:port], no path)`,
      );
    }
  }
  return [...new Set(origins.map((origin) => origin.replace(/\/$/, '')))];
}

/**
 * Reads and checks the options from the app's context (`app.node.getAllContext()`). Throws a
 * StackConfigError that names the key and shows a valid value; a key that differs from one of
 * ours only in case or punctuation (a typo that would be silently ignored) is an error too.
 */
export function readStackConfig(context: Record<string, unknown>): StackConfig {
  const known = Object.keys(CONTEXT_KEYS) as ContextKey[];
  const squash = (key: string) => key.toLowerCase().replace(/[^a-z0-9]/g, '');
  for (const key of Object.keys(context)) {
    const meant = known.find((k) => k !== key && squash(k) === squash(key));
    if (meant)
      throw new StackConfigError(`unknown context key ${key}; did you mean ${meant}? (${CONTEXT_KEYS[meant]})`);
  }

  const openaiBaseUrl = optionalString(context, 'openaiBaseUrl');
  if (openaiBaseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(openaiBaseUrl);
    } catch {
      throw invalid('openaiBaseUrl', openaiBaseUrl, 'is not a URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw invalid('openaiBaseUrl', openaiBaseUrl, 'must use http or https');
    }
  }

  const openaiApiKeySecretName = optionalString(context, 'openaiApiKeySecretName');
  if (openaiApiKeySecretName !== undefined) {
    if (openaiApiKeySecretName.startsWith('arn:')) {
      throw invalid('openaiApiKeySecretName', openaiApiKeySecretName, 'is an ARN, but the secret is imported by name');
    }
    if (!SECRET_NAME.test(openaiApiKeySecretName)) {
      throw invalid(
        'openaiApiKeySecretName',
        openaiApiKeySecretName,
        'is not a valid secret name (1 to 512 of A-Z a-z 0-9 / _ + = . @ -)',
      );
    }
  }

  let recordTtlDays = DEFAULT_RECORD_TTL_DAYS;
  const rawTtl = context.recordTtlDays;
  if (rawTtl !== undefined && rawTtl !== null && rawTtl !== '') {
    // `-c recordTtlDays=7` arrives as a string, a cdk.json value as a number.
    const value =
      typeof rawTtl === 'number'
        ? rawTtl
        : typeof rawTtl === 'string' && /^\s*\d+\s*$/.test(rawTtl)
          ? Number(rawTtl)
          : NaN;
    if (!Number.isInteger(value) || value < 1 || value > 3650) {
      throw invalid('recordTtlDays', rawTtl, 'must be a whole number of days from 1 to 3650');
    }
    recordTtlDays = value;
  }

  return {
    ...(openaiBaseUrl !== undefined ? { openaiBaseUrl } : {}),
    ...(openaiApiKeySecretName !== undefined ? { openaiApiKeySecretName } : {}),
    recordTtlDays,
    applyTableNames: stringList(context, 'applyTableNames', TABLE_NAME, 'DynamoDB table name'),
    inputBucketNames: stringList(context, 'inputBucketNames', BUCKET_NAME, 'S3 bucket name'),
    apiAuth: readApiAuth(context),
    corsAllowedOrigins: readCorsOrigins(context),
    apiThrottle: {
      rateLimit: wholeNumber(
        context,
        'apiThrottleRateLimit',
        1,
        10_000,
        DEFAULT_API_THROTTLE.rateLimit,
        'requests per second',
      ),
      burstLimit: wholeNumber(context, 'apiThrottleBurstLimit', 1, 5_000, DEFAULT_API_THROTTLE.burstLimit, 'requests'),
    },
    ...alarmEmail(context),
  };
}

function alarmEmail(context: Record<string, unknown>): { alarmEmail?: string } {
  const email = optionalString(context, 'alarmEmail');
  if (email === undefined) return {};
  if (!EMAIL.test(email)) throw invalid('alarmEmail', email, 'is not an email address');
  return { alarmEmail: email };
}
