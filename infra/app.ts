import { App } from 'aws-cdk-lib';
import { LlmBatchStack } from './llm-batch-stack.js';
import { readStackConfig, StackConfigError } from './stack-config.js';

// `npx cdk synth` / `npx cdk deploy` (cdk.json runs this file). Options come from context:
// -c openaiBaseUrl=... -c openaiApiKeySecretName=... -c recordTtlDays=... (see stack-config.ts).
const app = new App();

let config;
try {
  config = readStackConfig(app.node.getAllContext() as Record<string, unknown>);
} catch (error) {
  if (error instanceof StackConfigError) {
    process.stderr.write(`llm-batch: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

new LlmBatchStack(app, 'LlmBatch', {
  config,
  description: 'llm-batch: large LLM batch jobs on AWS Step Functions',
  // Environment-agnostic: synth needs no account or credentials; deploy uses the CLI's.
});

app.synth();
