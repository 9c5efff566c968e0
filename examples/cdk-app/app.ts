// An app of your own that adds llm-batch to its stack. `npx cdk synth` here runs this file
// (cdk.json); it imports the package by name, as an app that installed it does.
import { App, Aws, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LlmBatch, readScheduleConfig } from 'llm-batch/cdk';

/** A stack that already has a comments table, an OpenAI key and an on-call topic. */
export class ModerationStack extends Stack {
  readonly llmBatch: LlmBatch;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const comments = new Table(this, 'Comments', {
      tableName: 'Comments',
      partitionKey: { name: 'commentId', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.llmBatch = new LlmBatch(this, 'LlmBatch', {
      // Existing resources are passed in; everything else llm-batch creates.
      openAiKeySecret: Secret.fromSecretNameV2(this, 'OpenAiKey', 'prod/openai-api-key'),
      alarmTopic: Topic.fromTopicArn(this, 'Oncall', `arn:${Aws.PARTITION}:sns:${Aws.REGION}:${Aws.ACCOUNT_ID}:oncall`),
      applyTables: [comments],
      recordTtlDays: 30,
      // Scheduled jobs are configuration: llm-batch.config.json next to this file.
      schedules: readScheduleConfig({
        appRoot: dirname(fileURLToPath(import.meta.url)),
        context: this.node.getAllContext() as Record<string, unknown>,
        inputBucketNames: [],
      }),
    });
  }
}

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
new ModerationStack(app, 'Moderation');
app.synth();
