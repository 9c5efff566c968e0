import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { systemClock, type Clock } from '../../shared/clock.js';
import { payloadTooLargeResponse } from '../../tasks/api/error-responses.js';
import type { HttpResult } from '../../tasks/api/http.js';
import { LAMBDA_EVENT_MAX_BYTES } from '../../tasks/api/request-limits.js';

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>;

/** A local-only route tried before the API (the console): true when it answered the request. */
export type LocalRoute = (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<boolean>;

export interface LocalHttpApi {
  url: string;
  close(): Promise<void>;
}

/** What a Lambda context needs to carry for the handler; nothing reads the rest locally. */
function lambdaContext(requestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'llm-batch-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:llm-batch-api',
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/llm-batch-api',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The request body as API Gateway hands it to Lambda: text when it is UTF-8, else base64. Past
 * `maxBytes` the rest is read and dropped: the answer is a 413, sent once the client has sent it all.
 */
async function readBody(
  request: IncomingMessage,
  maxBytes: number,
): Promise<{ body?: string; isBase64Encoded: boolean; bytes: number }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request) {
    bytes += (chunk as Buffer).length;
    if (bytes <= maxBytes) chunks.push(chunk as Buffer);
  }
  if (bytes === 0 || bytes > maxBytes) return { isBase64Encoded: false, bytes };
  const raw = Buffer.concat(chunks);
  return isUtf8(raw)
    ? { body: raw.toString('utf8'), isBase64Encoded: false, bytes }
    : { body: raw.toString('base64'), isBase64Encoded: true, bytes };
}

/**
 * A local stand-in for API Gateway's HTTP API: turns each request into a payload v2 event for
 * the same handler that runs on Lambda, and its answer back into an HTTP response. No auth
 * (IAM auth is API Gateway's job), bound to 127.0.0.1. Like a deployed API it refuses a request
 * whose event is over Lambda's 6 MB, with a 413 that says to use input.key.
 */
export async function startLocalHttpApi(
  handler: ApiHandler,
  options: { port?: number; clock?: Clock; routes?: LocalRoute } = {},
): Promise<LocalHttpApi> {
  const clock = options.clock ?? systemClock;
  let requests = 0;
  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const method = request.method ?? 'GET';
      const requestId = `local-${++requests}`;
      const now = clock.now();
      const send = (result: HttpResult) => {
        response.writeHead(result.statusCode ?? 200, result.headers as Record<string, string> | undefined);
        response.end(result.body ?? '');
      };
      if (options.routes) {
        try {
          if (await options.routes(request, response, url)) return;
        } catch (error) {
          send({ statusCode: 500, body: JSON.stringify({ error: { code: 'InternalError', message: String(error) } }) });
          return;
        }
      }
      const body = await readBody(request, LAMBDA_EVENT_MAX_BYTES);
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(',') : (value ?? ''),
        ]),
      );
      const event: APIGatewayProxyEventV2 = {
        version: '2.0',
        routeKey: '$default',
        rawPath: url.pathname,
        rawQueryString: url.search.slice(1),
        headers,
        ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
        requestContext: {
          accountId: '000000000000',
          apiId: 'local',
          domainName: url.host,
          domainPrefix: 'local',
          http: {
            method,
            path: url.pathname,
            protocol: 'HTTP/1.1',
            sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
            userAgent: headers['user-agent'] ?? '',
          },
          requestId,
          routeKey: '$default',
          stage: '$default',
          time: now.toISOString(),
          timeEpoch: now.getTime(),
        },
        ...(body.body !== undefined ? { body: body.body } : {}),
        isBase64Encoded: body.isBase64Encoded,
      };
      try {
        const eventBytes = body.bytes > LAMBDA_EVENT_MAX_BYTES ? body.bytes : Buffer.byteLength(JSON.stringify(event));
        if (eventBytes > LAMBDA_EVENT_MAX_BYTES) {
          send(payloadTooLargeResponse(eventBytes));
          return;
        }
        send(await handler(event, lambdaContext(requestId)));
      } catch (error) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { code: 'InternalError', message: (error as Error).message } }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
