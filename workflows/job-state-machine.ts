import { RemovalPolicy } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import {
  DefinitionBody,
  LogLevel,
  StateMachine,
  StateMachineType,
  type LogOptions,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { JobWorkflow, type JobWorkflowTasks } from './job-workflow.js';

export interface JobStateMachineProps {
  tasks: JobWorkflowTasks;
  bucket: IBucket;
  /** CloudWatch logging of the executions; off when rendering plain ASL. */
  logging?: boolean;
  tracing?: boolean;
}

/**
 * The Standard state machine that runs one job per execution. Grants itself what the
 * Distributed Map needs on the bucket (read manifests, write map run results).
 */
export class JobStateMachine extends Construct {
  readonly stateMachine: StateMachine;
  readonly workflow: JobWorkflow;

  constructor(scope: Construct, id: string, props: JobStateMachineProps) {
    super(scope, id);
    this.workflow = new JobWorkflow(this, 'Workflow', { tasks: props.tasks, bucket: props.bucket });
    const logs: LogOptions | undefined = props.logging
      ? {
          destination: new LogGroup(this, 'ExecutionLogs', {
            retention: RetentionDays.ONE_MONTH,
            removalPolicy: RemovalPolicy.DESTROY,
          }),
          level: LogLevel.ERROR,
          includeExecutionData: false,
        }
      : undefined;
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(this.workflow.definition),
      comment: 'llm-batch: one LLM batch job per execution',
      // No execution timeout: work is bounded inside (batch deadlines, the poll-turn bound), and a
      // timeout would end a job past its Catch (the execution-ended rule still catches that case).
      tracingEnabled: props.tracing ?? false,
      ...(logs ? { logs } : {}),
    });
    // The ItemReader reads by a path (the job's manifest), so CDK cannot infer that grant; the
    // ResultWriter's grant (put, get, multipart on the bucket) CDK adds itself.
    props.bucket.grantRead(this.stateMachine, 'jobs/*');
  }
}
