import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  RedriveExecutionCommand,
} from '@aws-sdk/client-sfn';
import pMap from 'p-map';
import { errorMessage, JobNotRedrivableError, JobStartFailedError } from '../../shared/errors.js';
import { STORE_CONCURRENCY } from '../../shared/item-outcomes.js';
import { isUnfinished, jobFailedEnding } from '../../shared/job-lifecycle.js';
import { JobProgress } from '../../shared/store/job-progress.js';
import type { ItemRecord, JobRecord } from '../../shared/types.js';
import type { ApiDeps } from './api-deps.js';
import { json, type HttpEvent, type HttpResult } from './http.js';
import { jobView, loadJob } from './jobs-api.js';

/**
 * The error code the job-level safety nets (execution ended, Mark job failed) end unfinished
 * items with: the items a redrive reopens. Taken from the one place that sets it.
 */
export const REOPENABLE_CODE = jobFailedEnding({ name: '', message: '' }).reason.code;

/**
 * POST /jobs/{id}/redrive: continues a FAILED job's execution where it stopped (Step Functions
 * RedriveExecution), after undoing what the safety net did when it ended: the job goes back to
 * RUNNING and the items it ended are reopened (sent ones SUBMITTED, to be polled; never-sent ones
 * back to no record, to be sent). Finished items keep their outcome and nothing sent is sent again.
 *
 * Refused (409, with the reason) unless the execution can usefully be redriven: the job is FAILED,
 * its execution FAILED, TIMED_OUT or ABORTED and redrivable, and it did not end in a Fail state
 * (a failure the workflow handled: its reducer or Mark job failed already ended the items, and a
 * redrive would only reach the Fail state again; POST /jobs/{id}/retry is the way there).
 */
export async function redriveJob(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const job = await loadJob(event, deps);
  const executionArn = await redrivableExecution(job, deps);
  const ended = await itemsToReopen(job, deps);
  const reopened = await deps.store.jobs.reopenForRedrive(job.jobId, executionArn);
  if (!reopened) throw new JobNotRedrivableError(job.jobId, 'it is not FAILED any more (another redrive went first)');
  const items = await reopenItems(deps, ended);
  try {
    await deps.sfn.send(new RedriveExecutionCommand({ executionArn }));
  } catch (error) {
    await restore(deps, job, items);
    if (error instanceof ExecutionNotRedrivable) throw new JobNotRedrivableError(job.jobId, error.message);
    deps.logger.error('could not redrive the job execution', { jobId: job.jobId, error: errorMessage(error) });
    throw new JobStartFailedError(
      job.jobId,
      'the execution could not be redriven now; the job is FAILED as before: repeat the request',
      { cause: error },
    );
  }
  await deps.store.appendLog(job.jobId, 'INFO', `job redriven: ${items.length} items reopened`, {
    executionArn,
    redriveCount: reopened.redriveCount ?? 1,
  });
  return json(202, jobView(reopened, deps));
}

/** The job's execution ARN if a redrive can continue it, else the reason why not. */
async function redrivableExecution(job: JobRecord, deps: ApiDeps): Promise<string> {
  const refuse = (reason: string) => new JobNotRedrivableError(job.jobId, reason);
  if (job.status === 'QUEUED' || job.status === 'RUNNING')
    throw refuse(`it is ${job.status}; only a job whose execution failed, timed out or was stopped can be redriven`);
  if (job.status !== 'FAILED') {
    const retry = job.counts.failed > 0 ? `; POST /jobs/${job.jobId}/retry runs its failed items as a new job` : '';
    throw refuse(`it ended ${job.status} and its execution succeeded${retry}`);
  }
  const executionArn = job.executionArn;
  if (!executionArn) throw refuse('it never had an execution; submit it again');
  let execution;
  try {
    execution = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist) throw refuse('its execution no longer exists');
    throw error;
  }
  if (execution.redriveStatus === 'NOT_REDRIVABLE')
    throw refuse(execution.redriveStatusReason ?? `its execution is ${execution.status} and cannot be redriven`);
  if (execution.status === 'FAILED') {
    const failState = await endedInFailState(executionArn, deps);
    if (failState)
      throw refuse(
        `its workflow handled the failure and ended in the Fail state "${failState}" after ending the items; a redrive ` +
          `would only fail there again: POST /jobs/${job.jobId}/retry runs the failed items as a new job`,
      );
  }
  return executionArn;
}

/** The Fail state the execution ended in, if it did (its last events: FailStateEntered, ExecutionFailed). */
async function endedInFailState(executionArn: string, deps: ApiDeps): Promise<string | undefined> {
  const { events = [] } = await deps.sfn.send(
    new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 2, includeExecutionData: false }),
  );
  const before = events[1];
  return before?.type === 'FailStateEntered' ? (before.stateEnteredEventDetails?.name ?? 'Fail') : undefined;
}

/**
 * The items the safety net ended, once it has ended them all: every manifest line has a record
 * and none is unfinished. Until then (it is still sweeping) a redrive would race it: refused.
 */
async function itemsToReopen(job: JobRecord, deps: ApiDeps): Promise<ItemRecord[]> {
  const ended: ItemRecord[] = [];
  let records = 0;
  let unfinished = 0;
  for await (const page of deps.store.allItems(job.jobId)) {
    records += page.length;
    for (const item of page) {
      if (isUnfinished(item.status)) unfinished++;
      else if (item.status === 'FAILED' && item.error?.code === REOPENABLE_CODE) ended.push(item);
    }
  }
  if (unfinished > 0 || records < job.counts.total)
    throw new JobNotRedrivableError(
      job.jobId,
      'its items are still being ended after the execution ended; try again in a moment',
    );
  return ended;
}

/** Reopens the ended items (each conditionally) and takes them off the job's live failed count. */
async function reopenItems(deps: ApiDeps, ended: readonly ItemRecord[]): Promise<ItemRecord[]> {
  const reopened: ItemRecord[] = [];
  await pMap(
    ended,
    async (item) => {
      if (await deps.store.reopening.reopen(item, REOPENABLE_CODE)) reopened.push(item);
    },
    { concurrency: STORE_CONCURRENCY },
  );
  const first = ended[0];
  if (first && reopened.length > 0) {
    const progress = new JobProgress();
    progress.counts.failed = -reopened.length;
    await deps.store.addProgress(first.jobId, progress);
  }
  return reopened;
}

/** The redrive did not start: the job and its reopened items end as they were. */
async function restore(deps: ApiDeps, job: JobRecord, items: readonly ItemRecord[]): Promise<void> {
  await pMap(
    items,
    (item) =>
      deps.store.items.finish(
        job.jobId,
        item.customId,
        { status: 'FAILED', ...(item.error && { error: item.error }), ...(item.output && { output: item.output }) },
        { create: { index: item.index, batchId: item.batchId } },
      ),
    { concurrency: STORE_CONCURRENCY },
  );
  await deps.store.failJob(job.jobId, job.error ?? { name: 'RedriveFailed', message: 'the redrive did not start' });
}
