import { LlmBatchClient } from '../../client/client.js';
import { defaultAuthKind, type AuthKind, type AuthOptions } from '../../client/auth.js';
import { UsageError } from './exit-codes.js';

/** `--api` as a base URL without a trailing slash; anything but an http(s) URL is a usage error. */
export function parseApiUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--api must be an http(s) URL such as http://127.0.0.1:3000, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--api must be an http(s) URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

/** How `--api` calls authenticate: `--auth iam|jwt|none`, `--token`, `--profile`, `--region`. */
export interface ApiAuthFlags {
  auth?: string;
  token?: string;
  profile?: string;
  region?: string;
}

const AUTH_KINDS: readonly AuthKind[] = ['iam', 'jwt', 'none'];

/**
 * The client for `--api` (a checked base URL), authenticated as the flags say; by default IAM for
 * https URLs and none for http (serve). Flags that do not fit the chosen auth are usage errors.
 */
export function apiClientFor(api: string, flags: ApiAuthFlags = {}): LlmBatchClient {
  const kind = (flags.auth ?? defaultAuthKind(new URL(api))) as AuthKind;
  if (!AUTH_KINDS.includes(kind)) throw new UsageError(`--auth must be iam, jwt or none, got "${flags.auth}"`);
  if (flags.token !== undefined && kind !== 'jwt')
    throw new UsageError(`--token goes with --auth jwt (auth is ${kind})`);
  if ((flags.profile !== undefined || flags.region !== undefined) && kind !== 'iam') {
    throw new UsageError(`--profile and --region go with --auth iam (auth is ${kind})`);
  }
  const auth: Record<AuthKind, () => AuthOptions> = {
    iam: () => ({
      kind: 'iam',
      ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
      ...(flags.region !== undefined ? { region: flags.region } : {}),
    }),
    jwt: () => {
      if (!flags.token) throw new UsageError('--auth jwt needs --token <token> (or LLM_BATCH_TOKEN)');
      return { kind: 'jwt', token: flags.token };
    },
    none: () => ({ kind: 'none' }),
  };
  try {
    return new LlmBatchClient({ baseUrl: api, auth: auth[kind]() });
  } catch (error) {
    if (error instanceof Error && error.name === 'LlmBatchClientConfigError') throw new UsageError(error.message);
    throw error;
  }
}
