import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TASK_TIMEOUT_SECONDS } from '../shared/limits.js';
import type { ObjectAccess, TableAccess } from '../workflows/task-registry.js';
import { acknowledgeWildcard, nagResource } from './nag.js';

/**
 * The package root: the nearest folder above this module with a package.json. That is the
 * repository, or node_modules/llm-batch when installed (this module is then dist/infra/*.js, and
 * the task sources the functions bundle are shipped next to dist/).
 */
export const PROJECT_ROOT = packageRoot(fileURLToPath(new URL('.', import.meta.url)));

function packageRoot(folder: string): string {
  if (existsSync(join(folder, 'package.json'))) return folder;
  const parent = dirname(folder);
  if (parent === folder) throw new Error(`llm-batch: no package.json above ${fileURLToPath(import.meta.url)}`);
  return packageRoot(parent);
}

const LOCK_FILES = ['package-lock.json', 'pnpm-lock.yaml', 'yarn.lock', 'bun.lock', 'bun.lockb'];

/**
 * Where esbuild runs and the lock file that pins what the bundles contain: this repository's
 * package-lock.json, or, when llm-batch is an installed package (npm leaves lock files out of
 * packages), the lock file of the app that installed it, whose node_modules the bundles come from.
 */
export function bundlingRoot(): { projectRoot: string; depsLockFilePath: string } {
  for (let folder = PROJECT_ROOT; ; folder = dirname(folder)) {
    const lock = LOCK_FILES.map((name) => join(folder, name)).find((path) => existsSync(path));
    if (lock) return { projectRoot: folder, depsLockFilePath: lock };
    if (dirname(folder) === folder) {
      throw new Error(
        `llm-batch bundles its task code with esbuild from the installed dependencies, but found no lock file (${LOCK_FILES.join(', ')}) ` +
          `in ${PROJECT_ROOT} or above it; install your app's dependencies (npm install) first`,
      );
    }
  }
}

/** The absolute path of a file under the repository root, e.g. `projectPath('tasks/handlers/poll-batch.ts')`. */
export function projectPath(relativePath: string): string {
  return join(PROJECT_ROOT, relativePath);
}

export interface TaskFunctionProps {
  /** Absolute path of the handler file (`projectPath('tasks/handlers/<task>.ts')`); it must export `handler`. */
  entry: string;
  description?: string;
  /** @default 1024 */
  memorySize?: number;
  /** POWERTOOLS_SERVICE_NAME. @default 'llm-batch' */
  serviceName?: string;
  /**
   * Extra environment. Resource names and the key's secret are set by the use* methods together
   * with their grants, so they are refused here, and the API key itself is never accepted.
   */
  environment?: Record<string, string>;
}

export type { TableAccess };
/**
 * `none` sets BUCKET_NAME and grants nothing: the task runtime requires the name at cold start
 * (shared/config.ts) even in tasks that never touch S3.
 */
export type BucketAccess = 'none' | ObjectAccess;

/** Variables only a use* method may set, and the method that sets each. */
const BOUND_VARIABLES: Record<string, string> = {
  TABLE_NAME: 'useTable(table, access)',
  RECORD_TTL_DAYS: 'useTable(table, access, { recordTtlDays })',
  BUCKET_NAME: 'useBucket(bucket, access)',
  OPENAI_API_KEY_SECRET_ARN: 'useOpenAiKey(secret)',
  OPENAI_BASE_URL: 'useOpenAiKey(secret, { baseUrl })',
  STATE_MACHINE_ARN: 'useStateMachine(stateMachine)',
};

const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * One task's Lambda function with the project defaults: Node.js 24 on arm64, X-Ray tracing, its
 * own log group kept a month, an ESM bundle (minified, source maps, names kept because Step
 * Functions matches errors by name). Resources are bound by methods that grant and set the
 * environment together, so a function can never name a resource it may not use.
 *
 * The function has its own role that may write only to its own log group (not the
 * AWSLambdaBasicExecutionRole managed policy, which allows logging to every log group).
 */
