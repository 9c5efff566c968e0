import { afterEach, describe, expect, test } from '@jest/globals';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmBatchClient, LlmBatchClientConfigError, defaultAuthKind, regionOfHost } from '../../client/index.js';
import { startTestServer, type Answer, type ReceivedRequest, type TestServer } from './test-server.js';

const CREDENTIALS: AwsCredentialIdentity = {
  accessKeyId: 'AKIDCLIENTTEST',
  secretAccessKey: 'client-test-secret',
  sessionToken: 'client-test-session',
};
const JOB = { jobId: 'job-1', status: 'QUEUED' };

/**
 * What API Gateway's IAM authorizer does: recompute the SigV4 signature of the request as received
 * (its signed headers, path, query and body) with the same library and the caller's secret, and
 * compare it with the one sent.
 */
async function signatureIsValid(request: ReceivedRequest, credentials: AwsCredentialIdentity): Promise<boolean> {
  const authorization = String(request.headers.authorization ?? '');
  const parts =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/.exec(
      authorization,
    );
  if (!parts) return false;
  const [, accessKeyId, , region = '', service = '', signedHeaders = ''] = parts;
  if (accessKeyId !== credentials.accessKeyId) return false;
  const url = new URL(request.url, `http://${String(request.headers.host)}`);
  const amzDate = String(request.headers['x-amz-date']);
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({
    service,
    region,
    credentials,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
  });
  const expected = await signer.sign(
    new HttpRequest({
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(signedHeaders.split(';').map((name) => [name, String(request.headers[name])])),
      body: request.body,
    }),
    { signingDate },
  );
  return expected.headers.authorization === authorization;
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('SigV4 signing (service execute-api)', () => {
  test('GIVEN IAM auth WHEN the client reads, lists and creates THEN every request verifies with the same library', async () => {
    // GIVEN a server that checks each signature as API Gateway would
    const verdicts: boolean[] = [];
    server = await startTestServer(async (request) => {
      verdicts.push(await signatureIsValid(request, CREDENTIALS));
      return {
        status: request.method === 'POST' ? 202 : 200,
        body: request.url.startsWith('/jobs?') ? { jobs: [], nextCursor: null } : JOB,
      };
    });
    const client = new LlmBatchClient({
      baseUrl: server.url,
      auth: { kind: 'iam', credentials: CREDENTIALS, region: 'eu-west-1' },
    });

    // WHEN
    await client.listJobs({ status: 'RUNNING', limit: 2 });
    await client.getJob('ticket 7/ü');
    await client.createJob({ jobType: 'prompt', items: [{ id: 'a', prompt: 'héllo "quoted"' }] });

    // THEN
    expect(verdicts).toEqual([true, true, true]);
    const [list, read, create] = server.received;
    expect(list?.url).toBe('/jobs?status=RUNNING&limit=2');
    expect(read?.url).toBe('/jobs/ticket%207%2F%C3%BC');
    expect(create?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDCLIENTTEST\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]*idempotency-key[^,]*, /,
    );
    expect(create?.headers['x-amz-security-token']).toBe('client-test-session');
  });

  test('GIVEN a body changed after signing WHEN it arrives THEN the check refuses it (the check can fail)', async () => {
    // GIVEN a fetch that alters the body on the way
    const verdicts: boolean[] = [];
    server = await startTestServer(async (request) => {
      verdicts.push(await signatureIsValid(request, CREDENTIALS));
      return { status: 202, body: JOB };
    });
    const tampering: typeof fetch = (url, init) =>
      fetch(url, { ...init, body: (init?.body as string).replace('"a"', '"b"') });
    const client = new LlmBatchClient({
      baseUrl: server.url,
      auth: { kind: 'iam', credentials: CREDENTIALS, region: 'eu-west-1' },
      fetch: tampering,
    });

    // WHEN
    await client.createJob({ jobType: 'prompt', items: [{ id: 'a', prompt: 'x' }] });

    // THEN
    expect(verdicts).toEqual([false]);
  });

  test('GIVEN a profile WHEN IAM auth uses the default credential chain THEN it signs with that profile', async () => {
    // GIVEN a shared credentials file with the profile, and the SDK pointed at it
    const dir = await mkdtemp(join(tmpdir(), 'llm-batch-client-'));
    const saved = { credentials: process.env.AWS_SHARED_CREDENTIALS_FILE, config: process.env.AWS_CONFIG_FILE };
    await writeFile(
      join(dir, 'credentials'),
      `[llm-batch-test]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = profile-secret\n`,
    );
    await writeFile(join(dir, 'config'), '');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
    process.env.AWS_CONFIG_FILE = join(dir, 'config');
    const verdicts: boolean[] = [];
    server = await startTestServer(async (request) => {
      verdicts.push(
        await signatureIsValid(request, { accessKeyId: 'AKIDFROMPROFILE', secretAccessKey: 'profile-secret' }),
      );
      return { status: 200, body: JOB };
    });
    try {
      // WHEN
      const client = new LlmBatchClient({
        baseUrl: server.url,
        auth: { kind: 'iam', profile: 'llm-batch-test', region: 'us-west-2' },
      });
      await client.getJob('job-1');
    } finally {
      for (const [name, value] of [
        ['AWS_SHARED_CREDENTIALS_FILE', saved.credentials],
        ['AWS_CONFIG_FILE', saved.config],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await rm(dir, { recursive: true, force: true });
    }

    // THEN
    expect(verdicts).toEqual([true]);
  });

  test('the region comes from the execute-api host name, or must be given for another host', () => {
    expect(regionOfHost('a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com')).toBe('eu-west-1');
    expect(regionOfHost('api.example.com')).toBeUndefined();
    expect(defaultAuthKind(new URL('https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com'))).toBe('iam');
    expect(defaultAuthKind(new URL('http://127.0.0.1:3000'))).toBe('none');
    expect(() => new LlmBatchClient({ baseUrl: 'https://api.example.com' })).toThrow(LlmBatchClientConfigError);
    expect(() => new LlmBatchClient({ baseUrl: 'https://api.example.com' })).toThrow(
      'cannot tell the AWS region of api.example.com (not an execute-api host name): pass the region (--region)',
    );
  });
});

describe('results larger than the API answers inline', () => {
  test('GIVEN a 303 to a presigned URL WHEN results are read THEN they come from there, without our credentials', async () => {
    // GIVEN an API that redirects results to "S3" (another path of the same server)
    server = await startTestServer((request): Answer =>
      request.url === '/jobs/job-1/results'
        ? { status: 303, headers: { location: `${server?.url ?? ''}/bucket/results.jsonl?X-Amz-Signature=abc` } }
        : { status: 200, headers: { 'content-type': 'application/x-ndjson' }, body: '{"custom_id":"a"}\n' },
    );
    const client = new LlmBatchClient({
      baseUrl: server.url,
      auth: { kind: 'iam', credentials: CREDENTIALS, region: 'eu-west-1' },
    });

    // WHEN
    const results = await client.getResults('job-1');

    // THEN
    expect(results).toBe('{"custom_id":"a"}\n');
    const [api, s3] = server.received;
    expect(api?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    expect(s3?.url).toBe('/bucket/results.jsonl?X-Amz-Signature=abc');
    expect(
      Object.keys(s3?.headers ?? {}).filter((name) => name === 'authorization' || name.startsWith('x-amz-')),
    ).toEqual([]);
  });
});

describe('bearer tokens (the JWT option)', () => {
  test('GIVEN JWT auth with a token function WHEN two requests go out THEN each carries a fresh Bearer token', async () => {
    server = await startTestServer(() => ({ status: 200, body: JOB }));
    let issued = 0;
    const client = new LlmBatchClient({
      baseUrl: server.url,
      auth: { kind: 'jwt', token: () => `token-${++issued}` },
    });

    await client.getJob('job-1');
    await client.cancelJob('job-1');

    expect(server.received.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(server.received.map((r) => r.headers['x-amz-date'])).toEqual([undefined, undefined]);
  });
});
