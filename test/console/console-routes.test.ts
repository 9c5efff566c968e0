import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { consoleRoutes } from '../../local/console/console-routes.js';
import type { RunView } from '../../local/console/run-view.js';
import type { GraphMachine } from '../../local/console/state-graph.js';
import { startLocalHttpApi, type LocalHttpApi } from '../../local/services/http-api.js';
import type { JobRecord } from '../../shared/types.js';
import { STATE } from '../../workflows/state-names.js';
import { Harness, jobDefinition, makeItems } from '../local/engine/harness.js';

/** The console's routes without a browser: the page, its assets, the graph and a job's run view. */

let h: Harness;
let api: LocalHttpApi;
let executionArn: string;

beforeAll(async () => {
  h = new Harness({ items: makeItems(7), job: { batchSize: 3 } });
  ({ executionArn } = await h.run());
  const jobs: Record<string, Partial<JobRecord>> = { 'job-1': { jobId: 'job-1', executionArn }, 'job-2': {} };
  const routes = await consoleRoutes({
    engine: h.engine,
    store: { getJob: (jobId) => Promise.resolve(jobs[jobId] as JobRecord | undefined) },
    definition: jobDefinition(),
  });
  // The API behind the console answers everything else.
  api = await startLocalHttpApi(() => Promise.resolve({ statusCode: 418, body: 'api' }), { routes });
});

afterAll(async () => {
  await api.close();
  await h.engine.shutdown();
});

describe('console routes', () => {
  test('GIVEN the root URL WHEN fetched THEN the page comes with its scripts, dagre among them', async () => {
    const page = await fetch(`${api.url}/`);
    const dagre = await fetch(`${api.url}/console/dagre.min.js`);
    const app = await fetch(`${api.url}/console/app.js`);

    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    await expect(page.text()).resolves.toContain('<script src="/console/dagre.min.js"></script>');
    expect(dagre.status).toBe(200);
    await expect(dagre.text()).resolves.toContain('var dagre=');
    expect(app.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  });

  test('GIVEN the graph route WHEN fetched THEN it has the console state names, the batch states inside the Map', async () => {
    const graph = (await (await fetch(`${api.url}/console/api/graph`)).json()) as GraphMachine;

    const map = graph.states.find((state) => state.processor);
    expect(graph.startAt).toBe(STATE.prepareJob);
    expect(map?.processor?.states.map((state) => state.name)).toEqual(
      expect.arrayContaining([
        STATE.submitBatch,
        STATE.waitForProvider,
        STATE.pollBatch,
        STATE.batchDone,
        STATE.batchFailed,
        'Wait for rate-limit turn',
      ]),
    );
    expect(graph.edges).toContainEqual({
      from: STATE.prepareJob,
      to: 'Mark job failed',
      kind: 'catch',
      label: 'catch States.ALL',
    });
  });

  test('GIVEN a finished job WHEN its run view is fetched THEN the map run counts its batches by the state they ended in', async () => {
    const { execution } = (await (await fetch(`${api.url}/console/api/jobs/job-1/run`)).json()) as {
      execution: RunView;
    };

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states[STATE.prepareJob]).toBe('done');
    expect(execution.mapRuns).toHaveLength(1);
    expect(execution.mapRuns[0]?.states).toEqual({ [STATE.batchDone]: { running: 0, ended: 3 } });
    expect(execution.mapRuns[0]?.itemCounts).toMatchObject({ succeeded: 7, total: 7 });
    expect(execution.events[0]?.type).toBe('ExecutionSucceeded');
    expect(execution.eventCount).toBeGreaterThan(execution.mapRuns.length);
  });

  test('GIVEN unknown jobs and paths WHEN fetched THEN 404s say so, a job without execution has none, the API gets the rest', async () => {
    const unknown = await fetch(`${api.url}/console/api/jobs/job-nobody/run`);
    const notStarted = await fetch(`${api.url}/console/api/jobs/job-2/run`);
    const asset = await fetch(`${api.url}/console/nope.js`);
    const apiRoute = await fetch(`${api.url}/jobs`);

    expect(unknown.status).toBe(404);
    await expect(unknown.json()).resolves.toMatchObject({ error: { code: 'JobNotFound' } });
    await expect(notStarted.json()).resolves.toEqual({ execution: null });
    expect(asset.status).toBe(404);
    expect(apiRoute.status).toBe(418);
  });
});
