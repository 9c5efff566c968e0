import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { JOBS_INDEX, TABLE_KEY, TTL_ATTRIBUTE } from '../shared/store/table-schema.js';
import { MAP_RESULTS_PREFIX } from '../workflows/job-workflow.js';
import { JobStateMachine } from '../workflows/job-state-machine.js';
import {
  TASK_NAMES,
  TASKS,
  taskConstructId,
  taskHandlerPath,
  taskRecord,
  WORKFLOW_TASK_NAMES,
  type BucketKeys,
  type TaskAccess,
  type TaskName,
} from '../workflows/task-registry.js';
import { JobAlarms } from './job-alarms.js';
import { JobApi } from './job-api.js';
import { JobDashboard } from './job-dashboard.js';
import { JobSchedules } from './job-schedules.js';
import { resolveLlmBatchProps, type LlmBatchProps, type LlmBatchSettings } from './llm-batch-props.js';
import { acknowledge } from './nag.js';
import { acknowledgeStateMachine } from './state-machine-nag.js';
import { projectPath, TaskFunction } from './task-function.js';

const RESULT_WRITER_V2_FLAG = '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2';

export const OPENAI_KEY_SECRET_NAME = 'llm-batch/openai-api-key';
/** Prefix of every job's files (manifest, results, large outputs); see shared/store/object-store.ts. */
export const JOBS_PREFIX = 'jobs';
/** Where job input files (JSONL) are put for POST /jobs with input.key and for scheduled templates. */
export const INPUTS_PREFIX = 'inputs';
/** Map run results are only read while the job finalizes; a week covers a redrive. */
export const MAP_RESULTS_RETENTION_DAYS = 7;
/** Job files outlive the job's records by this much, so a record never points at a deleted file. */
export const JOB_FILES_EXTRA_DAYS = 7;

/** The task functions, one per task of the registry (workflows/task-registry.ts). */
export type TaskFunctions = Readonly<Record<TaskName, TaskFunction>>;

/**
 * Everything one deployment of llm-batch runs on: the single table, the job bucket, the OpenAI
 * key secret, one function per task with only the access its code uses, the job state machine,
 * the rule that marks a job FAILED when its execution ends where no Catch could see it, the HTTP
 * API, the scheduled starts, and the alarms. Add it to any stack: `new LlmBatch(this, 'LlmBatch', props)`.
 *
 * The props are checked first, all of them: an LlmBatchPropsError lists every problem by prop.
 */
export class LlmBatch extends Construct {
  readonly table: Table;
  readonly bucket: Bucket;
  readonly openAiKey: ISecret;
  readonly functions: TaskFunctions;
  readonly jobs: JobStateMachine;
  readonly stateMachine: StateMachine;
  readonly executionEndedRule: Rule;
  readonly api: JobApi;
  readonly schedules: JobSchedules;
  readonly alarms: JobAlarms;
  /** The CloudWatch dashboard of the jobs (items, provider calls, latency, cost, executions, alarms). */
  readonly dashboard: JobDashboard;

