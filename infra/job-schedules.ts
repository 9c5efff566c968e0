import { Duration, RemovalPolicy, Stack, TimeZone } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ContextAttribute,
  Schedule,
  ScheduleExpression,
  ScheduleGroup,
  ScheduleTargetInput,
  TimeWindow,
} from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { scheduledJobId } from '../shared/execution-input.js';
import { createDefaultRegistry } from '../shared/job-types/registry.js';
import type { JobSchedule } from './schedules.js';

/** Scheduler retries a failed StartExecution (throttling, a service error) this often ... */
export const SCHEDULE_RETRY_ATTEMPTS = 5;
/** ... for at most this long after the scheduled time; a later start would be a surprise. */
export const SCHEDULE_MAX_EVENT_AGE = Duration.hours(1);
/** EventBridge Scheduler's limit on a target's input. */
export const SCHEDULE_INPUT_MAX_CHARS = 8192;

const NAME = /^[A-Za-z0-9_-]+$/;
const EXPRESSION = /^(cron|rate|at)\(.+\)$/;
const SAMPLE_TIME = '2026-01-01T00:00:00Z';
/** The name survives whole in scheduledJobId (`<name>-<time>`, cut to a Step Functions execution name). */
const keptWhole = (name: string) =>
  scheduledJobId(name, SAMPLE_TIME) === `${name}-${scheduledJobId('', SAMPLE_TIME).slice(1)}`;

/** The longest schedule name scheduledJobId keeps whole (63: 80 characters less `-yyyymmddThhmmssZ`). */
export const MAX_SCHEDULE_NAME_LENGTH = (() => {
  let length = 1;
  while (keptWhole('a'.repeat(length + 1))) length += 1;
  return length;
})();

/**
 * Schedule entries the app cannot deploy. `problems` holds one line per entry and field (the
 * message lists them all), each naming the entry and what to change.
 */
export class ScheduleConfigError extends Error {
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(
      `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'} with scheduled jobs:\n- ${problems.join('\n- ')}`,
    );
    this.name = 'ScheduleConfigError';
    this.problems = problems;
  }
}

export interface JobSchedulesProps {
  /** Checked entries (scheduleProblems; LlmBatch checks its props before building). */
  schedules: readonly JobSchedule[];
  stateMachine: IStateMachine;
}

/**
 * EventBridge Scheduler schedules that start the job state machine directly, in a schedule group
 * of their own, through one role that may only start executions of that state machine.
 */
export class JobSchedules extends Construct {
  readonly schedules: Schedule[] = [];
  readonly group?: ScheduleGroup;
  readonly role?: Role;

  constructor(scope: Construct, id: string, props: JobSchedulesProps) {
    super(scope, id);
    if (props.schedules.length === 0) return;

    const stack = Stack.of(this);
    this.group = new ScheduleGroup(this, 'Group', { removalPolicy: RemovalPolicy.DESTROY });
    this.role = new Role(this, 'Role', {
      description: 'llm-batch: EventBridge Scheduler starts scheduled jobs',
      // Only schedules of this account's group may use the role (confused deputy).
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'scheduler',
              resource: 'schedule',
              resourceName: `${this.group.scheduleGroupName}/*`,
            }),
          },
        },
      }),
    });

    for (const entry of props.schedules) {
      const target = new StepFunctionsStartExecution(props.stateMachine, {
        role: this.role,
        input: ScheduleTargetInput.fromObject(scheduleInput(entry)),
        retryAttempts: SCHEDULE_RETRY_ATTEMPTS,
        maxEventAge: SCHEDULE_MAX_EVENT_AGE,
      });
      this.schedules.push(
        new Schedule(this, `Schedule-${entry.name}`, {
          scheduleName: entry.name,
          scheduleGroup: this.group,
          description: `llm-batch: start a ${entry.template.jobType} job (${entry.expression})`,
          schedule: ScheduleExpression.expression(
            entry.expression,
            entry.timezone ? TimeZone.of(entry.timezone) : undefined,
          ),
          target,
          enabled: entry.enabled ?? true,
          // The job is started at the scheduled time; its id comes from that time.
          timeWindow: TimeWindow.off(),
        }),
      );
    }
  }
}

/**
 * What a schedule starts the state machine with: its name, the scheduled time (filled in by
 * Scheduler at each invocation) and the job template. See shared/execution-input.ts.
 */
export function scheduleInput(entry: JobSchedule): {
  schedule: { name: string; time: string };
  template: JobSchedule['template'];
} {
  return { schedule: { name: entry.name, time: ContextAttribute.scheduledTime }, template: entry.template };
}

/** Where schedule entries come from, for the messages: how they are named and how to allow a bucket. */
export interface ScheduleSource {
  /** How the list is named in messages, e.g. `schedules` (props) or `llm-batch.config.json schedules`. */
  list: string;
  /** Buckets other than the job bucket that Prepare job may read. */
  inputBucketNames: readonly string[];
  /** What to do so Prepare job may read `bucket`, e.g. `deploy with -c inputBucketNames=a,b`. */
  allowBucket: (bucket: string, inputBucketNames: readonly string[]) => string;
}

/**
 * Every problem of every entry, one line each: `<list>[<i>] "<name>": <field> ...`. Entries may
 * come from JSON, so nothing about their shape is assumed. Empty when all entries can be deployed.
 */
