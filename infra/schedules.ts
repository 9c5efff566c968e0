/**
 * A job started on a schedule. The project's app reads the entries from llm-batch.config.json
 * (infra/schedule-config.ts); the LlmBatch construct takes them as its `schedules` prop. Each
 * entry becomes one EventBridge Scheduler schedule that starts
 * the job state machine directly (no Lambda in between) with
 *
 *   { "schedule": { "name": "<name>", "time": "<the scheduled time>" }, "template": { ... } }
 *
 * The workflow derives the job id from the name and the scheduled time
 * (shared/execution-input.ts, scheduledJobId), so a retried start runs the same job.
 * Checked when the construct is built (infra/job-schedules.ts, scheduleProblems): a bad entry
 * stops `cdk synth` with a message that names the entry and the field and says what to change.
 */
export interface JobSchedule {
  /** The schedule's name, and the prefix of every job id it starts: 1 to 63 of A-Z a-z 0-9 _ -. */
  name: string;
  /** When to start: 'cron(0 3 * * ? *)', 'rate(1 day)' or a one-time 'at(2026-12-01T03:00:00)'. */
  expression: string;
  /** An IANA time zone for cron and at expressions, e.g. 'Europe/Berlin'. @default 'UTC' */
  timezone?: string;
  /** A disabled schedule is deployed but starts nothing. @default true */
  enabled?: boolean;
  /** The job to run: a registered job type, its options, and the JSONL object with the items. */
  template: {
    jobType: string;
    options?: unknown;
    /** `key` in the job bucket, or in `bucket`: an input bucket (inputBuckets, or inputBucketNames context). */
    input: { key: string; bucket?: string };
  };
}
