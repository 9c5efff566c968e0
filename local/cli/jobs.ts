import { TERMINAL_JOB_STATUSES, type JobRecord } from '../../shared/types.js';
import { JobSessions } from '../data-dir/job-sessions.js';
import { itemsDone } from '../data-dir/take-over.js';
import { LocalRuntime, type LocalRuntimeOptions } from '../local-stack.js';
import { EXIT } from './exit-codes.js';

/** One job of a data dir, as `llm-batch jobs` shows it. */
export interface LocalJobLine {
  jobId: string;
  status: string;
  /** Not ended: no process runs it now (this one holds the data dir), `llm-batch resume` goes on with it. */
  resumable: boolean;
  done: number;
  total: number;
  percent: number;
  createdAt: string;
  input?: string;
}

/** `llm-batch jobs --data-dir D`: the jobs there, newest first, with status and progress. */
export async function listLocalJobs(runtimeOptions: LocalRuntimeOptions & { dataDir: string }, json: boolean) {
  const runtime = await LocalRuntime.start(runtimeOptions);
  let lines: LocalJobLine[];
  try {
    const sessions = new Map((await new JobSessions(runtimeOptions.dataDir).all()).map((s) => [s.jobId, s]));
    const jobs: JobRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await runtime.deps.store.listJobs({ limit: 1000, ...(cursor && { cursor }) });
      jobs.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
    lines = [];
    for (const job of jobs) {
      const line = lineOf(job, sessions.get(job.jobId)?.input);
      // Its process died: the live counters lack what its last tasks did, the items have it.
      if (line.resumable) {
        line.done = await itemsDone(runtime.clients.dynamo, runtime.config.tableName, job.jobId);
        line.percent = percentOf(line.done, line.total);
      }
      lines.push(line);
    }
  } finally {
    await runtime.stop();
  }
  process.stdout.write(json ? `${JSON.stringify(lines)}\n` : table(lines, runtimeOptions.dataDir));
  return EXIT.ok;
}

function lineOf(job: JobRecord, input: string | undefined): LocalJobLine {
  const { counts } = job;
  const done = counts.succeeded + counts.failed + counts.cancelled;
  return {
    jobId: job.jobId,
    status: job.status,
    resumable: !TERMINAL_JOB_STATUSES.includes(job.status),
    done,
    total: counts.total,
    percent: percentOf(done, counts.total),
    createdAt: job.createdAt,
    ...(input && { input }),
  };
}

const percentOf = (done: number, total: number) => (total === 0 ? 100 : Math.floor((100 * done) / total));

function table(lines: LocalJobLine[], dataDir: string): string {
  if (lines.length === 0) return `no jobs in data dir ${dataDir}\n`;
  const header = ['JOB', 'STATUS', 'DONE', 'CREATED', 'INPUT'];
  const rows = [
    header,
    ...lines.map((line) => [
      line.jobId,
      line.resumable ? `${line.status} (resumable)` : line.status,
      `${line.done}/${line.total} (${line.percent}%)`,
      line.createdAt,
      line.input ?? '',
    ]),
  ];
  const widths = header.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
