import type { ManifestLine } from '../../shared/store/object-store.js';
import type { ApiTestEnv } from '../support/api.js';
import { requireJob } from '../support/deps.js';

/** The lines of the manifest the job's record points at (the one its execution reads). */
export async function manifestOf(e: ApiTestEnv, jobId: string): Promise<ManifestLine[]> {
  const job = await requireJob(e, jobId);
  const lines: ManifestLine[] = [];
  for await (const line of e.objects.readManifest(job.manifest)) lines.push(line);
  return lines;
}
