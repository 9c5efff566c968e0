import { JOBS_INDEX, TABLE_KEY } from './table-schema.js';

const PK = TABLE_KEY.partition;
const SK = TABLE_KEY.sort;
const JOBS = 'JOBS';

/**
 * Single-table layout. A job's own records share its partition, so one Query reads its batches or
 * log entries; its items are spread over `itemShards` partitions (item-shards.ts: a hash of the
 * custom id), so no partition key takes more than DynamoDB's 1,000 writes a second.
 *
 *   pk                   sk                    record
 *   JOB#<jobId>          JOB                   the job (also gsi1: JOBS / <createdAt>#<jobId>, for listing)
 *   JOB#<jobId>#I<shard> ITEM#<customId>       one item (under JOB#<jobId> for a job recorded before shards)
 *   JOB#<jobId>          BATCH#<batchId>       one child batch of the Distributed Map
 *   JOB#<jobId>          LOG#<at>#<seq>        one log entry
 *   RATE#<keyId>         BUCKET                the shared rate-limit budget of one provider key (shared/rate-limit/)
 */
export const keys = {
  job: (jobId: string) => ({ [PK]: `JOB#${jobId}`, [SK]: 'JOB' }),
  /** The sort key's form; the partition is the item's shard: item-shards.ts's itemKey. */
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
