/**
 * Single-table layout. Every record of a job shares its partition, so one Query reads a job's
 * items, batches or log entries.
 *
 *   pk            sk                    record
 *   JOB#<jobId>   JOB                   the job (also gsi1: JOBS / <createdAt>#<jobId>, for listing)
 *   JOB#<jobId>   ITEM#<customId>       one item
 *   JOB#<jobId>   BATCH#<batchId>       one child batch of the Distributed Map
 *   JOB#<jobId>   LOG#<at>#<seq>        one log entry
 *   RATE#<keyId>  BUCKET                the shared rate-limit budget of one provider key (shared/rate-limit/)
 */
export const keys = {
  job: (jobId: string) => ({ pk: `JOB#${jobId}`, sk: 'JOB' }),
  item: (jobId: string, customId: string) => ({ pk: `JOB#${jobId}`, sk: `ITEM#${customId}` }),
  batch: (jobId: string, batchId: string) => ({ pk: `JOB#${jobId}`, sk: `BATCH#${batchId}` }),
  log: (jobId: string, at: string, seq: string) => ({ pk: `JOB#${jobId}`, sk: `LOG#${at}#${seq}` }),
  partition: (jobId: string) => `JOB#${jobId}`,
  itemPrefix: 'ITEM#',
  logPrefix: 'LOG#',
  jobsIndex: { name: 'gsi1', pk: 'JOBS' },
} as const;