export class TaskFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;
  private readonly bound = new Map<string, string>();

  constructor(scope: Construct, id: string, props: TaskFunctionProps) {
    super(scope, id);
    checkEntry(props.entry);
    const memorySize = props.memorySize ?? 1024;
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240) {
      throw new Error(
        `TaskFunction ${id}: memorySize must be a whole number of MB from 128 to 10240, got ${memorySize}`,
      );
    }
    for (const name of Object.keys(props.environment ?? {})) {
      if (name === 'OPENAI_API_KEY') {
        throw new Error(
          `TaskFunction ${id}: never put the OpenAI key in the environment (OPENAI_API_KEY); store it in Secrets Manager and call useOpenAiKey(secret)`,
        );
      }
      const method = BOUND_VARIABLES[name];
      if (method)
        throw new Error(
          `TaskFunction ${id}: ${name} is set by ${method}, which also grants access; do not pass it in environment`,
        );
    }

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      ...(props.description ? { description: `Runs ${props.description}` } : {}),
    });
    this.logGroup.grantWrite(this.role);
    acknowledgeWildcard(
      this,
      'Resource::*',
      'Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which X-Ray only grants on "*" ' +
        '(no resource-level permissions); it is the only statement on this role with a bare "*" resource.',
    );
    this.fn = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      ...bundlingRoot(),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize,
      timeout: Duration.seconds(TASK_TIMEOUT_SECONDS),
      tracing: Tracing.ACTIVE,
      logGroup: this.logGroup,
      role: this.role,
      ...(props.description ? { description: props.description } : {}),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? 'llm-batch',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        platform: 'node',
        mainFields: ['module', 'main'],
        // CommonJS dependencies call require(); an ESM bundle has none unless we make one.
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        // Bundle the SDK clients at the versions package-lock.json pins (lib-storage, lib-dynamodb,
        // Powertools' Secrets Manager client) instead of whatever the runtime ships.
        bundleAwsSDK: true,
      },
    });
  }

  /** Grants the table (and its indexes) and sets TABLE_NAME, and RECORD_TTL_DAYS when given. */
  useTable(table: ITable, access: TableAccess, options: { recordTtlDays?: number } = {}): this {
    this.bind('TABLE_NAME', table.tableName, 'a table');
    if (access === 'read') table.grantReadData(this.fn);
    else table.grantReadWriteData(this.fn);
    acknowledgeWildcard(
      this,
      nagResource(this, table.tableArn, '/index/*'),
      "The grant covers this one table's secondary indexes (gsi1 lists jobs by creation time); " +
        'index names are not part of the table ARN, so DynamoDB needs the index/* form.',
    );
    if (options.recordTtlDays !== undefined)
      this.bind('RECORD_TTL_DAYS', String(options.recordTtlDays), 'a record TTL');
    return this;
  }

  /**
   * Grants the bucket at `access` on the objects matching `keyPattern` (default: every object)
   * and sets BUCKET_NAME. Call again with the same bucket to add access on another prefix.
   * Writing is PutObject and multipart upload (with abort); no delete.
   */
  useBucket(bucket: IBucket, access: BucketAccess, keyPattern = '*'): this {
    this.bind('BUCKET_NAME', bucket.bucketName, 'a bucket');
    if (access === 'read' || access === 'readWrite') this.grantObjectRead(bucket, keyPattern);
    if (access === 'write' || access === 'readWrite') {
      bucket.grantPut(this.fn, keyPattern);
      acknowledgeWildcard(
        this,
        'Action::s3:Abort*',
        'CDK grantPut adds s3:Abort* (AbortMultipartUpload) so a failed multipart upload of a large results or ' +
          'manifest file can be cleaned up; it only applies to the key pattern granted, never deletes objects.',
      );
      this.acknowledgeKeyPattern(bucket, keyPattern, 'write');
    }
    return this;
  }

  /**
   * Grants reading objects matching `keyPattern` in a bucket the task is told about at run time
   * (a job template's `input.bucket`), without binding BUCKET_NAME. Use useBucket for the job bucket.
   */
  grantObjectRead(bucket: IBucket, keyPattern = '*'): this {
    bucket.grantRead(this.fn, keyPattern);
    acknowledgeWildcard(
      this,
      'Action::s3:GetObject*',
      'CDK grantRead: GetObject plus its version/ACL/tagging variants, needed to stream an object by key; ' +
        'only on the buckets and key patterns this task is granted.',
    );
    acknowledgeWildcard(
      this,
      'Action::s3:GetBucket*',
      'CDK grantRead: bucket-level reads (location, versioning) the S3 client may call; only on the buckets this ' +
        'task is granted, and no object data.',
    );
    acknowledgeWildcard(
      this,
      'Action::s3:List*',
      'CDK grantRead: ListBucket lets a GetObject of a missing key answer 404 (NoSuchKey) instead of 403, ' +
        'so a wrong input key is reported as missing; only on the buckets this task is granted.',
    );
    this.acknowledgeKeyPattern(bucket, keyPattern, 'read');
    return this;
  }

  private acknowledgeKeyPattern(bucket: IBucket, keyPattern: string, access: 'read' | 'write'): void {
    if (!keyPattern.includes('*')) return;
    const where =
      keyPattern === '*'
        ? 'any key of this one bucket'
        : `only keys under ${keyPattern.replace(/\*$/, '')} of this one bucket`;
    acknowledgeWildcard(
      this,
      nagResource(this, bucket.bucketArn, `/${keyPattern}`),
      `The task ${access === 'read' ? 'reads' : 'writes'} objects whose keys are only known at run time (jobs/<jobId>/... ` +
        `files, or the input file a request or schedule names), so the grant covers ${where}; it never deletes.`,
    );
  }

  /**
   * Grants reading the secret that holds the OpenAI key and sets OPENAI_API_KEY_SECRET_ARN (the
   * task reads the value at run time; the key never enters the template or the environment), and
   * OPENAI_BASE_URL when given.
   */
  useOpenAiKey(secret: ISecret, options: { baseUrl?: string } = {}): this {
    this.bind('OPENAI_API_KEY_SECRET_ARN', secret.secretArn, 'an OpenAI key secret');
    secret.grantRead(this.fn);
    if (options.baseUrl !== undefined) this.bind('OPENAI_BASE_URL', options.baseUrl, 'an OpenAI base URL');
    return this;
  }

  /**
   * Grants starting executions of the state machine (only that: no stop, no describe) and sets
   * STATE_MACHINE_ARN.
   */
  useStateMachine(stateMachine: IStateMachine): this {
    this.bind('STATE_MACHINE_ARN', stateMachine.stateMachineArn, 'a state machine');
    stateMachine.grantStartExecution(this.fn);
    return this;
  }

  private bind(name: string, value: string, what: string): void {
    const current = this.bound.get(name);
    if (current === undefined) {
      this.bound.set(name, value);
      this.fn.addEnvironment(name, value);
      return;
    }
    if (current !== value) {
      throw new Error(
        `TaskFunction ${this.node.id} is bound to ${what} already (${name}); a task uses one, so bind it once`,
      );
    }
  }
}

function checkEntry(entry: string): void {
  if (!isAbsolute(entry)) {
    throw new Error(
      `TaskFunction entry must be an absolute path, got "${entry}"; use projectPath('tasks/handlers/<task>.ts')`,
    );
  }
  const shown = relative(PROJECT_ROOT, entry);
  if (!existsSync(entry) || !statSync(entry).isFile()) {
    throw new Error(`TaskFunction entry ${shown} does not exist; create it (exporting \`handler\`) or fix the path`);
  }
  if (!['.ts', '.mts', '.js', '.mjs'].includes(extname(entry))) {
    throw new Error(`TaskFunction entry ${shown} must be a .ts or .js file`);
  }
  const source = readFileSync(entry, 'utf8');
  const exportsHandler =
    /export\s+(const|let|var|async\s+function|function)\s+handler\b/.test(source) ||
    /export\s*\{[^}]*\bhandler\b[^}]*\}/.test(source);
  if (!exportsHandler) {
    throw new Error(`TaskFunction entry ${shown} does not export \`handler\`; Lambda calls index.handler`);
  }
}
