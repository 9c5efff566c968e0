/** State names as they read in the Step Functions console graph (and as tests and the local runtime find them). */
export const STATE = {
  prepareJob: 'Prepare job',
  processBatches: 'Process items in batches',
  submitBatch: 'Submit batch',
  itemsPending: 'Items still pending?',
  waitForProvider: 'Wait for provider',
  pollBatch: 'Poll batch',
  batchDone: 'Batch done',
  recordBatchFailure: 'Record batch failure',
  batchFailed: 'Batch failed',
  finalizeJob: 'Finalize job',
  jobEndedFailed: 'Job ended FAILED?',
  jobFinished: 'Job finished',
  jobFailed: 'Job failed',
  markJobFailed: 'Mark job failed',
  workflowFailed: 'Workflow failed',
} as const;
