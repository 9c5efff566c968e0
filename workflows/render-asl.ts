import { App, Stack } from 'aws-cdk-lib';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { JobStateMachine } from './job-state-machine.js';
import { taskRecord, WORKFLOW_TASK_NAMES } from './task-registry.js';

export interface RenderOptions {
  account?: string;
  region?: string;
  bucketName?: string;
  /** Function name prefix; each task's function is `<prefix>-<task>`. */
  functionPrefix?: string;
}

/** CloudFormation intrinsics that can appear in a definition whose resources are all literal. */
function resolveIntrinsics(value: unknown, pseudo: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, pseudo));
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if ('Ref' in record && typeof record.Ref === 'string') {
      const resolved = pseudo[record.Ref];
      if (resolved === undefined) throw new Error(`cannot render a definition that references ${record.Ref}`);
      return resolved;
    }
    if ('Fn::Join' in record) {
      const [separator, parts] = record['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => resolveIntrinsics(p, pseudo)).join(separator);
    }
    const keys = Object.keys(record);
    if (keys.length === 1 && keys[0]?.startsWith('Fn::'))
      throw new Error(`cannot render a definition that uses ${keys[0]}`);
    return Object.fromEntries(keys.map((k) => [k, resolveIntrinsics(record[k], pseudo)]));
  }
  return value;
}

/**
 * Renders the job workflow's plain ASL from the same constructs the stack deploys, with the
 * task functions named `<prefix>-<task>` in the given account and region. The local runtime runs
 * this definition; `npm run asl` prints it.
 */
export function renderJobWorkflowAsl(options: RenderOptions = {}): Record<string, unknown> {
  const account = options.account ?? '000000000000';
  const region = options.region ?? 'us-east-1';
  const prefix = options.functionPrefix ?? 'llm-batch';
  const app = new App({ context: { '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true } });
  const stack = new Stack(app, 'Render', { env: { account, region } });
  const tasks = taskRecord(WORKFLOW_TASK_NAMES, (name) =>
    LambdaFunction.fromFunctionArn(stack, name, `arn:aws:lambda:${region}:${account}:function:${prefix}-${name}`),
  );
  const bucket = Bucket.fromBucketName(stack, 'Bucket', options.bucketName ?? 'llm-batch-local');
  const { stateMachine } = new JobStateMachine(stack, 'Jobs', { tasks, bucket });
  const cfn = stateMachine.node.defaultChild as CfnStateMachine;
  const resolved = resolveIntrinsics(stack.resolve(cfn.definitionString), {
    'AWS::Partition': 'aws',
    'AWS::Region': region,
    'AWS::AccountId': account,
    'AWS::URLSuffix': 'amazonaws.com',
  });
  if (typeof resolved !== 'string') throw new Error('the state machine definition did not render to a string');
  return JSON.parse(resolved) as Record<string, unknown>;
}
