/**
 * The local console: a page at the HTTP API's root URL that reads the same HTTP API, plus two
 * local-only JSON routes for what the API does not give (the state graph, and where a job's
 * execution and its child executions are). Assets are files served as they are, dagre's browser
 * bundle from node_modules: nothing is built and nothing is fetched from the internet.
 */
import { readdir, readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StepFunctionsApiError } from '../engine/errors.js';
import type { LocalStepFunctions } from '../engine/local-step-functions.js';
import type { JobRecord } from '../../shared/types.js';
import type { LocalRoute } from '../services/http-api.js';
import { runView } from './run-view.js';
import { stateGraph, type GraphMachine } from './state-graph.js';

export interface ConsoleDeps {
  engine: LocalStepFunctions;
  store: { getJob(jobId: string): Promise<JobRecord | undefined> };
  /** The rendered definition the engine runs. */
  definition: Record<string, unknown>;
}

/** Everything the console serves sits under this prefix, apart from the page itself at `/`. */
export const CONSOLE_PREFIX = '/console/';

const ASSETS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'assets');
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function dagreBundle(): string {
  const main = createRequire(import.meta.url).resolve('@dagrejs/dagre');
  return join(dirname(main), 'dagre.min.js');
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(text);
}

async function sendFile(response: ServerResponse, path: string): Promise<void> {
  const body = await readFile(path);
  const type = CONTENT_TYPES[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream';
  response.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
  response.end(body);
}

export async function consoleRoutes(deps: ConsoleDeps): Promise<LocalRoute> {
  const files = new Map<string, string>();
  for (const name of await readdir(ASSETS_DIR)) files.set(`${CONSOLE_PREFIX}${name}`, join(ASSETS_DIR, name));
  files.set(`${CONSOLE_PREFIX}dagre.min.js`, dagreBundle());
  const graph: GraphMachine = stateGraph(deps.definition as never);
  const startAt = (mapState: string) => graph.states.find((s) => s.name === mapState)?.processor?.startAt;

  return async (request, response, url) => {
    if (request.method !== 'GET') return false;
    const path = url.pathname;
    if (path === '/favicon.ico') {
      response.writeHead(204).end();
      return true;
    }
    if (path === '/' || path === '/index.html') {
      await sendFile(response, join(ASSETS_DIR, 'index.html'));
      return true;
    }
    if (!path.startsWith(CONSOLE_PREFIX)) return false;
    const file = files.get(path);
    if (file) {
      await sendFile(response, file);
      return true;
    }
    if (path === `${CONSOLE_PREFIX}api/graph`) {
      sendJson(response, 200, graph);
      return true;
    }
    const run = /^\/console\/api\/jobs\/([^/]+)\/run$/.exec(path);
    if (run?.[1]) {
      const jobId = decodeURIComponent(run[1]);
      const job = await deps.store.getJob(jobId);
      if (!job) sendJson(response, 404, { error: { code: 'JobNotFound', message: `job ${jobId} does not exist` } });
      else if (!job.executionArn) sendJson(response, 200, { execution: null });
      else {
        try {
          sendJson(response, 200, { execution: runView(deps.engine, job.executionArn, startAt) });
        } catch (error) {
          // A job kept on disk from an earlier run of serve: its execution ran in that process.
          if (!(error instanceof StepFunctionsApiError)) throw error;
          sendJson(response, 200, { execution: null, note: `${error.name}: ${error.message}` });
        }
      }
      return true;
    }
    sendJson(response, 404, { error: { code: 'NotFound', message: `no console resource ${path}` } });
    return true;
  };
}
