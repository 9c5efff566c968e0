import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, appendFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What a data dir keeps about a job run from the CLI, beside its DynamoDB and S3 data: where its
 * input and results are, which provider it was sent to, and how many create calls the current
 * process made for it. One file per job (`jobs/<jobId>.json`), replaced whole by each process
 * that runs the job (a session), and a ledger per session (`jobs/<jobId>.<session>.calls`).
 */
export interface JobSession {
  jobId: string;
  session: string;
  /** The input file (absolute) and the digest of its content and the job's options: a re-run of it resumes the job. */
  input?: string;
  inputDigest?: string;
  out?: string;
  /** `mock` (the built-in provider, its state kept in the data dir) or `openai:<key id>` (see providerKeyId). */
  provider: string;
  /** The job record's providerSubmitCalls when this session started, the dead sessions' calls included. */
  submitCallsAtStart: number;
  startedAt: string;
}

export type NewSession = Omit<JobSession, 'session' | 'startedAt'>;

/** The digest that identifies "the same job": the input's bytes, its job type and its options. */
export async function inputDigest(file: string, jobType: string, options: unknown): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  hash.update(`\n${JSON.stringify({ jobType, options })}`);
  return hash.digest('hex');
}

export class JobSessions {
  private readonly dir: string;
  /** The ledgers of the sessions this process runs, by job id. */
  private readonly ledgers = new Map<string, string>();

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'jobs');
  }

  async read(jobId: string): Promise<JobSession | undefined> {
    try {
      return JSON.parse(await readFile(this.file(jobId), 'utf8')) as JobSession;
    } catch {
      return undefined;
    }
  }

  /** Every job the CLI has run in this data dir. */
  async all(): Promise<JobSession[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const sessions = await Promise.all(
      names.filter((name) => name.endsWith('.json')).map((name) => this.read(name.slice(0, -'.json'.length))),
    );
    return sessions.filter((session): session is JobSession => session !== undefined);
  }

  /** Create calls a session made (one byte per call, appended before the call goes out). */
  callsOf(session: Pick<JobSession, 'jobId' | 'session'>): number {
    try {
      return statSync(this.ledger(session)).size;
    } catch {
      return 0;
    }
  }

  /**
   * Starts this process's session of a job: the file is replaced whole (written aside, renamed),
   * so a process killed at any point leaves either the last session or this one. The last
   * session's ledger goes once this one is in place.
   */
  async begin(next: NewSession): Promise<JobSession> {
    await mkdir(this.dir, { recursive: true });
    const previous = await this.read(next.jobId);
    const session: JobSession = { ...next, session: randomUUID().slice(0, 8), startedAt: new Date().toISOString() };
    await writeFile(`${this.file(next.jobId)}.next`, JSON.stringify(session, null, 2));
    await rename(`${this.file(next.jobId)}.next`, this.file(next.jobId));
    if (previous) await rm(this.ledger(previous), { force: true });
    this.ledgers.set(next.jobId, this.ledger(session));
    return session;
  }

  /**
   * Notes one create call for a job this process runs, synchronously, before it is sent: the
   * count survives a kill at any point after (an in-flight call counts as made).
   */
  countCall(jobId: string): void {
    const ledger = this.ledgers.get(jobId);
    if (ledger) appendFileSync(ledger, '.');
  }

  private file(jobId: string): string {
    return join(this.dir, `${jobId}.json`);
  }

  private ledger(session: Pick<JobSession, 'jobId' | 'session'>): string {
    return join(this.dir, `${session.jobId}.${session.session}.calls`);
  }
}
