import { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import {
  Choice,
  Condition,
  DistributedMap,
  Errors,
  Fail,
  ItemBatcher,
  JsonPath,
  Pass,
  ResultWriterV2,
  S3JsonLItemReader,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
  type IChainable,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { MAX_BATCH_INPUT_BYTES, TASK_TIMEOUT_SECONDS } from '../shared/limits.js';
import { addTaskRetries } from './retry-policies.js';
import { STATE } from './state-names.js';
import { TASKS, type WorkflowTaskName } from './task-registry.js';

/** The Lambda functions the workflow runs, one per workflow task of the registry. */
export type JobWorkflowTasks = Readonly<Record<WorkflowTaskName, IFunction>>;

export interface JobWorkflowProps {
  tasks: JobWorkflowTasks;
  /** Holds the manifests (read by the map) and the map run results (written by it). */
  bucket: IBucket;
}

/** S3 prefix under which the Distributed Map writes its run results. */
export const MAP_RESULTS_PREFIX = 'map-runs';

/**
 * The job workflow, JSONPath only (what the local engine runs too):
 *
 *   Prepare job -> Started twice? -> Process items in batches (Distributed Map over the manifest)
 *     each child: Submit batch -> Items still pending? -> Wait for provider -> Poll batch -> (loop)
 *                                                  \-> Wait for rate-limit turn -> Submit batch (items left for later
 * turns)
 *                                                  \-> Wait for batch queue room -> Submit batch (batch queue full)
 *                                                  \-> Gather items to resend -> Submit batch (transient failures)
 *   -> Finalize job (the reducer) -> Job finished | Job failed
 *
 * Every task retries transient errors by name; the batch tasks' Catch records the batch's items
 * failed, the map's Catch still finalizes the job (as FAILED), and the job tasks' Catch marks the
 * job FAILED before the Fail state, so no job stays RUNNING after its execution ends.
 */
export class JobWorkflow extends Construct {
  readonly definition: IChainable;
  readonly map: DistributedMap;

  constructor(scope: Construct, id: string, props: JobWorkflowProps) {
    super(scope, id);
    // The task's Task state, named as the registry says, invoking its function.
    const invoke = (task: WorkflowTaskName, extra: { payload?: TaskInput; resultPath?: string } = {}) =>
      addTaskRetries(
        new LambdaInvoke(this, TASKS[task].state, {
          stateName: TASKS[task].state,
          lambdaFunction: props.tasks[task],
          payloadResponseOnly: true,
          // Our retries (with jitter) cover the Lambda service errors too.
          retryOnServiceExceptions: false,
          taskTimeout: Timeout.duration(Duration.seconds(TASK_TIMEOUT_SECONDS + 30)),
          ...extra,
        }),
      );

    // The job's last stop when a job-level task fails for good.
    const workflowFailed = new Fail(this, STATE.workflowFailed, {
      stateName: STATE.workflowFailed,
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const markJobFailed = invoke('markJobFailed', { resultPath: '$.marked' }).next(workflowFailed);

    const prepareJob = invoke('prepareJob', {
      payload: TaskInput.fromObject({ 'input.$': '$', 'executionArn.$': '$$.Execution.Id' }),
      resultPath: '$.job',
    });
    prepareJob.addCatch(markJobFailed, { errors: [Errors.ALL], resultPath: '$.error' });

    // ---- one child execution per batch of items
    const recordBatchFailure = invoke('recordBatchFailure', { resultPath: '$.recorded' }).next(
      new Fail(this, STATE.batchFailed, {
        stateName: STATE.batchFailed,
        errorPath: '$.error.Error',
        causePath: '$.error.Cause',
      }),
    );
    const submitBatch = invoke('submitBatch');
    const pollBatch = invoke('pollBatch');
    for (const task of [submitBatch, pollBatch]) {
      task.addCatch(recordBatchFailure, { errors: [Errors.ALL], resultPath: '$.error' });
    }
    const waitForProvider = new Wait(this, STATE.waitForProvider, {
      stateName: STATE.waitForProvider,
      time: WaitTime.secondsPath('$.waitSeconds'),
    });
    // Items whose rate-limit turns are booked later: wait for them here, not in a Lambda.
    const waitForTurn = new Wait(this, STATE.waitForTurn, {
      stateName: STATE.waitForTurn,
      time: WaitTime.secondsPath('$.waitSeconds'),
    });
    // A batch-mode batch with no room in the provider's batch queue: wait here for running batches to end.
    const waitForQueueRoom = new Wait(this, STATE.waitForQueueRoom, {
      stateName: STATE.waitForQueueRoom,
      time: WaitTime.secondsPath('$.waitSeconds'),
    });
    // Items a poll queued again (transient failures): their lines are the child's own input.
    const gatherResend = new Pass(this, STATE.gatherResend, {
      stateName: STATE.gatherResend,
      parameters: {
        'Items.$': '$$.Execution.Input.Items',
        'BatchInput.$': '$.BatchInput',
        'pollTurn.$': '$.pollTurn',
      },
    });
    const itemsPending = new Choice(this, STATE.itemsPending, { stateName: STATE.itemsPending })
      .when(Condition.isPresent('$.queueFull'), waitForQueueRoom.next(submitBatch))
      .when(Condition.isPresent('$.unsent'), waitForTurn.next(submitBatch))
      .when(Condition.isPresent('$.resend'), gatherResend.next(submitBatch))
      .when(Condition.numberGreaterThan('$.pending', 0), waitForProvider.next(pollBatch))
      .otherwise(new Succeed(this, STATE.batchDone, { stateName: STATE.batchDone }));
    pollBatch.next(itemsPending);
    const child = submitBatch.next(itemsPending);

    this.map = new DistributedMap(this, STATE.processBatches, {
      stateName: STATE.processBatches,
      label: 'Batches',
      itemReader: new S3JsonLItemReader({
        bucketNamePath: JsonPath.stringAt('$.job.manifest.bucket'),
        key: JsonPath.stringAt('$.job.manifest.key'),
      }),
      itemBatcher: new ItemBatcher({
        maxItemsPerBatchPath: '$.job.batchSize',
        maxInputBytesPerBatch: MAX_BATCH_INPUT_BYTES,
        // The job's fixed context (shared/workflow-state.ts BatchInput), bounded by MAX_BATCH_CONTEXT_BYTES.
        batchInput: {
          'jobId.$': '$.job.jobId',
          'jobType.$': '$.job.jobType',
          'options.$': '$.job.options',
          'paramsInRecord.$': '$.job.paramsInRecord',
        },
      }),
      maxConcurrencyPath: '$.job.maxConcurrency',
      toleratedFailurePercentagePath: '$.job.toleratedFailurePercentage',
      // Provider work can take the whole 24 h batch window: Express children stop at 5 minutes.
      mapExecutionType: StateMachineType.STANDARD,
      // Child outputs go to S3, not into the state: thousands of them would pass 256 KiB.
      resultWriterV2: new ResultWriterV2({ bucket: props.bucket, prefix: MAP_RESULTS_PREFIX }),
      resultPath: '$.mapRun',
    });
    this.map.itemProcessor(child);

    // ---- the reducer
    const finalizeJob = invoke('finalizeJob', { resultPath: '$.summary' });
    finalizeJob.addCatch(markJobFailed, { errors: [Errors.ALL], resultPath: '$.error' });
    this.map.addCatch(finalizeJob, { errors: [Errors.ALL], resultPath: '$.mapError' });

    const ended = new Choice(this, STATE.jobEndedFailed, { stateName: STATE.jobEndedFailed })
      .when(
        Condition.stringEquals('$.summary.status', 'FAILED'),
        new Fail(this, STATE.jobFailed, {
          stateName: STATE.jobFailed,
          error: 'JobFailed',
          causePath: '$.summary.error.message',
        }),
      )
      .otherwise(new Succeed(this, STATE.jobFinished, { stateName: STATE.jobFinished }));

    // A retried schedule can start a job twice: only the execution that owns the job works on it.
    const duplicateStart = new Choice(this, STATE.duplicateStart, { stateName: STATE.duplicateStart })
      .when(
        Condition.booleanEquals('$.job.duplicate', true),
        new Succeed(this, STATE.duplicateIgnored, { stateName: STATE.duplicateIgnored }),
      )
      .otherwise(this.map);
    this.map.next(finalizeJob).next(ended);
    this.definition = prepareJob.next(duplicateStart);
  }
}
