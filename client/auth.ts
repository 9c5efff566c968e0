import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { LlmBatchClientConfigError } from './errors.js';

/** A request about to be sent, as auth sees it. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** One way of proving who calls: it returns the headers to send (signed, or with a token). */
export interface RequestAuth {
  readonly kind: AuthKind;
  headersFor(request: OutgoingRequest): Promise<Record<string, string>>;
}

export type AuthKind = 'iam' | 'jwt' | 'none';

/** How the client authenticates; `kind` picks the strategy. */
export type AuthOptions =
  | {
      /** SigV4 (service execute-api), the stack's default authorization. */
      kind: 'iam';
      /** Credentials, or a provider of them. @default the AWS SDK's default chain (env, profile, SSO, IMDS...) */
      credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
      /** A named profile for the default chain. @default AWS_PROFILE or "default" */
      profile?: string;
      /** @default the region in the API's execute-api host name */
      region?: string;
    }
  | {
      /** A bearer token, for a stack deployed with a JWT authorizer (jwtIssuer, jwtAudience). */
      kind: 'jwt';
      /** The token, or a function that returns a fresh one for each request. */
      token: string | (() => string | Promise<string>);
    }
  | { kind: 'none' };

/** IAM for https URLs (API Gateway), none for plain http (serve, a local proxy). */
export function defaultAuthKind(baseUrl: URL): AuthKind {
  return baseUrl.protocol === 'https:' ? 'iam' : 'none';
}

/** The region of an `<api-id>.execute-api.<region>.amazonaws.com` host, else undefined (a custom domain). */
export function regionOfHost(hostname: string): string | undefined {
  return /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(hostname)?.[1];
}

const STRATEGIES: { [K in AuthKind]: (options: Extract<AuthOptions, { kind: K }>, baseUrl: URL) => RequestAuth } = {
  iam: (options, baseUrl) => {
    const region = options.region ?? regionOfHost(baseUrl.hostname);
    if (!region) {
      throw new LlmBatchClientConfigError(
        `cannot tell the AWS region of ${baseUrl.host} (not an execute-api host name): pass the region (--region)`,
      );
    }
    const signer = new SignatureV4({
      service: 'execute-api',
      region,
      credentials: options.credentials ?? fromNodeProviderChain(options.profile ? { profile: options.profile } : {}),
      sha256: Hash.bind(null, 'sha256'),
      // x-amz-content-sha256 is for S3; API Gateway hashes the body itself (and CORS does not allow the header).
      applyChecksum: false,
    });
    return {
      kind: 'iam',
      headersFor: async (request) => {
        const signed = await signer.sign(
          new HttpRequest({
            method: request.method,
            protocol: request.url.protocol,
            hostname: request.url.hostname,
            ...(request.url.port ? { port: Number(request.url.port) } : {}),
            path: request.url.pathname,
            query: Object.fromEntries(request.url.searchParams),
            headers: { ...request.headers, host: request.url.host },
            ...(request.body !== undefined ? { body: request.body } : {}),
          }),
        );
        return signed.headers;
      },
    };
  },
  jwt: (options) => ({
    kind: 'jwt',
    headersFor: async (request) => {
      const token = typeof options.token === 'function' ? await options.token() : options.token;
      if (!token) throw new LlmBatchClientConfigError('the JWT option needs a token (--token)');
      return { ...request.headers, authorization: `Bearer ${token}` };
    },
  }),
  none: () => ({ kind: 'none', headersFor: (request) => Promise.resolve(request.headers) }),
};

/** The auth strategy for `options` (default: defaultAuthKind of the URL). */
export function createAuth(options: AuthOptions | undefined, baseUrl: URL): RequestAuth {
  const chosen = options ?? ({ kind: defaultAuthKind(baseUrl) } as AuthOptions);
  return (STRATEGIES[chosen.kind] as (options: AuthOptions, baseUrl: URL) => RequestAuth)(chosen, baseUrl);
}
