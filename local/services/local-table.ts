import { DynamoDBDocumentClient, type TranslateConfig } from '@aws-sdk/lib-dynamodb';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalDynamo } from './dynamodb.js';
import { EMBEDDED_STORE_FILE, openEmbeddedDynamo } from './embedded-dynamo/client.js';

/**
 * Where the local runtime keeps its job table: `embedded` (the default: SQLite in process, see
 * embedded-dynamo/) or `dynalite` (DynamoDB's HTTP API in a worker thread, reached through the
 * SDK as the deployed code reaches DynamoDB: what test/iam records).
 */
export type LocalStoreKind = 'embedded' | 'dynalite';

/** dynalite's folder in a data dir. */
const DYNALITE_FOLDER = 'dynamodb';

export interface LocalTable {
  readonly kind: LocalStoreKind;
  /** dynalite's HTTP endpoint; none for the embedded store. */
  readonly endpoint: string | undefined;
  /** Where the data lives, for people: a URL or a file. */
  readonly location: string;
  /** The tasks' document client (the embedded store keeps JSON: undefined values dropped, as deployed). */
  documentClient(region: string, translateConfig: TranslateConfig | undefined): DynamoDBDocumentClient;
  close(): Promise<void>;
}

/**
 * The store a data dir holds: a data dir written by dynalite (before the embedded store existed)
 * keeps being opened by dynalite, so its jobs stay resumable; anything else gets the embedded store.
 */
export function storeKindFor(dataDir: string | undefined, asked: LocalStoreKind | undefined): LocalStoreKind {
  if (asked) return asked;
  const olderDynalite =
    dataDir !== undefined &&
    existsSync(join(dataDir, DYNALITE_FOLDER)) &&
    !existsSync(join(dataDir, EMBEDDED_STORE_FILE));
  return olderDynalite ? 'dynalite' : 'embedded';
}

export async function startLocalTable(options: {
  tableName: string;
  dataDir?: string;
  store?: LocalStoreKind;
}): Promise<LocalTable> {
  const kind = storeKindFor(options.dataDir, options.store);
  if (kind === 'embedded') {
    const store = openEmbeddedDynamo({
      tableName: options.tableName,
      ...(options.dataDir !== undefined && { dataDir: options.dataDir }),
    });
    return {
      kind,
      endpoint: undefined,
      location: `embedded (SQLite) ${store.file}`,
      documentClient: () => store.client,
      close: () => store.close(),
    };
  }
  const dynamo = await startLocalDynamo({
    tableName: options.tableName,
    ...(options.dataDir !== undefined && { dataDir: join(options.dataDir, DYNALITE_FOLDER) }),
  });
  return {
    kind,
    endpoint: dynamo.endpoint,
    location: dynamo.endpoint,
    documentClient: (region, translateConfig) =>
      DynamoDBDocumentClient.from(dynamo.client({ region }), translateConfig),
    close: () => dynamo.close(),
  };
}
