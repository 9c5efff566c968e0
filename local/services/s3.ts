import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface LocalS3 {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * S3 on 127.0.0.1 (s3rver), storing objects under `dataDir` or a temporary folder that is removed
 * on close. Creates the job bucket.
 */
export async function startLocalS3(options: { bucketName: string; dataDir?: string; port?: number }): Promise<LocalS3> {
  const directory = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'llm-batch-s3-')));
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory,
    configureBuckets: [{ name: options.bucketName, configs: [] }],
  });
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: async () => {
      await server.close();
      if (!options.dataDir) await rm(directory, { recursive: true, force: true });
    },
  };
}
