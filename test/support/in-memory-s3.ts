import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  type GetObjectCommandInput,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  type HeadObjectCommandInput,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
  type UploadPartCommandInput,
} from '@aws-sdk/client-s3';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';

async function bodyBytes(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof Blob) return Buffer.from(await body.arrayBuffer());
  if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    return Buffer.concat(chunks);
  }
  throw new Error(`in-memory S3: unsupported body type ${Object.prototype.toString.call(body)}`);
}

/** S3's ETag of a single-part object: the MD5 of its bytes, quoted. */
function etagOf(bytes: Buffer): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

/** A GetObject body as the SDK hands it out: a Node Readable with the SDK's transform helpers. */
function sdkBody(bytes: Buffer): GetObjectCommandOutput['Body'] {
  const stream = Readable.from([bytes]);
  return Object.assign(stream, {
    transformToString: (encoding: BufferEncoding = 'utf8') => Promise.resolve(bytes.toString(encoding)),
    transformToByteArray: () => Promise.resolve(new Uint8Array(bytes)),
    transformToWebStream: () => new Blob([new Uint8Array(bytes)]).stream(),
  }) as unknown as GetObjectCommandOutput['Body'];
}

/**
 * The objects behind the mocked S3Client: PutObject (also what lib-storage's Upload sends for a
 * small file), the multipart commands (what it sends for a large one), GetObject and HeadObject.
 */
export class InMemoryS3 {
  readonly objects = new Map<string, Buffer>();
  /** Called on each GetObject answered, with its key (a test replaces an object between two reads). */
  onGet: ((key: string) => void) | undefined;
  private readonly uploads = new Map<string, { bucket: string; key: string; parts: Map<number, Buffer> }>();

  private static id(bucket: string | undefined, key: string | undefined): string {
    return `${bucket ?? ''}/${key ?? ''}`;
  }

  put(bucket: string, key: string, body: string): void {
    this.objects.set(InMemoryS3.id(bucket, key), Buffer.from(body, 'utf8'));
  }

  text(bucket: string, key: string): string | undefined {
    return this.objects.get(InMemoryS3.id(bucket, key))?.toString('utf8');
  }

  install(mock: AwsClientStub<S3Client>): void {
    mock.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      this.objects.set(InMemoryS3.id(input.Bucket, input.Key), await bodyBytes(input.Body));
      return { ETag: `"${randomUUID()}"` };
    });
    mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
      const bytes = this.objects.get(InMemoryS3.id(input.Bucket, input.Key));
      if (!bytes)
        throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
      const etag = etagOf(bytes);
      if (input.IfMatch !== undefined && input.IfMatch !== etag) {
        throw new S3ServiceException({
          name: 'PreconditionFailed',
          $fault: 'client',
          message: 'At least one of the pre-conditions you specified did not hold',
          $metadata: { httpStatusCode: 412 },
        });
      }
      this.onGet?.(input.Key ?? '');
      return { Body: sdkBody(bytes), ContentLength: bytes.length, ETag: etag };
    });
    mock.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) => {
      const bytes = this.objects.get(InMemoryS3.id(input.Bucket, input.Key));
      // S3 answers a HEAD of a missing key with a bare 404: the SDK names it NotFound, not NoSuchKey.
      if (!bytes) throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
      return { ContentLength: bytes.length };
    });
    mock.on(CreateMultipartUploadCommand).callsFake((input: { Bucket?: string; Key?: string }) => {
      const uploadId = randomUUID();
      this.uploads.set(uploadId, { bucket: input.Bucket ?? '', key: input.Key ?? '', parts: new Map() });
      return { UploadId: uploadId, Bucket: input.Bucket, Key: input.Key };
    });
    mock.on(UploadPartCommand).callsFake(async (input: UploadPartCommandInput) => {
      const upload = this.uploads.get(input.UploadId ?? '');
      if (!upload) throw new Error(`in-memory S3: no upload ${input.UploadId}`);
      upload.parts.set(input.PartNumber ?? 0, await bodyBytes(input.Body));
      return { ETag: `"part-${input.PartNumber}"` };
    });
    mock.on(CompleteMultipartUploadCommand).callsFake((input: { UploadId?: string }) => {
      const upload = this.uploads.get(input.UploadId ?? '');
      if (!upload) throw new Error(`in-memory S3: no upload ${input.UploadId}`);
      const parts = [...upload.parts.entries()].sort(([a], [b]) => a - b).map(([, bytes]) => bytes);
      this.objects.set(InMemoryS3.id(upload.bucket, upload.key), Buffer.concat(parts));
      this.uploads.delete(input.UploadId ?? '');
      return { Bucket: upload.bucket, Key: upload.key, ETag: `"${randomUUID()}"` };
    });
    mock.on(AbortMultipartUploadCommand).callsFake((input: { UploadId?: string }) => {
      this.uploads.delete(input.UploadId ?? '');
      return {};
    });
  }
}
