import type { ProviderMode } from '../types.js';
import { batchMode } from './batch.js';
import type { ProviderModeStrategy } from './provider-mode.js';
import { responsesMode } from './responses.js';

export type { ProviderModeStrategy } from './provider-mode.js';

/** The provider modes by name: a job's `options.mode` picks one. */
export const PROVIDER_MODE_STRATEGIES: Readonly<Record<ProviderMode, ProviderModeStrategy>> = {
  responses: responsesMode,
  batch: batchMode,
};

export function modeOf(job: { options: { mode: ProviderMode } }): ProviderModeStrategy {
  return PROVIDER_MODE_STRATEGIES[job.options.mode];
}
