import { PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { describe, expect, test } from '@jest/globals';
import { REPLAYED_HEADER } from '../../tasks/api/create-job.js';
import { errorOf, jobIdForKey, jobOf, useApiTestEnv, type ApiResponse } from '../support/api.js';
import { TEST_MODEL, promptLines } from '../support/deps.js';
import { manifestOf } from './manifest-of.js';

const env = useApiTestEnv();

const ITERATIONS = 50;
const REQUESTS = 8;
const BODIES = 4;

/** Body `n` of the race: its own items (ids b<n>-000...), so the manifest tells whose body it holds. */
function raceBody(n: number): Record<string, unknown> {
  return { jobType: 'prompt', options: { model: TEST_MODEL }, items: promptLines(n + 1, `b${n}`) };
}

describe('POST /jobs: one Idempotency-Key raced by several bodies at once', () => {
  test(`${REQUESTS} concurrent requests with ${BODIES} bodies, ${ITERATIONS} times: one creates the job; same body replays; others 409`, async () => {
    const e = env();
    for (let iteration = 0; iteration < ITERATIONS; iteration++) {
      // GIVEN one key and eight requests, two of each of four bodies
      const key = `race-${iteration}`;
      const jobId = jobIdForKey(key);
      const bodyOf = (request: number) => request % BODIES;

      // WHEN they are all sent at once
      const answers: ApiResponse[] = await Promise.all(
        Array.from({ length: REQUESTS }, (_, request) =>
          e.request('POST', '/jobs', { body: raceBody(bodyOf(request)), headers: { 'Idempotency-Key': key } }),
        ),
      );

      // THEN exactly one answer created the job (202, not marked replayed)
      const created = answers.flatMap((answer, request) =>
        answer.status === 202 && answer.headers[REPLAYED_HEADER] === undefined ? [request] : [],
      );
      expect(created).toHaveLength(1);
      const winner = bodyOf(created[0] ?? -1);
      // every other answer to the winning body is a replay of the same job; every other body a 409
      answers.forEach((answer, request) => {
        if (request === created[0]) return;
        if (bodyOf(request) === winner) {
          expect({ status: answer.status, replayed: answer.headers[REPLAYED_HEADER] }).toEqual({
            status: 202,
            replayed: 'true',
          });
          expect(jobOf(answer).jobId).toBe(jobId);
        } else {
          expect(answer.status).toBe(409);
          expect(errorOf(answer).code).toBe('IdempotencyKeyReused');
        }
      });
      // the job runs the winning body's items, as its record and its answer say
      const items = (raceBody(winner).items as { id: string }[]).map((item) => item.id);
      expect((await manifestOf(e, jobId)).map((line) => line.customId)).toEqual(items);
      expect(jobOf(answers[created[0] ?? -1] as ApiResponse).counts.total).toBe(items.length);
      // and its log says "job created" once
      const logs = (await e.store.listLogs(jobId, { limit: 100 })).items;
      expect(logs.filter((log) => log.message.startsWith('job created'))).toHaveLength(1);
    }
    const names = new Set(e.sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input.name));
    expect(names.size).toBe(ITERATIONS);
    // the requests did race: more manifests were written than jobs created
    expect(e.s3Mock.commandCalls(PutObjectCommand).length).toBeGreaterThan(ITERATIONS);
  });

  test('ten identical requests at once: one job, one "job created", and the nine others are marked replayed', async () => {
    // GIVEN ten copies of one request
    const e = env();
    const headers = { 'Idempotency-Key': 'ten-identical' };

    // WHEN they are sent at once
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => e.request('POST', '/jobs', { body: raceBody(2), headers })),
    );

    // THEN
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(202));
    expect(answers.filter((answer) => answer.headers[REPLAYED_HEADER] === 'true')).toHaveLength(9);
    const jobId = jobIdForKey('ten-identical');
    expect(new Set(answers.map((answer) => jobOf(answer).jobId))).toEqual(new Set([jobId]));
    const logs = (await e.store.listLogs(jobId, { limit: 100 })).items;
    expect(logs.filter((log) => log.message.startsWith('job created'))).toHaveLength(1);
  });
});
