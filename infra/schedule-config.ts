import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScheduleConfigError, scheduleProblems } from './job-schedules.js';
import type { JobSchedule } from './schedules.js';

/** The app's configuration file, at the app root (where cdk.json is): `{ "schedules": [ ... ] }`. */
export const CONFIG_FILE_NAME = 'llm-batch.config.json';
/** The cdk.json context key that may hold the schedules instead (a list, or its JSON text with `-c`). */
export const SCHEDULES_CONTEXT_KEY = 'schedules';

const CONFIG_KEYS = ['$schema', 'schedules'];

export interface ScheduleConfigOptions {
  /** The folder holding llm-batch.config.json (the CDK app's working directory). */
  appRoot: string;
  /** The app's context (`app.node.getAllContext()`); its `schedules` key is the other source. */
  context: Record<string, unknown>;
  /** The checked inputBucketNames context: the buckets a template may name. */
  inputBucketNames: readonly string[];
}

/**
 * The scheduled jobs of the project's own app: from llm-batch.config.json or the `schedules`
 * context key (one of them; none means no schedules), every entry checked. Throws a
 * ScheduleConfigError that lists every problem, naming the entry (`schedules[i] "name"`) and the
 * field.
 */
export function readScheduleConfig(options: ScheduleConfigOptions): JobSchedule[] {
  const path = join(options.appRoot, CONFIG_FILE_NAME);
  const fromFile = existsSync(path) ? readConfigFile(path) : undefined;
  const fromContext = contextSchedules(options.context);
  if (fromFile?.schedules !== undefined && fromContext !== undefined) {
    throw new ScheduleConfigError(CONFIG_FILE_NAME, [
      `schedules are given both here and in the context key ${SCHEDULES_CONTEXT_KEY} (cdk.json or -c); keep one list`,
    ]);
  }
  const [source, entries] =
    fromContext !== undefined
      ? [`context ${SCHEDULES_CONTEXT_KEY}`, fromContext]
      : [CONFIG_FILE_NAME, fromFile?.schedules ?? []];
  if (!Array.isArray(entries)) {
    throw new ScheduleConfigError(source, [
      `schedules must be a list of { name, expression, timezone?, enabled?, template } (got ${JSON.stringify(entries)})`,
    ]);
  }
  const problems = scheduleProblems(entries, {
    list: 'schedules',
    inputBucketNames: options.inputBucketNames,
    allowBucket: (bucket, names) => `deploy with -c inputBucketNames=${[...names, bucket].join(',')}`,
  });
  if (problems.length > 0) throw new ScheduleConfigError(source, problems);
  return entries as JobSchedule[];
}

function readConfigFile(path: string): { schedules?: unknown } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ScheduleConfigError(CONFIG_FILE_NAME, [`is not valid JSON (${(error as Error).message})`]);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ScheduleConfigError(CONFIG_FILE_NAME, ['must be an object: { "schedules": [ ... ] }']);
  const unknown = Object.keys(parsed).filter((key) => !CONFIG_KEYS.includes(key));
  if (unknown.length > 0) {
    throw new ScheduleConfigError(
      CONFIG_FILE_NAME,
      unknown.map((key) => `${key} is not a setting of this file; it holds "schedules" (deploy options are context)`),
    );
  }
  return parsed;
}

/** The context list: cdk.json gives it as JSON, `-c schedules='[...]'` as its text. */
function contextSchedules(context: Record<string, unknown>): unknown {
  const raw = context[SCHEDULES_CONTEXT_KEY];
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new ScheduleConfigError(`context ${SCHEDULES_CONTEXT_KEY}`, [
      `is not a JSON list (${(error as Error).message})`,
    ]);
  }
}
