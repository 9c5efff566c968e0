import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import lockfile from 'proper-lockfile';

/** Refreshed every STALE_MS / 2 while held; a lock older than this whose holder we cannot see is taken over. */
const STALE_MS = 10_000;
const LOCK_NAME = 'llm-batch.lock';
const OWNER_NAME = 'llm-batch.lock.owner.json';

/** Who holds a data dir: written beside the lock when it is taken. */
export interface LockOwner {
  pid: number;
  command: string;
  since: string;
}

/** Another live process holds the data dir: one process at a time may open its DynamoDB and S3. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner | undefined,
  ) {
    super(
      `data dir ${dataDir} is in use by another llm-batch process` +
        (owner ? ` (pid ${owner.pid}: llm-batch ${owner.command}, since ${owner.since})` : '') +
        '; wait for it to end or stop it, or use another --data-dir',
    );
  }
}

/**
 * Takes the data dir for this process (proper-lockfile: an atomic mkdir, kept fresh while held,
 * given back at exit, even process.exit). A lock left by a process that died (SIGKILL) is taken
 * over at once when its pid is gone, else once it is stale. Returns the release.
 */
export async function lockDataDir(
  dataDir: string,
  command = process.argv.slice(2).join(' '),
): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true });
  const lockPath = join(dir, LOCK_NAME);
  const ownerPath = join(dir, OWNER_NAME);
  const take = () =>
    lockfile.lock(dir, {
      lockfilePath: lockPath,
      realpath: false,
      stale: STALE_MS,
      retries: 0,
      // A refresh that came late (a blocked event loop) must not crash the run: only this process uses the lock.
      onCompromised: () => undefined,
    });
  let release: () => Promise<void>;
  try {
    release = await take();
  } catch (error) {
    if ((error as { code?: string }).code !== 'ELOCKED') throw error;
    const owner = await readOwner(ownerPath);
    if (!owner || isAlive(owner.pid)) throw new DataDirLockedError(dir, owner);
    // Its holder is dead (killed before it could give it back): the lock is ours to take.
    await rm(lockPath, { recursive: true, force: true });
    release = await take().catch((retry: unknown) => {
      throw (retry as { code?: string }).code === 'ELOCKED' ? new DataDirLockedError(dir, undefined) : retry;
    });
  }
  const owner: LockOwner = { pid: process.pid, command, since: new Date().toISOString() };
  await writeFile(ownerPath, JSON.stringify(owner));
  return async () => {
    await rm(ownerPath, { force: true });
    await release().catch(() => undefined);
  };
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as Partial<LockOwner>;
    return typeof owner.pid === 'number' ? (owner as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}
