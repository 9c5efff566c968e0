import type { TokenUsage } from './types.js';

/**
 * Public list prices in USD per 1M tokens (input, output) for the standard tier, late 2026.
 * An estimate only: cached input, reasoning surcharges and regional pricing are ignored.
 * Longest prefix wins, so dated snapshots ("gpt-4o-mini-2024-07-18") match their family.
 */
const PRICES_PER_MILLION: Record<string, { input: number; output: number }> = {
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'o4-mini': { input: 1.1, output: 4.4 },
};

export function priceOf(model: string): { input: number; output: number } | undefined {
  let best: string | undefined;
  for (const name of Object.keys(PRICES_PER_MILLION)) {
    if ((model === name || model.startsWith(`${name}-`)) && (!best || name.length > best.length)) best = name;
  }
  return best ? PRICES_PER_MILLION[best] : undefined;
}

/**
 * Estimated cost of one request, or undefined for a model without a known price. `priceFactor`
 * is the share of the list price the provider mode bills (see ProviderModeStrategy).
 */
export function estimateCostUsd(
  model: string | undefined,
  usage: TokenUsage | undefined,
  priceFactor = 1,
): number | undefined {
  if (!model || !usage) return undefined;
  const price = priceOf(model);
  if (!price) return undefined;
  const full = (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000;
  return full * priceFactor;
}
