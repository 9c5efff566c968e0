import { ArnFormat, Aws, CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
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
import { JobSchedules } from './job-schedules.js';
import { acknowledge, acknowledgeWildcard, nagResource } from './nag.js';
import type { JobSchedule } from './schedules.js';
import type { StackConfig } from './stack-config.js';
import { projectPath, TaskFunction } from './task-function.js';

export const OPENAI_KEY_SECRET_NAME = 'llm-batch/openai-api-key';
/** Prefix of every job's files (manifest, results, large outputs); see shared/store/object-store.ts. */
export const JOBS_PREFIX = 'jobs';
/** Where job input files (JSONL) are put for POST /jobs with input.key and for scheduled templates. */
export const INPUTS_PREFIX = 'inputs';
/** Map run results are only read while the job finalizes; a week covers a redrive. */
export const MAP_RESULTS_RETENTION_DAYS = 7;
/** Job files outlive the job's records by this much, so a record never points at a deleted file. */
export const JOB_FILES_EXTRA_DAYS = 7;

export interface LlmBatchStackProps extends StackProps {
  config: StackConfig;
  /** Jobs started on a schedule (infra/schedules.ts). @default none */
  schedules?: readonly JobSchedule[];
}

/** The task functions, one per task of the registry (workflows/task-registry.ts). */
export type TaskFunctions = Readonly<Record<TaskName, TaskFunction>>;

/**
 * Everything one deployment of llm-batch runs on: the single table, the job bucket, the OpenAI
 * key secret, one function per task with only the access its code uses, the job state machine,
 * the rule that marks a job FAILED when its execution ends where no Catch could see it, the HTTP
 * API, the scheduled starts, and the alarms.
 */
export class LlmBatchStack extends Stack {
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

  constructor(scope: Construct, id: string, props: LlmBatchStackProps) {
    super(scope, id, props);
    const { config } = props;

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
          expiration: Duration.days(config.recordTtlDays + JOB_FILES_EXTRA_DAYS),
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

    this.openAiKey = config.openaiApiKeySecretName
      ? Secret.fromSecretNameV2(this, 'OpenAiApiKey', config.openaiApiKeySecretName)
      : new Secret(this, 'OpenAiApiKey', {
          secretName: OPENAI_KEY_SECRET_NAME,
          description:
            'The OpenAI API key llm-batch tasks call the provider with. Created with a random placeholder: after deploy, ' +
            `put your key in it (aws secretsmanager put-secret-value --secret-id ${OPENAI_KEY_SECRET_NAME} --secret-string <key>).`,
        });
    if (this.openAiKey instanceof Secret) {
      acknowledge(
        this.openAiKey,
        'AwsSolutions-SMG4',
        'The secret holds an OpenAI API key, which only OpenAI issues and revokes: a rotation Lambda cannot mint a new ' +
          'one. Rotate it in the OpenAI dashboard and put the new value here (see the secret description).',
      );
    }

    this.functions = this.createFunctions(config);
    const f = this.functions;

    this.jobs = new JobStateMachine(this, 'Jobs', {
      tasks: taskRecord(WORKFLOW_TASK_NAMES, (name) => f[name].fn),
      bucket: this.bucket,
      logging: true,
      tracing: true,
    });
    this.stateMachine = this.jobs.stateMachine;
    this.acknowledgeStateMachine(f);
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
      auth: config.apiAuth,
      corsAllowedOrigins: config.corsAllowedOrigins,
      throttle: config.apiThrottle,
      stateMachine: this.stateMachine,
    });

    this.schedules = new JobSchedules(this, 'Schedules', {
      schedules: props.schedules ?? [],
      stateMachine: this.stateMachine,
      inputBucketNames: config.inputBucketNames,
    });

    this.alarms = new JobAlarms(this, 'Alarms', {
      stateMachine: this.stateMachine,
      functions: taskRecord(TASK_NAMES, (name) => f[name].fn),
      httpApi: this.api.httpApi,
      ...(this.schedules.group ? { scheduleGroup: this.schedules.group } : {}),
      ...(config.alarmEmail ? { email: config.alarmEmail } : {}),
    });

    new CfnOutput(this, 'StateMachineArn', {
      value: this.stateMachine.stateMachineArn,
      description: 'Start one execution per job',
    });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'OpenAiApiKeySecretArn', {
      value: this.openAiKey.secretArn,
      description: 'Put the OpenAI API key in this secret',
    });
    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'The HTTP API (IAM-signed, or a JWT when configured)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarms.topic.topicArn,
      description: 'Subscribe here to receive the alarms',
    });
  }

  /**
   * What cdk-nag reports on the state machine that the workflow needs (workflows/ builds it; its
   * grants come from CDK's task and Distributed Map constructs).
   */
  private acknowledgeStateMachine(f: TaskFunctions): void {
    const machine = this.jobs;
    acknowledge(
      machine,
      'AwsSolutions-SF1',
      'Executions log at ERROR level without execution data: ALL would log every state of up to 10,000 concurrent ' +
        'child executions and their poll loops (cost), and item text must not reach the logs. X-Ray and execution history cover the rest.',
    );
    acknowledgeWildcard(
      machine,
      'Resource::*',
      'Two statements need "*": X-Ray trace segments (no resource-level permissions) and the CloudWatch Logs delivery ' +
        'actions Step Functions uses to set up execution logging, which AWS documents as resource "*".',
    );
    for (const name of WORKFLOW_TASK_NAMES) {
      acknowledgeWildcard(
        machine,
        nagResource(machine, f[name].fn.functionArn, ':*'),
        'CDK LambdaInvoke grants the task function and its versions/aliases (<arn>:*) so a Task can invoke a ' +
          'qualified ARN; it is one function of this stack per statement.',
      );
    }
    acknowledgeWildcard(
      machine,
      nagResource(machine, this.bucket.bucketArn, `/${JOBS_PREFIX}/*`),
      "The Distributed Map's ItemReader reads each job's manifest under jobs/<jobId>/ (manifest.jsonl, or a per-request key for API jobs), known only at " +
        'run time; read only, under jobs/.',
    );
    acknowledgeWildcard(
      machine,
      nagResource(machine, `arn:${Aws.PARTITION}:s3:::${this.bucket.bucketName}`, '/*'),
      "CDK's ResultWriter grant (PutObject, GetObject, multipart) covers every key although results go to map-runs/: " +
        'the construct offers no prefix. No delete; narrowing it needs a hand-written policy in workflows/.',
    );
    // The Distributed Map manages its own child executions, whose names it generates at run time.
    const executions = (suffix: string) =>
      this.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${Fn.select(6, Fn.split(':', this.stateMachine.stateMachineArn))}${suffix}`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    acknowledgeWildcard(
      machine,
      nagResource(machine, executions(':*')),
      'The Distributed Map describes and stops the executions of this one state machine (its child runs are named at ' +
        'run time); CDK scopes the grant to execution:<this state machine>:*.',
    );
    acknowledgeWildcard(
      machine,
      nagResource(machine, executions('/Batches:*')),
      "RedriveExecution on the Distributed Map's child executions (label Batches: execution:<this state machine>/Batches:*), " +
        'so a failed map run can be redriven; their names are generated at run time.',
    );
    for (const action of ['s3:GetObject*', 's3:GetBucket*', 's3:List*']) {
      acknowledgeWildcard(
        machine,
        `Action::${action}`,
        'CDK grantRead on jobs/* for the ItemReader (object reads of the manifest) and the ResultWriter (bucket ' +
          'listing for the map run results); limited to this one bucket.',
      );
    }
  }

  /**
   * One function per task of the registry, granted what the registry says its code touches
   * (TASKS[name].access). BUCKET_NAME is set everywhere because the runtime config requires it at
   * cold start.
   */
  private createFunctions(config: StackConfig): TaskFunctions {
    const provider = { ...(config.openaiBaseUrl ? { baseUrl: config.openaiBaseUrl } : {}) };
    const keyPatterns: Record<BucketKeys, string> = {
      jobFiles: `${JOBS_PREFIX}/*`,
      inputs: `${INPUTS_PREFIX}/*`,
      anyKey: '*',
    };

    const functions = taskRecord(TASK_NAMES, (name) => {
      const { description, access } = TASKS[name];
      const fn = new TaskFunction(this, taskConstructId(name), {
        entry: projectPath(taskHandlerPath(name)),
        description,
      });
      fn.useTable(this.table, access.table, { recordTtlDays: config.recordTtlDays });
      if (access.bucket.length === 0) fn.useBucket(this.bucket, 'none');
      for (const grant of access.bucket) fn.useBucket(this.bucket, grant.access, keyPatterns[grant.keys]);
      if (hasAccess(name, 'provider')) fn.useOpenAiKey(this.openAiKey, provider);
      return fn;
    });

    // `classify` with params.apply writes labels into another table; only named tables are allowed.
    config.applyTableNames.forEach((tableName, i) => {
      const target = Table.fromTableName(this, `ApplyTable${i}`, tableName);
      for (const name of TASK_NAMES)
        if (hasAccess(name, 'applyTables')) target.grant(functions[name].fn, 'dynamodb:UpdateItem');
    });
    // A scheduled template may read its items from another bucket (template.input.bucket).
    config.inputBucketNames.forEach((bucketName, i) => {
      const input: IBucket = Bucket.fromBucketName(this, `InputBucket${i}`, bucketName);
      for (const name of TASK_NAMES) if (hasAccess(name, 'inputBuckets')) functions[name].grantObjectRead(input);
    });
    return functions;
  }
}

/** Whether the registry grants the task this optional access. */
function hasAccess(name: TaskName, what: 'provider' | 'startsJobs' | 'applyTables' | 'inputBuckets'): boolean {
  const access: TaskAccess = TASKS[name].access;
  return access[what] ?? false;
}
