import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createJobTable } from '../../local/services/dynamodb.js';
import { openEmbeddedDynamo } from '../../local/services/embedded-dynamo/client.js';

/** dynalite ships no types: the factory returns an http.Server that also closes its store. */
type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

export interface TestTable {
  /** A document client on the table's server (undefined values removed, as in production). */
  dynamo: DynamoDBDocumentClient;
  tableName: string;
  /** The dynalite server's URL; undefined with the embedded store (no server). */
  endpoint: string | undefined;
  /** Stops the client and the server; the in-memory data is gone. */
  close(): Promise<void>;
}

/** The backend the store tests run against: LLM_BATCH_TEST_STORE=embedded|dynalite (default dynalite). */
export type TestStore = 'dynalite' | 'embedded';
export const TEST_STORE: TestStore = process.env.LLM_BATCH_TEST_STORE === 'embedded' ? 'embedded' : 'dynalite';

/**
 * The job table, made as the local runtime makes it from its one schema
 * (shared/store/table-schema.ts), on the backend TEST_STORE names: dynalite in memory on
 * 127.0.0.1 (a free port), reached by the SDK as DynamoDB is, or the local runtime's embedded
 * store in a temporary file. Each caller gets its own table, so test files never share data.
 */
export async function startTestTable(tableName = 'llm-batch-test'): Promise<TestTable> {
  if (TEST_STORE === 'embedded') {
    const store = openEmbeddedDynamo({ tableName });
    return { dynamo: store.client, tableName, endpoint: undefined, close: () => store.close() };
  }
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const close = async () => {
    client.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((error?: Error) => (error ? reject(error) : resolve())));
  };
  try {
    await createJobTable(client, tableName);
  } catch (error) {
    await close();
    throw error;
  }
  const dynamo = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return { dynamo, tableName, endpoint, close };
}
