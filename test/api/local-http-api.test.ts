import { afterEach, describe, expect, test } from '@jest/globals';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { startLocalHttpApi, type LocalHttpApi } from '../../local/services/http-api.js';
import { json } from '../../tasks/api/http.js';
import { LAMBDA_EVENT_MAX_BYTES } from '../../tasks/api/request-limits.js';

// The local API Gateway adapter, with a handler that records the events it is given.
let api: LocalHttpApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function startRecording(): Promise<{ url: string; events: APIGatewayProxyEventV2[] }> {
  const events: APIGatewayProxyEventV2[] = [];
  api = await startLocalHttpApi((event) => {
    events.push(event);
    return Promise.resolve(json(200, { ok: true }));
  });
  return { url: api.url, events };
}

function post(url: string, body: string | Buffer): Promise<Response> {
  return fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

describe('the local HTTP API refuses what a deployed one would', () => {
  test(`a request over Lambda's ${LAMBDA_EVENT_MAX_BYTES}-byte event -> 413 pointing at input.key; the handler never runs`, async () => {
    // GIVEN a body that fits but whose event (with headers and context) does not, and one far over
    const { url, events } = await startRecording();
    const justOver = `"${'x'.repeat(LAMBDA_EVENT_MAX_BYTES - 100)}"`;
    const farOver = `"${'x'.repeat(LAMBDA_EVENT_MAX_BYTES + 1_000_000)}"`;

    for (const body of [justOver, farOver]) {
      // WHEN
      const response = await post(url, body);

      // THEN
      expect(response.status).toBe(413);
      const answer = (await response.json()) as { error: { code: string; message: string } };
      expect(answer.error.code).toBe('PayloadTooLarge');
      expect(answer.error.message).toMatch(
        new RegExp(
          `^the request is \\d+ bytes as a Lambda event; the API takes at most ${LAMBDA_EVENT_MAX_BYTES} \\(Lambda's 6 MB\\): ` +
            'put the items in a JSONL file under inputs/ in the job bucket and pass input.key$',
        ),
      );
    }
    expect(events).toEqual([]);
  });

  test('a request under the limit reaches the handler as text', async () => {
    const { url, events } = await startRecording();

    const response = await post(url, `{"jobType":"prompt","pad":"${'x'.repeat(1_000_000)}"}`);

    expect(response.status).toBe(200);
    expect(events).toHaveLength(1);
    expect(events[0]?.isBase64Encoded).toBe(false);
    expect(events[0]?.body?.startsWith('{"jobType":"prompt"')).toBe(true);
  });

  test('a body that is not UTF-8 reaches the handler base64-encoded, byte for byte, as API Gateway sends it', async () => {
    const { url, events } = await startRecording();
    const bytes = Buffer.from([0x7b, 0xe9, 0x7d]);

    await post(url, bytes);

    expect(events[0]?.isBase64Encoded).toBe(true);
    expect(Buffer.from(events[0]?.body ?? '', 'base64')).toEqual(bytes);
  });
});