export function scheduleProblems(entries: readonly unknown[], source: ScheduleSource): string[] {
  const jobTypes = createDefaultRegistry().names();
  const seen = new Set<string>();
  return entries.flatMap((raw, index) => {
    const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<Record<keyof JobSchedule, unknown>>;
    const named = typeof entry.name === 'string' && entry.name ? ` "${entry.name}"` : '';
    const label = `${source.list}[${index}]${named}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return [`${label}: must be an object { name, expression, timezone?, enabled?, template }`];
    }
    const problems = entryProblems(entry, jobTypes, source);
    if (typeof entry.name === 'string' && NAME.test(entry.name)) {
      if (seen.has(entry.name))
        problems.push('name is used twice; schedule names must be unique (they are part of every job id)');
      seen.add(entry.name);
    }
    return problems.map((problem) => `${label}: ${problem}`);
  });
}

/** The problems of one entry, each starting with the field it is about. */
function entryProblems(
  entry: Partial<Record<keyof JobSchedule, unknown>>,
  jobTypes: readonly string[],
  source: ScheduleSource,
): string[] {
  const problems: string[] = [];
  const known = ['name', 'expression', 'timezone', 'enabled', 'template'];
  for (const key of Object.keys(entry).filter((k) => !known.includes(k)))
    problems.push(`${key} is not a schedule field; use ${known.join(', ')}`);

  // Other characters would be replaced in the job id (so "a.b" and "a-b" would share job ids).
  if (typeof entry.name !== 'string' || !NAME.test(entry.name)) {
    problems.push(
      `name must be 1 to ${MAX_SCHEDULE_NAME_LENGTH} of A-Z a-z 0-9 _ - (it names the schedule and starts every job id it creates), e.g. "nightly-moderation"`,
    );
  } else if (!keptWhole(entry.name)) {
    // A longer name would be cut in the job id, and two schedules could then share job ids.
    problems.push(
      `name is ${entry.name.length} characters; job ids are <name>-<scheduled time> within a Step Functions execution name, so use at most ${MAX_SCHEDULE_NAME_LENGTH}`,
    );
  }
  if (typeof entry.expression !== 'string' || !EXPRESSION.test(entry.expression)) {
    problems.push(
      `expression ${JSON.stringify(entry.expression)} must be cron(...), rate(...) or at(...), e.g. "cron(0 3 * * ? *)" (03:00 every day) or "rate(1 day)"`,
    );
  }
  if (entry.timezone !== undefined && !isTimeZone(entry.timezone)) {
    problems.push(
      `timezone ${JSON.stringify(entry.timezone)} is not an IANA time zone; use e.g. "UTC" or "Europe/Berlin"`,
    );
  }
  if (entry.enabled !== undefined && typeof entry.enabled !== 'boolean') problems.push('enabled must be true or false');
  problems.push(...templateProblems(entry, jobTypes, source));
  return problems;
}

function templateProblems(
  entry: Partial<Record<keyof JobSchedule, unknown>>,
  jobTypes: readonly string[],
  source: ScheduleSource,
): string[] {
  const template = entry.template as Partial<Record<keyof JobSchedule['template'], unknown>> | undefined;
  if (typeof template !== 'object' || template === null || Array.isArray(template))
    return ['template is required: { jobType, options?, input: { key, bucket? } }'];
  const problems: string[] = [];
  if (typeof template.jobType !== 'string' || !template.jobType.trim()) {
    problems.push(`template.jobType must be a registered job type: ${jobTypes.join(', ')}`);
  } else if (!jobTypes.includes(template.jobType)) {
    problems.push(
      `template.jobType "${template.jobType}" is not a registered job type; use one of ${jobTypes.join(', ')}`,
    );
  }
  const input = template.input as Partial<Record<'key' | 'bucket', unknown>> | undefined;
  if (typeof input !== 'object' || input === null || typeof input.key !== 'string' || !input.key.trim()) {
    problems.push(
      'template.input.key must be the S3 key of a JSONL file with one item per line, e.g. "inputs/comments.jsonl"',
    );
  }
  const bucket = typeof input === 'object' && input !== null ? input.bucket : undefined;
  if (bucket !== undefined) {
    if (typeof bucket !== 'string' || !bucket) {
      problems.push('template.input.bucket must be a bucket name, or left out for the job bucket');
    } else if (!source.inputBucketNames.includes(bucket)) {
      problems.push(
        `template.input.bucket "${bucket}" is not an input bucket, so Prepare job could not read it; ` +
          source.allowBucket(bucket, source.inputBucketNames),
      );
    }
  }
  let text: string | undefined;
  try {
    text = JSON.stringify({ schedule: { name: entry.name, time: '<aws.scheduler.scheduled-time>' }, template });
  } catch (error) {
    problems.push(`template must be plain JSON (${(error as Error).message})`);
  }
  if (text !== undefined && text.length > SCHEDULE_INPUT_MAX_CHARS) {
    problems.push(
      `the execution input is ${text.length} characters; EventBridge Scheduler takes at most ${SCHEDULE_INPUT_MAX_CHARS}, so shorten template.options`,
    );
  }
  return problems;
}

function isTimeZone(name: unknown): boolean {
  if (typeof name !== 'string' || !name) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
