import pMap from 'p-map';
import type { TaskDeps } from './deps.js';
import { errorMessage } from './errors.js';
import type { ProviderMode } from './types.js';

/**
 * Withdraws submitted work from the provider so nothing keeps running or billing after its items
 * end: each background response is cancelled, each provider batch once. Best effort: the provider
 * may be what is failing, and ending the items matters more; failures are logged, not thrown.
 * `alreadyCancelled` carries provider batch ids across calls of one sweep.
 */
export async function withdrawFromProvider(
  deps: TaskDeps,
  jobId: string,
  mode: ProviderMode,
  items: readonly { status?: string; providerId?: string | undefined }[],
  alreadyCancelled: Set<string> = new Set(),
): Promise<void> {
  const ids = [...new Set(items.filter((i) => i.providerId && (i.status === undefined || i.status === 'SUBMITTED')).map((i) => i.providerId as string))]
    .filter((id) => !alreadyCancelled.has(id));
  if (ids.length === 0) return;
  for (const id of ids) alreadyCancelled.add(id);
  try {
    const provider = await deps.provider();
    await pMap(ids, (id) => (mode === 'batch' ? provider.cancelBatch(id) : provider.cancelRequest(id)), { concurrency: 8 });
  } catch (error) {
    deps.logger.warn('could not withdraw work from the provider', { jobId, error: errorMessage(error) });
  }
}