  constructor(scope: Construct, id: string, props: LlmBatchProps = {}) {
    super(scope, id);
    const settings = resolveLlmBatchProps(props, this.node.path);
    // CDK drops the Distributed Map's ResultWriter V2 (the results the finalizer reads) unless this
    // flag is on; set it here so an app's cdk.json need not.
    this.node.setContext(RESULT_WRITER_V2_FLAG, true);

    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_KEY.partition, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEY.sort, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: JOBS_INDEX.name,
      partitionKey: { name: JOBS_INDEX.partition, type: AttributeType.STRING },
      sortKey: { name: JOBS_INDEX.sort, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      autoDeleteObjects: false,
      removalPolicy: RemovalPolicy.RETAIN,
      // Server access logs would need a second bucket and grow with every Map read; see below.
      lifecycleRules: [
        {
          id: 'expire-map-runs',
          prefix: `${MAP_RESULTS_PREFIX}/`,
          expiration: Duration.days(MAP_RESULTS_RETENTION_DAYS),
        },
        {
          id: 'expire-job-files',
          prefix: `${JOBS_PREFIX}/`,
          expiration: Duration.days(settings.recordTtlDays + JOB_FILES_EXTRA_DAYS),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    acknowledge(
      this.bucket,
      'AwsSolutions-S1',
      'Only this stack reads and writes the bucket, through roles scoped to jobs/, inputs/ and map-runs/; who did what ' +
        'is in CloudTrail (enable S3 data events to audit object reads). Server access logs would need a second bucket.',
    );

    this.openAiKey = settings.openAiKeySecret ?? this.createOpenAiKey();

    this.functions = this.createFunctions(settings);
    const f = this.functions;

    this.jobs = new JobStateMachine(this, 'Jobs', {
      tasks: taskRecord(WORKFLOW_TASK_NAMES, (name) => f[name].fn),
      bucket: this.bucket,
      logging: true,
      tracing: true,
    });
    this.stateMachine = this.jobs.stateMachine;
    acknowledgeStateMachine(this.jobs, f, this.bucket, JOBS_PREFIX);
    for (const name of TASK_NAMES) {
      if (hasAccess(name, 'startsJobs')) f[name].useStateMachine(this.stateMachine);
    }

    // The safety net: an execution stopped, timed out or failed past every Catch. Only this state
    // machine's own executions match, not the map's child executions (a failed batch is not a
    // failed job).
    this.executionEndedRule = new Rule(this, 'ExecutionEndedRule', {
      description: 'llm-batch: mark the job FAILED when its execution fails, times out or is aborted',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [this.stateMachine.stateMachineArn],
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
      targets: [new LambdaFunction(f.executionEnded.fn)],
    });

    this.api = new JobApi(this, 'HttpApi', {
      handler: f.api,
      auth: settings.apiAuth,
      corsAllowedOrigins: settings.corsAllowedOrigins,
      throttle: settings.apiThrottle,
      stateMachine: this.stateMachine,
    });

    this.schedules = new JobSchedules(this, 'Schedules', {
      schedules: settings.schedules,
      stateMachine: this.stateMachine,
    });

    this.alarms = new JobAlarms(this, 'Alarms', {
      stateMachine: this.stateMachine,
      functions: taskRecord(TASK_NAMES, (name) => f[name].fn),
      httpApi: this.api.httpApi,
      ...(this.schedules.group ? { scheduleGroup: this.schedules.group } : {}),
      ...(settings.alarmTopic ? { topic: settings.alarmTopic } : {}),
      ...(settings.alarmEmail ? { email: settings.alarmEmail } : {}),
    });

    // The metrics dashboard (job metrics, executions, alarms); the stack outputs its URL.
    this.dashboard = new JobDashboard(this, 'Dashboard', {
      stateMachine: this.stateMachine,
      alarms: this.alarms.alarms,
    });
  }

  /** The base URL of the HTTP API's default stage, ending in `/`. */
  get apiUrl(): string {
    return this.api.url;
  }

  private createOpenAiKey(): Secret {
    const secret = new Secret(this, 'OpenAiApiKey', {
      secretName: OPENAI_KEY_SECRET_NAME,
      description:
        'The OpenAI API key llm-batch tasks call the provider with. Created with a random placeholder: after deploy, ' +
        `put your key in it (aws secretsmanager put-secret-value --secret-id ${OPENAI_KEY_SECRET_NAME} --secret-string <key>).`,
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'The secret holds an OpenAI API key, which only OpenAI issues and revokes: a rotation Lambda cannot mint a new ' +
        'one. Rotate it in the OpenAI dashboard and put the new value here (see the secret description).',
    );
    return secret;
  }

  /**
   * One function per task of the registry, granted what the registry says its code touches
   * (TASKS[name].access). BUCKET_NAME is set everywhere because the runtime config requires it at
   * cold start.
   */
  private createFunctions(settings: LlmBatchSettings): TaskFunctions {
    const provider = { ...(settings.openaiBaseUrl ? { baseUrl: settings.openaiBaseUrl } : {}) };
    const keyPatterns: Record<BucketKeys, string> = {
      jobFiles: `${JOBS_PREFIX}/*`,
      inputs: `${INPUTS_PREFIX}/*`,
      uploads: `${INPUTS_PREFIX}/uploads/*`,
      anyKey: '*',
    };

    const functions = taskRecord(TASK_NAMES, (name) => {
      const { description, access } = TASKS[name];
      const fn = new TaskFunction(this, taskConstructId(name), {
        entry: projectPath(taskHandlerPath(name)),
        description,
      });
      fn.useTable(this.table, access.table, { recordTtlDays: settings.recordTtlDays });
      if (access.bucket.length === 0) fn.useBucket(this.bucket, 'none');
      for (const grant of access.bucket) fn.useBucket(this.bucket, grant.access, keyPatterns[grant.keys]);
      if (hasAccess(name, 'provider')) fn.useOpenAiKey(this.openAiKey, provider);
      return fn;
    });

    // `classify` with params.apply writes labels into another table; only the tables given are allowed.
    for (const target of settings.applyTables) {
      for (const name of TASK_NAMES)
        if (hasAccess(name, 'applyTables')) target.grant(functions[name].fn, 'dynamodb:UpdateItem');
    }
    // A scheduled template may read its items from another bucket (template.input.bucket).
    for (const input of settings.inputBuckets) {
      for (const name of TASK_NAMES) if (hasAccess(name, 'inputBuckets')) functions[name].grantObjectRead(input);
    }
    return functions;
  }
}

/** Whether the registry grants the task this optional access. */
function hasAccess(name: TaskName, what: 'provider' | 'startsJobs' | 'applyTables' | 'inputBuckets'): boolean {
  const access: TaskAccess = TASKS[name].access;
  return access[what] ?? false;
}
