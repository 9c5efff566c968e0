import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { PassThrough, Readable } from 'node:stream';
import type { OutputLine, S3Location } from '../types.js';

/** An object that was read once and had another version when read again. */
export class ObjectChangedError extends Error {
  override readonly name = 'ObjectChangedError';
  constructor(readonly location: S3Location) {
    super(`s3://${location.bucket}/${location.key} changed while it was read`);
  }
}

/** One line of a job's manifest: what the Distributed Map's ItemReader reads. */
export interface ManifestLine {
  index: number;
  customId: string;
  line: Record<string, unknown>;
}

/** A line of a JSONL file, parsed or not, with its 1-based line number. */
export type JsonlLine =
  { lineNumber: number; value: unknown; error?: undefined } | { lineNumber: number; value?: undefined; error: string };

export interface ResultsWriter {
  write(line: OutputLine): Promise<void>;
  /** Finishes the upload; returns where the file is. */
  close(): Promise<S3Location>;
  /** Stops the upload and leaves nothing behind. */
  abort(): Promise<void>;
}

/**
 * Job files in S3:
 *   jobs/<jobId>/manifest.jsonl            the validated items, one ManifestLine each
 *   jobs/<jobId>/manifest-<writeId>.jsonl  the same for an API job, whose id requests may race for:
 *                                          each writes its own, the job record points at the winner's
 *   jobs/<jobId>/results.jsonl             the results, in the OpenAI Batch output format
 *   jobs/<jobId>/outputs/<hash>.json       an item output too large for its DynamoDB record
 */
