import { ArnFormat, Aws, Fn, Stack } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { JobStateMachine } from '../workflows/job-state-machine.js';
import { WORKFLOW_TASK_NAMES, type TaskName } from '../workflows/task-registry.js';
import { acknowledge, acknowledgeWildcard, nagResource } from './nag.js';
import type { TaskFunction } from './task-function.js';

/**
 * What cdk-nag reports on the state machine that the workflow needs (workflows/ builds it; its
 * grants come from CDK's task and Distributed Map constructs). `jobsPrefix` is where the
 * ItemReader reads manifests.
 */
export function acknowledgeStateMachine(
  machine: JobStateMachine,
  functions: Readonly<Record<TaskName, TaskFunction>>,
  bucket: IBucket,
  jobsPrefix: string,
): void {
  const stateMachineArn = machine.stateMachine.stateMachineArn;
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
      nagResource(machine, functions[name].fn.functionArn, ':*'),
      'CDK LambdaInvoke grants the task function and its versions/aliases (<arn>:*) so a Task can invoke a ' +
        'qualified ARN; it is one function of this stack per statement.',
    );
  }
  acknowledgeWildcard(
    machine,
    nagResource(machine, bucket.bucketArn, `/${jobsPrefix}/*`),
    "The Distributed Map's ItemReader reads each job's manifest under jobs/<jobId>/ (manifest.jsonl, or a per-request key for API jobs), known only at " +
      'run time; read only, under jobs/.',
  );
  acknowledgeWildcard(
    machine,
    nagResource(machine, `arn:${Aws.PARTITION}:s3:::${bucket.bucketName}`, '/*'),
    "CDK's ResultWriter grant (PutObject, GetObject, multipart) covers every key although results go to map-runs/: " +
      'the construct offers no prefix. No delete; narrowing it needs a hand-written policy in workflows/.',
  );
  // The Distributed Map manages its own child executions, whose names it generates at run time.
  const executions = (suffix: string) =>
    Stack.of(machine).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${Fn.select(6, Fn.split(':', stateMachineArn))}${suffix}`,
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
