import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_REGION } from '../../local/local-stack.js';
import { LOCAL_CREDENTIALS } from '../../local/services/dynamodb.js';
import { startLocalS3, type LocalS3 } from '../../local/services/s3.js';
import { ObjectChangedError, ObjectStore, type ManifestLine } from '../../shared/store/object-store.js';

const BUCKET = 'manifest-test';

function manifestLine(index: number): ManifestLine {
  // About 1 KB a line with non-ASCII text: 7,000 lines pass one 5 MB part.
  return { index, customId: `item-${index}-é`, line: { id: `item-${index}-é`, prompt: `Über ${index} `.repeat(90) } };
}

async function* streamed(count: number, failAt?: number): AsyncGenerator<ManifestLine> {
  for (let index = 0; index < count; index++) {
    if (index % 1000 === 0) await Promise.resolve(); // a file read arrives in chunks
    if (index === failAt) throw new Error('the input changed');
    yield manifestLine(index);
  }
}

/** A job's input read twice and its manifest streamed, on the local S3 stand-in (s3rver). */
describe('a job input read twice, a manifest from a stream', () => {
  let server: LocalS3;
  let s3: S3Client;
  let objects: ObjectStore;

  beforeAll(async () => {
    server = await startLocalS3({ bucketName: BUCKET });
    s3 = new S3Client({
      region: LOCAL_REGION,
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    objects = new ObjectStore(s3, BUCKET);
  });
  afterAll(async () => {
    s3.destroy();
    await server.close();
  });

  async function readBack(location: { bucket: string; key: string }): Promise<ManifestLine[]> {
    const lines: ManifestLine[] = [];
    for await (const line of objects.readManifest(location)) lines.push(line);
    return lines;
  }

  test('GIVEN more lines than one part holds WHEN put from a stream THEN every line reads back in order', async () => {
    const location = await objects.putManifest('job-big', streamed(7_000));

    const lines = await readBack(location);
    expect(lines).toHaveLength(7_000);
    expect(lines[0]).toEqual(manifestLine(0));
    expect(lines[6_999]).toEqual(manifestLine(6_999));
    expect(lines.every((line, index) => line.index === index)).toBe(true);
  });

  test('GIVEN a few lines WHEN put from a stream or from an array THEN the objects are the same', async () => {
    const fromArray = await objects.putManifest('job-array', [0, 1, 2].map(manifestLine));
    const fromStream = await objects.putManifest('job-stream', streamed(3));

    expect(await readBack(fromStream)).toEqual(await readBack(fromArray));
  });

  test.each([
    ['within the first part', 10],
    ['after a part was sent', 6_500],
  ])('GIVEN a stream that throws %s WHEN put THEN the put fails and no manifest is there', async (_when, failAt) => {
    const location = objects.manifestLocation(`job-fails-${failAt}`);

    await expect(objects.putManifest(`job-fails-${failAt}`, streamed(7_000, failAt))).rejects.toThrow(
      'the input changed',
    );

    await expect(s3.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }))).rejects.toMatchObject({
      name: 'NotFound',
    });
  });

  test('GIVEN an input read once WHEN it is read again unchanged THEN the same lines, and once replaced THEN ObjectChangedError', async () => {
    const location = { bucket: BUCKET, key: 'inputs/twice.jsonl' };
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: location.key, Body: '{"id":"a"}\n{"id":"b"}\n' }));
    const read = objects.rereadableJsonl(location);
    const lines = async () => {
      const all: unknown[] = [];
      for await (const line of read()) all.push(line.value);
      return all;
    };

    const first = await lines();
    const again = await lines();
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: location.key, Body: '{"id":"c"}\n' }));

    expect(first).toEqual([{ id: 'a' }, { id: 'b' }]);
    expect(again).toEqual(first);
    await expect(lines()).rejects.toBeInstanceOf(ObjectChangedError);
  });
});
