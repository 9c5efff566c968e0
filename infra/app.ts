import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ScheduleConfigError } from './job-schedules.js';
import { LlmBatchPropsError } from './llm-batch-props.js';
import { LlmBatchStack } from './llm-batch-stack.js';
import { readScheduleConfig } from './schedule-config.js';
import { readStackConfig, StackConfigError } from './stack-config.js';

// `npx cdk synth` / `npx cdk deploy` (cdk.json runs this file). Options come from context:
// -c openaiBaseUrl=... -c jwtIssuer=... -c alarmEmail=... (see stack-config.ts); scheduled jobs
// come from llm-batch.config.json next to cdk.json, or the `schedules` context key (schedule-config.ts).
const app = new App();

// cdk-nag 3 is a policy validation plugin (not an Aspect): synth fails on any AwsSolutions
// finding, error or warning, that is not acknowledged where it arises (infra/nag.ts).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

try {
  const context = app.node.getAllContext() as Record<string, unknown>;
  const config = readStackConfig(context);
  new LlmBatchStack(app, 'LlmBatch', {
    config,
    schedules: readScheduleConfig({ appRoot: process.cwd(), context, inputBucketNames: config.inputBucketNames }),
    description: 'llm-batch: large LLM batch jobs on AWS Step Functions',
    // Environment-agnostic: synth needs no account or credentials; deploy uses the CLI's.
  });
} catch (error) {
  if (
    error instanceof StackConfigError ||
    error instanceof ScheduleConfigError ||
    error instanceof LlmBatchPropsError
  ) {
    process.stderr.write(`llm-batch: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

app.synth();
