import { JOBS_INDEX, TABLE_KEY } from './table-schema.js';

const PK = TABLE_KEY.partition;
const SK = TABLE_KEY.sort;
const JOBS = 'JOBS';

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
  job: (jobId: string) => ({ [PK]: `JOB#${jobId}`, [SK]: 'JOB' }),
  item: (jobId: string, customId: string) => ({ [PK]: `JOB#${jobId}`, [SK]: `ITEM#${customId}` }),
  batch: (jobId: string, batchId: string) => ({ [PK]: `JOB#${jobId}`, [SK]: `BATCH#${batchId}` }),
  log: (jobId: string, at: string, seq: string) => ({ [PK]: `JOB#${jobId}`, [SK]: `LOG#${at}#${seq}` }),
  partition: (jobId: string) => `JOB#${jobId}`,
  itemPrefix: 'ITEM#',
  logPrefix: 'LOG#',
  jobsIndex: { name: JOBS_INDEX.name, pk: JOBS },
  /** A job's entry in the jobs index, sorted by creation time. */
  jobsIndexEntry: (job: { jobId: string; createdAt: string }) => ({
    [JOBS_INDEX.partition]: JOBS,
    [JOBS_INDEX.sort]: `${job.createdAt}#${job.jobId}`,
  }),
} as const;

/** The key condition of a Query for one kind of a job's records: its partition, sort keys starting with `prefix`. */
export function jobRecordsQuery(jobId: string, prefix: string) {
  return {
    KeyConditionExpression: `${PK} = :pk AND begins_with(${SK}, :prefix)`,
    values: { ':pk': keys.partition(jobId), ':prefix': prefix },
  };
}