export class ObjectStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  manifestLocation(jobId: string, writeId?: string): S3Location {
    const name = writeId === undefined ? 'manifest.jsonl' : `manifest-${writeId}.jsonl`;
    return { bucket: this.bucket, key: `jobs/${jobId}/${name}` };
  }

  resultsLocation(jobId: string): S3Location {
    return { bucket: this.bucket, key: `jobs/${jobId}/results.jsonl` };
  }

  /**
   * Writes a job's manifest. With a `writeId` (unique per write) the key is this write's alone,
   * and `If-None-Match: *` has S3 refuse to replace an object there. Lines given as a stream (a
   * file's items read again) go up as a multipart upload, so no line is held longer than its part;
   * a stream that throws leaves no manifest.
   */
  async putManifest(
    jobId: string,
    lines: readonly ManifestLine[] | AsyncIterable<ManifestLine>,
    writeId?: string,
  ): Promise<S3Location> {
    const location = this.manifestLocation(jobId, writeId);
    const params = {
      Bucket: location.bucket,
      Key: location.key,
      ContentType: 'application/x-ndjson',
      ...(writeId !== undefined && { IfNoneMatch: '*' }),
    };
    if (Array.isArray(lines)) {
      const body = lines.map((line) => JSON.stringify(line)).join('\n') + (lines.length ? '\n' : '');
      await this.s3.send(new PutObjectCommand({ ...params, Body: body }));
    } else {
      const source = { error: undefined as unknown };
      const body = Readable.from(jsonlChunks(lines as AsyncIterable<ManifestLine>, source));
      // When the lines fail, that is the error to report, not a failure to clean up the parts.
      await new Upload({ client: this.s3, params: { ...params, Body: body } }).done().catch((error: unknown) => {
        throw source.error ?? error;
      });
    }
    return location;
  }

  async *readManifest(location: S3Location): AsyncGenerator<ManifestLine> {
    for await (const line of this.readJsonl(location)) {
      if (line.error !== undefined) {
        throw new Error(`manifest s3://${location.bucket}/${location.key} line ${line.lineNumber}: ${line.error}`);
      }
      yield line.value as ManifestLine;
    }
  }

  /** Streams a JSONL object line by line; blank lines are skipped, bad JSON reported per line. */
  async *readJsonl(location: S3Location, ifMatch?: string): AsyncGenerator<JsonlLine> {
    const { Body } = await this.readObject(location, ifMatch);
    if (!Body) return;
    yield* parseJsonlStream(Body as Readable);
  }

  /**
   * A JSONL object to read more than once, each read the same bytes: the first read notes the
   * object's ETag, later ones ask for it (`If-Match`) and throw ObjectChangedError when S3 has
   * another version.
   */
  rereadableJsonl(location: S3Location): () => AsyncGenerator<JsonlLine> {
    let etag: string | undefined;
    const readObject = (ifMatch: string | undefined) => this.readObject(location, ifMatch);
    return async function* read() {
      const first = etag === undefined;
      let answer;
      try {
        answer = await readObject(etag);
      } catch (error) {
        if (!first && (error as { name?: unknown }).name === 'PreconditionFailed')
          throw new ObjectChangedError(location);
        throw error;
      }
      if (first) etag = answer.ETag;
      // A stand-in that ignores If-Match still answers with the version it sent.
      else if (answer.ETag !== etag) {
        (answer.Body as Readable | undefined)?.destroy();
        throw new ObjectChangedError(location);
      }
      if (answer.Body) yield* parseJsonlStream(answer.Body as Readable);
    };
  }

  private readObject(location: S3Location, ifMatch?: string) {
    return this.s3.send(
      new GetObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        ...(ifMatch !== undefined && { IfMatch: ifMatch }),
      }),
    );
  }

  /** Streams the results file to S3 as it is written (multipart), so memory stays flat. */
  openResultsWriter(jobId: string): ResultsWriter {
    const location = this.resultsLocation(jobId);
    const stream = new PassThrough();
    const upload = new Upload({
      client: this.s3,
      params: { Bucket: location.bucket, Key: location.key, Body: stream, ContentType: 'application/x-ndjson' },
    });
    const done = upload.done();
    // Surface upload errors on close, not as unhandled rejections.
    done.catch(() => undefined);
    return {
      write: async (line) => {
        if (!stream.write(`${JSON.stringify(line)}\n`)) {
          await new Promise<void>((resolve) => stream.once('drain', resolve));
        }
      },
      close: async () => {
        stream.end();
        await done;
        return location;
      },
      abort: async () => {
        await upload.abort();
        stream.destroy();
      },
    };
  }

  async putItemOutput(jobId: string, customId: string, output: OutputLine): Promise<string> {
    const key = `jobs/${jobId}/outputs/${createHash('sha256').update(customId).digest('hex')}.json`;
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(output),
        ContentType: 'application/json',
      }),
    );
    return key;
  }

  async getItemOutput(key: string): Promise<OutputLine> {
    const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if (!Body) throw new Error(`item output s3://${this.bucket}/${key} is empty`);
    return JSON.parse(await Body.transformToString()) as OutputLine;
  }

  /** The object's text if it is at most `maxBytes`, else undefined. */
  async readIfSmall(location: S3Location, maxBytes: number): Promise<string | undefined> {
    const head = await this.s3.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }));
    if ((head.ContentLength ?? 0) > maxBytes) return undefined;
    const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    return Body ? Body.transformToString() : '';
  }

  /**
   * A PUT URL for the object that takes exactly `contentLength` bytes of `contentType`: both
   * headers are signed, so S3 refuses any other size (SignatureDoesNotMatch). The SDK's default
   * request checksum is left out: presigned before the body exists, it would be the CRC32 of an
   * empty body, and S3 would refuse every real upload.
   */
  presignPut(
    location: S3Location,
    put: { contentLength: number; contentType: string; expiresInSeconds: number },
  ): Promise<string> {
    const command = new PutObjectCommand({
      Bucket: location.bucket,
      Key: location.key,
      ContentLength: put.contentLength,
      ContentType: put.contentType,
    });
    command.middlewareStack.add(
      (next) => (args) => {
        const { headers } = args.request as { headers: Record<string, string> };
        for (const name of Object.keys(headers))
          if (/^x-amz-(checksum-|sdk-checksum-)/.test(name)) delete headers[name];
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'presignWithoutChecksum' },
    );
    return getSignedUrl(this.s3, command, {
      expiresIn: put.expiresInSeconds,
      signableHeaders: new Set(['content-length', 'content-type']),
    });
  }

  /** A GET URL for the object, valid for 15 minutes. */
  presignGet(location: S3Location): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: location.bucket, Key: location.key }), {
      expiresIn: 900,
    });
  }
}

/** Parses JSONL from a stream, one entry per non-blank line, with its 1-based line number. */
/**
 * Lines as JSONL in chunks of about 64 KiB (a Buffer per line would be a million small
 * allocations); an error of `lines` is kept in `source`.
 */
async function* jsonlChunks(lines: AsyncIterable<unknown>, source: { error: unknown }): AsyncGenerator<Buffer> {
  let chunk = '';
  try {
    for await (const line of lines) {
      chunk += `${JSON.stringify(line)}\n`;
      if (chunk.length >= 65_536) {
        yield Buffer.from(chunk);
        chunk = '';
      }
    }
  } catch (error) {
    source.error = error;
    throw error;
  }
  if (chunk) yield Buffer.from(chunk);
}

export async function* parseJsonlStream(input: Readable): AsyncGenerator<JsonlLine> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const text of lines) {
    lineNumber++;
    if (!text.trim()) continue;
    try {
      yield { lineNumber, value: JSON.parse(text) as unknown };
    } catch (error) {
      yield { lineNumber, error: `not valid JSON (${(error as Error).message})` };
    }
  }
}
