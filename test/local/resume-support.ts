/**
 * What the resume tests need around a `llm-batch run` child they kill: the mock provider served
 * from the test process (so it outlives every child, as a real provider would), in front of it a
 * proxy that notes every create call the children send, and a look into a killed child's data
 * dir: which items it had sent but not recorded (in flight at its death).
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_TABLE } from '../../local/local-stack.js';
import { startMockProvider, type MockProvider } from '../../local/mock-provider/server.js';
import { startLocalTable } from '../../local/services/local-table.js';
import { itemPartitions, readItemShards } from '../../shared/store/item-shards.js';
import { jobRecordsQuery, keys } from '../../shared/store/keys.js';

export interface CountingProvider {
  /** The base URL to hand the CLI as OPENAI_BASE_URL. */
  url: string;
  /** Create calls of responses mode, by Idempotency-Key (the SHA-256 of `<jobId>:<customId>`). */
  readonly responseCreates: Map<string, number>;
  /** Responses-mode creates the provider refused (429, 5xx): each is sent again, by design. */
  readonly refusedCreates: Map<string, number>;
  /** Create calls of batch mode, by the batch's metadata batchId. */
  readonly batchCreates: Map<string, number>;
  totalCreates(): number;
  /**
   * Resolves once no connection is open: a killed child's requests already on the wire have been
   * read (and counted) and its sockets closed. Read the counts of a dead child after this.
   */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** The Idempotency-Key a job's item is sent with (shared/provider/openai-client.ts). */
export function idempotencyKeyOf(jobId: string, customId: string): string {
  return createHash('sha256').update(`${jobId}:${customId}`, 'utf8').digest('hex');
}

export async function startCountingProvider(
  options: Parameters<typeof startMockProvider>[0],
): Promise<CountingProvider> {
  const mock: MockProvider = await startMockProvider({ ...options, timeScale: 1 });
  const responseCreates = new Map<string, number>();
  const batchCreates = new Map<string, number>();
  const refusedCreates = new Map<string, number>();
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = (request.url ?? '/').split('?')[0];
      const responseCreate = request.method === 'POST' && path === '/v1/responses';
      if (responseCreate) {
        bump(responseCreates, String(request.headers['idempotency-key']));
      } else if (request.method === 'POST' && path === '/v1/batches') {
        const { metadata } = JSON.parse(body.toString('utf8')) as { metadata?: { batchId?: string } };
        bump(batchCreates, String(metadata?.batchId));
      }
      const headers = Object.fromEntries(
        Object.entries(request.headers).filter(
          (entry): entry is [string, string] =>
            typeof entry[1] === 'string' && !['host', 'connection'].includes(entry[0]),
        ),
      );
      fetch(`${new URL(mock.url).origin}${request.url ?? '/'}`, {
        method: request.method ?? 'GET',
        headers,
        ...(body.length > 0 && { body }),
      })
        .then(async (answer) => {
          if (responseCreate && answer.status >= 429) bump(refusedCreates, String(request.headers['idempotency-key']));
          const text = Buffer.from(await answer.arrayBuffer());
          const answerHeaders = Object.fromEntries(answer.headers.entries());
          delete answerHeaders['content-encoding'];
          delete answerHeaders['content-length'];
          delete answerHeaders['transfer-encoding'];
          response.writeHead(answer.status, answerHeaders);
          response.end(text);
        })
        .catch(() => response.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    responseCreates,
    refusedCreates,
    batchCreates,
    totalCreates: () => [...responseCreates.values(), ...batchCreates.values()].reduce((sum, count) => sum + count, 0),
    settled: async () => {
      for (let waited = 0; waited < 5_000; waited += 10) {
        const open = await new Promise<number>((resolve) => server.getConnections((_error, count) => resolve(count)));
        if (open === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await mock.close();
    },
  };
}

/** A dead child's items and batches, read from its data dir (the child must be gone: LevelDB takes one process). */
export async function recordsLeftBy(
  dataDir: string,
  jobId: string,
): Promise<{ items: Map<string, string>; unsubmittedBatches: Set<string> }> {
  // The data dir's table as the runtime opens it (its embedded store, or dynalite's for an older data dir).
  const dynamo = await startLocalTable({ tableName: LOCAL_TABLE, dataDir });
  const client = dynamo.documentClient('us-east-1', undefined);
  try {
    const read = async (prefix: string, partition = keys.partition(jobId)) => {
      const query = jobRecordsQuery(jobId, prefix);
      const rows: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: LOCAL_TABLE,
            KeyConditionExpression: query.KeyConditionExpression,
            ExpressionAttributeValues: { ...query.values, ':pk': partition },
            ExclusiveStartKey: start,
          }),
        );
        rows.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return rows;
    };
    const { shards } = await readItemShards(client, LOCAL_TABLE, jobId);
    const itemRows = await Promise.all(itemPartitions(jobId, shards).map((pk) => read(keys.itemPrefix, pk)));
    const items = new Map(itemRows.flat().map((row) => [String(row.customId), String(row.status)]));
    const unsubmittedBatches = new Set(
      (await read('BATCH#')).filter((row) => row.providerBatchId === undefined).map((row) => String(row.batchId)),
    );
    return { items, unsubmittedBatches };
  } finally {
    client.destroy();
    await dynamo.close();
  }
}
