import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Rule } from 'aws-cdk-lib/aws-events';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { JobStateMachine } from '../workflows/job-state-machine.js';
import type { JobAlarms } from './job-alarms.js';
import type { JobApi } from './job-api.js';
import type { JobSchedules } from './job-schedules.js';
import { LlmBatch, type TaskFunctions } from './llm-batch.js';
import type { JobSchedule } from './schedules.js';
import type { StackConfig } from './stack-config.js';

export {
  INPUTS_PREFIX,
  JOB_FILES_EXTRA_DAYS,
  JOBS_PREFIX,
  MAP_RESULTS_RETENTION_DAYS,
  OPENAI_KEY_SECRET_NAME,
  type TaskFunctions,
} from './llm-batch.js';

export interface LlmBatchStackProps extends StackProps {
  config: StackConfig;
  /** Jobs started on a schedule (llm-batch.config.json or the schedules context key). @default none */
  schedules?: readonly JobSchedule[];
}

/**
 * The project's own app: one LlmBatch construct built from context options (stack-config.ts), and
 * the stack outputs. The construct's id is `Default`, which CDK leaves out of logical ids, so the
 * resources keep the ids they had when the stack held them itself (no replacement on deploy).
 */
export class LlmBatchStack extends Stack {
  readonly llmBatch: LlmBatch;
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

    this.llmBatch = new LlmBatch(this, 'Default', {
      ...(config.openaiBaseUrl ? { openaiBaseUrl: config.openaiBaseUrl } : {}),
      ...(config.openaiApiKeySecretName
        ? { openAiKeySecret: Secret.fromSecretNameV2(this, 'OpenAiApiKey', config.openaiApiKeySecretName) }
        : {}),
      recordTtlDays: config.recordTtlDays,
      applyTables: config.applyTableNames.map((name, i) => Table.fromTableName(this, `ApplyTable${i}`, name)),
      inputBuckets: config.inputBucketNames.map((name, i) => Bucket.fromBucketName(this, `InputBucket${i}`, name)),
      apiAuth: config.apiAuth,
      corsAllowedOrigins: config.corsAllowedOrigins,
      apiThrottle: config.apiThrottle,
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
      schedules: props.schedules ?? [],
    });
    const { table, bucket, openAiKey, functions, jobs, stateMachine, executionEndedRule, api, schedules, alarms } =
      this.llmBatch;
    this.table = table;
    this.bucket = bucket;
    this.openAiKey = openAiKey;
    this.functions = functions;
    this.jobs = jobs;
    this.stateMachine = stateMachine;
    this.executionEndedRule = executionEndedRule;
    this.api = api;
    this.schedules = schedules;
    this.alarms = alarms;

    new CfnOutput(this, 'StateMachineArn', {
      value: stateMachine.stateMachineArn,
      description: 'Start one execution per job',
    });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'BucketName', { value: bucket.bucketName });
    new CfnOutput(this, 'OpenAiApiKeySecretArn', {
      value: openAiKey.secretArn,
      description: 'Put the OpenAI API key in this secret',
    });
    new CfnOutput(this, 'ApiUrl', {
      value: api.url,
      description: 'The HTTP API (IAM-signed, or a JWT when configured)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: alarms.topic.topicArn,
      description: 'Subscribe here to receive the alarms',
    });
    new CfnOutput(this, 'DashboardUrl', {
      value: this.llmBatch.dashboard.url,
      description: 'The CloudWatch dashboard of the jobs',
    });
  }
}
