import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { keys } from '../shared/store/keys.js';
import { MAP_RESULTS_PREFIX } from '../workflows/job-workflow.js';
import { JobStateMachine } from '../workflows/job-state-machine.js';
import type { StackConfig } from './stack-config.js';
import { projectPath, TaskFunction } from './task-function.js';

export const OPENAI_KEY_SECRET_NAME = 'llm-batch/openai-api-key';
/** Prefix of every job's files (manifest, results, large outputs); see shared/store/object-store.ts. */
export const JOBS_PREFIX = 'jobs';
/** Map run results are only read while the job finalizes; a week covers a redrive. */
export const MAP_RESULTS_RETENTION_DAYS = 7;
/** Job files outlive the job's records by this much, so a record never points at a deleted file. */
export const JOB_FILES_EXTRA_DAYS = 7;

export interface LlmBatchStackProps extends StackProps {
  config: StackConfig;
}

/** The task functions, one per Lambda entry point in tasks/handlers/. */
export interface TaskFunctions {
  prepareJob: TaskFunction;
  submitBatch: TaskFunction;
  pollBatch: TaskFunction;
  recordBatchFailure: TaskFunction;
  finalizeJob: TaskFunction;
  markJobFailed: TaskFunction;
  executionEnded: TaskFunction;
}

/**
 * Everything one deployment of llm-batch runs on: the single table, the job bucket, the OpenAI
 * key secret, one function per task with only the access its code uses, the job state machine
 * and the rule that marks a job FAILED when its execution ends where no Catch could see it.
 */
export class LlmBatchStack extends Stack {
  readonly table: Table;
  readonly bucket: Bucket;
  readonly openAiKey: ISecret;
  readonly functions: TaskFunctions;
  readonly jobs: JobStateMachine;
  readonly stateMachine: StateMachine;
  readonly executionEndedRule: Rule;

  constructor(scope: Construct, id: string, props: LlmBatchStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: keys.jobsIndex.name,
      partitionKey: { name: 'gsi1pk', type: AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      autoDeleteObjects: false,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'expire-map-runs', prefix: `${MAP_RESULTS_PREFIX}/`, expiration: Duration.days(MAP_RESULTS_RETENTION_DAYS) },
        { id: 'expire-job-files', prefix: `${JOBS_PREFIX}/`, expiration: Duration.days(config.recordTtlDays + JOB_FILES_EXTRA_DAYS) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    this.openAiKey = config.openaiApiKeySecretName
      ? Secret.fromSecretNameV2(this, 'OpenAiApiKey', config.openaiApiKeySecretName)
      : new Secret(this, 'OpenAiApiKey', {
          secretName: OPENAI_KEY_SECRET_NAME,
          description:
            'The OpenAI API key llm-batch tasks call the provider with. Created with a random placeholder: after deploy, ' +
            `put your key in it (aws secretsmanager put-secret-value --secret-id ${OPENAI_KEY_SECRET_NAME} --secret-string <key>).`,
        });

    this.functions = this.createFunctions(config);
    const f = this.functions;

    this.jobs = new JobStateMachine(this, 'Jobs', {
      tasks: {
        prepareJob: f.prepareJob.fn,
        submitBatch: f.submitBatch.fn,
        pollBatch: f.pollBatch.fn,
        recordBatchFailure: f.recordBatchFailure.fn,
        finalizeJob: f.finalizeJob.fn,
        markJobFailed: f.markJobFailed.fn,
      },
      bucket: this.bucket,
      logging: true,
      tracing: true,
    });
    this.stateMachine = this.jobs.stateMachine;

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

    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn, description: 'Start one execution per job' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'OpenAiApiKeySecretArn', {
      value: this.openAiKey.secretArn,
      description: 'Put the OpenAI API key in this secret',
    });
  }

  /**
   * One function per task, each with what its code touches (tasks/*.ts):
   * - every task reads and writes the table (jobs, items, batches, log entries);
   * - prepare-job reads a scheduled template's items anywhere in the bucket and writes the manifest;
   * - submit-batch and poll-batch call the provider and store large outputs under jobs/;
   * - record-batch-failure calls the provider (to withdraw the batch) but no S3;
   * - finalize-job reads the manifest and large outputs and writes the results file under jobs/;
   * - mark-job-failed and execution-ended use the table only.
   * BUCKET_NAME is set everywhere because the runtime config requires it at cold start.
   */
  private createFunctions(config: StackConfig): TaskFunctions {
    const task = (id: string, file: string, description: string) => {
      const fn = new TaskFunction(this, id, { entry: projectPath(`tasks/handlers/${file}.ts`), description });
      return fn.useTable(this.table, 'readWrite', { recordTtlDays: config.recordTtlDays });
    };
    const provider = { ...(config.openaiBaseUrl ? { baseUrl: config.openaiBaseUrl } : {}) };
    const jobFiles = `${JOBS_PREFIX}/*`;

    const functions: TaskFunctions = {
      prepareJob: task('PrepareJob', 'prepare-job', 'llm-batch: create a scheduled job, mark the job RUNNING')
        .useBucket(this.bucket, 'read')
        .useBucket(this.bucket, 'write', jobFiles),
      submitBatch: task('SubmitBatch', 'submit-batch', 'llm-batch: submit one batch of items to the provider')
        .useBucket(this.bucket, 'write', jobFiles)
        .useOpenAiKey(this.openAiKey, provider),
      pollBatch: task('PollBatch', 'poll-batch', "llm-batch: poll the provider for a batch's items")
        .useBucket(this.bucket, 'write', jobFiles)
        .useOpenAiKey(this.openAiKey, provider),
      recordBatchFailure: task('RecordBatchFailure', 'record-batch-failure', "llm-batch: withdraw a failed batch, fail its items")
        .useBucket(this.bucket, 'none')
        .useOpenAiKey(this.openAiKey, provider),
      finalizeJob: task('FinalizeJob', 'finalize-job', 'llm-batch: write the results file, count, end the job')
        .useBucket(this.bucket, 'readWrite', jobFiles),
      markJobFailed: task('MarkJobFailed', 'mark-job-failed', 'llm-batch: mark the job FAILED').useBucket(this.bucket, 'none'),
      executionEnded: task('ExecutionEnded', 'execution-ended', 'llm-batch: mark the job FAILED when its execution ends unhandled')
        .useBucket(this.bucket, 'none'),
    };

    // `classify` with params.apply writes labels into another table; only named tables are allowed.
    config.applyTableNames.forEach((name, i) => {
      const target = Table.fromTableName(this, `ApplyTable${i}`, name);
      for (const fn of [functions.submitBatch, functions.pollBatch]) target.grant(fn.fn, 'dynamodb:UpdateItem');
    });
    // A scheduled template may read its items from another bucket (template.input.bucket).
    config.inputBucketNames.forEach((name, i) => {
      const input: IBucket = Bucket.fromBucketName(this, `InputBucket${i}`, name);
      input.grantRead(functions.prepareJob.fn);
    });
    return functions;
  }
}
