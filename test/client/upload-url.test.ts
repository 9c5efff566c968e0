import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { S3Client } from '@aws-sdk/client-s3';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { LOCAL_REGION } from '../../local/local-stack.js';
import { LOCAL_CREDENTIALS } from '../../local/services/dynamodb.js';
import { startLocalS3, type LocalS3 } from '../../local/services/s3.js';
import { ObjectStore } from '../../shared/store/object-store.js';
import type { ApiDeps } from '../../tasks/api/api-deps.js';
import { createUpload, UPLOAD_MAX_BYTES, UPLOAD_URL_EXPIRES_SECONDS } from '../../tasks/api/create-upload.js';
import { httpEvent } from '../support/api.js';

const BUCKET = 'upload-test';

interface Target {
  key: string;
  url: string;
  headers: Record<string, string>;
  maxBytes: number;
  expiresAt: string;
}

/**
 * POST /uploads over the local S3 stand-in, with the S3 client as deployed (the SDK's default
 * request checksums on, which a presigned PUT must not carry).
 */
describe('POST /uploads: a presigned PUT bound to one size', () => {
  let s3Server: LocalS3;
  let objects: ObjectStore;

  beforeAll(async () => {
    s3Server = await startLocalS3({ bucketName: BUCKET });
    const s3 = new S3Client({
      region: LOCAL_REGION,
      endpoint: s3Server.endpoint,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
    });
    objects = new ObjectStore(s3, BUCKET);
  });
  afterAll(async () => {
    await s3Server.close();
  });

  async function upload(body: unknown): Promise<Target> {
    const answer = await createUpload(httpEvent('POST', '/uploads', { body }), { objects } as unknown as ApiDeps);
    expect(answer.statusCode).toBe(201);
    return JSON.parse(String(answer.body)) as Target;
  }

  /** The signature S3 computes for a PUT of `contentLength` bytes to this URL, with the same library. */
  async function signatureFor(url: URL, contentLength: number): Promise<string> {
    const query = Object.fromEntries(url.searchParams);
    const amzDate = query['X-Amz-Date'] ?? '';
    const presigner = new S3RequestPresigner({
      credentials: LOCAL_CREDENTIALS,
      region: LOCAL_REGION,
      sha256: Hash.bind(null, 'sha256'),
    });
    const { 'X-Amz-Signature': _signature, ...rest } = query;
    const signed = await presigner.presign(
      new HttpRequest({
        method: 'PUT',
        protocol: url.protocol,
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        query: rest,
        headers: { host: url.host, 'content-length': String(contentLength), 'content-type': 'application/x-ndjson' },
      }),
      {
        signingDate: new Date(
          `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
        ),
        expiresIn: Number(query['X-Amz-Expires']),
        signableHeaders: new Set(['content-length', 'content-type']),
      },
    );
    return String(signed.query?.['X-Amz-Signature']);
  }

  test('GIVEN a size WHEN an upload is asked for THEN the URL signs that size and the type, expires in 15 minutes, and carries no checksum', async () => {
    // WHEN
    const target = await upload({ contentLength: 1234, fileName: 'tickets.jsonl' });

    // THEN
    const url = new URL(target.url);
    expect(target.key).toMatch(/^inputs\/uploads\/[0-9a-f-]{36}\/tickets\.jsonl$/);
    expect(url.pathname).toBe(`/${BUCKET}/${target.key}`);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    expect(url.searchParams.get('X-Amz-Expires')).toBe(String(UPLOAD_URL_EXPIRES_SECONDS));
    expect([...url.searchParams.keys()].filter((name) => name.toLowerCase().includes('checksum'))).toEqual([]);
    expect(target.headers).toEqual({ 'content-length': '1234', 'content-type': 'application/x-ndjson' });
    expect(target.maxBytes).toBe(UPLOAD_MAX_BYTES);
    expect(UPLOAD_URL_EXPIRES_SECONDS).toBe(900);
  });

  test('GIVEN the URL WHEN S3 recomputes its signature THEN it matches for the size asked for and not for any other', async () => {
    const target = await upload({ contentLength: 5000 });
    const url = new URL(target.url);

    expect(await signatureFor(url, 5000)).toBe(url.searchParams.get('X-Amz-Signature'));
    expect(await signatureFor(url, 5001)).not.toBe(url.searchParams.get('X-Amz-Signature'));
    expect(await signatureFor(url, 4999)).not.toBe(url.searchParams.get('X-Amz-Signature'));
  });

  test('GIVEN the URL WHEN the file is PUT to the local S3 (path style, 127.0.0.1) THEN the object holds it', async () => {
    const jsonl = '{"id":"a","prompt":"x"}\n{"id":"b","prompt":"y"}\n';
    const target = await upload({ contentLength: Buffer.byteLength(jsonl) });

    const response = await fetch(target.url, { method: 'PUT', headers: target.headers, body: jsonl });

    expect(response.status).toBe(200);
    const lines = [];
    for await (const line of objects.readJsonl({ bucket: BUCKET, key: target.key })) lines.push(line.value);
    expect(lines).toEqual([
      { id: 'a', prompt: 'x' },
      { id: 'b', prompt: 'y' },
    ]);
  });

  test.each([
    [{}, 'contentLength', 'is required: the size of the file in bytes, a positive integer'],
    [{ contentLength: 0 }, 'contentLength', 'is required: the size of the file in bytes, a positive integer'],
    [{ contentLength: 1.5 }, 'contentLength', 'is required: the size of the file in bytes, a positive integer'],
    [
      { contentLength: UPLOAD_MAX_BYTES + 1 },
      'contentLength',
      `is ${UPLOAD_MAX_BYTES + 1} bytes; an upload takes at most ${UPLOAD_MAX_BYTES} bytes`,
    ],
    [{ contentLength: 10, fileName: 'a/b.jsonl' }, 'fileName', 'must be a file name without "/", e.g. "items.jsonl"'],
    [{ contentLength: 10, fileName: '..' }, 'fileName', 'must not have "." or ".." segments, got "inputs/uploads/'],
    [{ contentLength: 10, fileName: 'a%2e.jsonl' }, 'fileName', 'must not be percent-encoded'],
    [{ contentLength: 10, key: 'inputs/x' }, 'key', 'unknown field; known fields: contentLength, fileName'],
  ])('GIVEN %j WHEN an upload is asked for THEN a 400 at %s', async (body, where, message) => {
    const answer = await createUpload(httpEvent('POST', '/uploads', { body }), { objects } as unknown as ApiDeps).catch(
      (error: unknown) => error,
    );
    expect(answer).toMatchObject({
      name: 'ValidationError',
      issues: [{ where, message: expect.stringContaining(message) }],
    });
  });
});
