import { isRecord } from '../../shared/is-record.js';
import { DISTRIBUTED_ONLY, FIELDS, FieldChecks, REFUSED, TOP_LEVEL, type Scope } from './definition-checks.js';
import { DistributedMapPlanReader } from './definition-distributed-map.js';
import {
  LOCAL_MAP_RESOURCE,
  LOCAL_WAIT_RESOURCE,
  MAX_TIMER_SECONDS,
  type AslMachine,
  type AslState,
  type DistributedMapPlan,
  type PreparedDefinition,
  type PreparedMachine,
  type TaskKind,
  type TaskPlan,
  type WaitPlan,
} from './definition-plans.js';
import { RetryAndCatchChecks } from './definition-retries.js';
import { LocalRuntimeError } from './errors.js';

export * from './definition-plans.js';

/**
 * Loads a state machine definition for the local runtime: refuses what the engine
 * (aws-local-stepfunctions 3.0.0) would silently ignore, and rewrites, on a copy, what it would
 * get wrong:
 *
 * - a DISTRIBUTED Map becomes a Task run by a local handler (see distributed-map.ts), its fields read
 *   into that handler's plan by definition-distributed-map.ts;
 * - a Wait becomes a Task run by a local handler that sleeps on the runtime's clock;
 * - Retry intervals (IntervalSeconds, MaxDelaySeconds) are in the clock's time, but the engine
 *   sleeps them on its own wall-clock timer: they are divided by the clock's timeScale (the one
 *   place the scale is applied outside the clock), so backoff, the delay cap and jitter stay the
 *   engine's (see definition-retries.ts);
 * - Task TimeoutSeconds is clamped to the engine's 32-bit timer, and set when absent (the engine's
 *   default is 60 s; Step Functions' is 99,999,999 s);
 * - the definition's TimeoutSeconds is clamped the same way.
 */

class Loader extends FieldChecks {
  readonly tasks = new Map<string, TaskPlan>();
  readonly waits = new Map<string, WaitPlan>();
  readonly maps = new Map<string, DistributedMapPlan>();
  private readonly seen = new Set<string>();
  private readonly retries: RetryAndCatchChecks;
  private readonly distributedMapPlans = new DistributedMapPlanReader();

  constructor(timeScale: number) {
    super();
    this.retries = new RetryAndCatchChecks(timeScale);
  }

  /** Checks and rewrites one machine's states in place (the caller passes a copy). */
  machine(machine: AslMachine, scope: Scope, handlerStates: string[]): void {
    if (!isRecord(machine.States) || typeof machine.StartAt !== 'string') {
      throw new LocalRuntimeError(`The definition${scope.where} needs StartAt and States`);
    }
    for (const [name, state] of Object.entries(machine.States)) {
      if (this.seen.has(name)) {
        throw new LocalRuntimeError(
          `State "${name}"${scope.where}: state names must be unique across the definition (tasks are found by name)`,
          name,
        );
      }
      this.seen.add(name);
      machine.States[name] = this.state(name, state, scope, handlerStates);
    }
  }

  private state(name: string, state: AslState, scope: Scope, handlerStates: string[]): AslState {
    if (!isRecord(state) || typeof state.Type !== 'string')
      throw new LocalRuntimeError(`State "${name}"${scope.where} has no Type`, name, 'Type');
    switch (state.Type) {
      case 'Task':
        return this.task(name, state, scope, handlerStates);
      case 'Wait':
        return this.wait(name, state, scope, handlerStates);
      case 'Map':
        return this.map(name, state, scope, handlerStates);
      case 'Parallel': {
        this.checkFields(name, state, FIELDS.Parallel ?? [], scope);
        this.retries.check(name, state, scope);
        if (!Array.isArray(state.Branches))
          this.refuse(name, 'Branches', 'Branches must be a list of state machines', scope);
        for (const branch of state.Branches as AslMachine[]) {
          this.machine(branch, { where: ` (in a branch of "${name}")` }, handlerStates);
        }
        return state;
      }
      case 'Choice':
        this.checkFields(name, state, FIELDS.Choice ?? [], scope);
        this.choiceRules(name, state.Choices, scope);
        return state;
      case 'Pass':
        this.checkFields(name, state, FIELDS.Pass ?? [], scope);
        if ('Result' in state && !state.Result) {
          // The engine tests `if (Result)`: a falsy Result would pass the input through instead.
          this.refuse(
            name,
            'Result',
            `the engine ignores a falsy Result (${JSON.stringify(state.Result)}) and passes the input through`,
            scope,
          );
        }
        return state;
      case 'Succeed':
      case 'Fail':
        this.checkFields(name, state, FIELDS[state.Type] ?? [], scope);
        return state;
      default:
        return this.refuse(name, 'Type', `unknown state type ${JSON.stringify(state.Type)}`, scope);
    }
  }

  private choiceRules(name: string, rules: unknown, scope: Scope): void {
    const visit = (rule: unknown): void => {
      if (Array.isArray(rule)) return rule.forEach(visit);
      if (!isRecord(rule)) return;
      for (const field of ['Condition', 'Assign', 'Output']) {
        if (field in rule) this.refuse(name, field, REFUSED[field] ?? 'not honoured', scope);
      }
      for (const nested of ['And', 'Or', 'Not']) if (nested in rule) visit(rule[nested]);
    };
    visit(rules);
  }

  private task(name: string, state: AslState, scope: Scope, handlerStates: string[]): AslState {
    this.checkFields(name, state, FIELDS.Task ?? [], scope);
    const resource = state.Resource;
    if (typeof resource !== 'string') return this.refuse(name, 'Resource', 'a Task needs a Resource', scope);
    if (/\.(waitForTaskToken|sync(:2)?)$/.test(resource)) {
      this.refuse(
        name,
        'Resource',
        `the ${resource.slice(resource.lastIndexOf('.'))} integration pattern is not emulated (the engine would just call the task)`,
        scope,
      );
    }
    this.retries.check(name, state, scope);
    const timeout = state.TimeoutSeconds === undefined ? MAX_TIMER_SECONDS : state.TimeoutSeconds;
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1) {
      this.refuse(name, 'TimeoutSeconds', 'must be a positive integer', scope);
    }
    const timeoutSeconds = Math.min(timeout, MAX_TIMER_SECONDS);
    const kind: TaskKind = resource.startsWith('arn:aws:lambda:')
      ? 'lambda'
      : resource.startsWith('arn:aws:states:::lambda:invoke')
        ? 'lambda-invoke'
        : 'other';
    this.tasks.set(name, { stateName: name, resource, kind, timeoutSeconds });
    handlerStates.push(name);
    return { ...state, TimeoutSeconds: timeoutSeconds };
  }

  private wait(name: string, state: AslState, scope: Scope, handlerStates: string[]): AslState {
    this.checkFields(name, state, FIELDS.Wait ?? [], scope);
    const plan: WaitPlan = { stateName: name };
    const given = ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'].filter(
      (field) => state[field] !== undefined,
    );
    if (given.length !== 1)
      this.refuse(
        name,
        given[1] ?? 'Seconds',
        'a Wait needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath',
        scope,
      );
    if (state.Seconds !== undefined) {
      if (typeof state.Seconds !== 'number' || state.Seconds < 0)
        this.refuse(name, 'Seconds', 'must be a number >= 0', scope);
      plan.seconds = state.Seconds;
    }
    if (state.Timestamp !== undefined) {
      if (typeof state.Timestamp !== 'string' || Number.isNaN(Date.parse(state.Timestamp)))
        this.refuse(name, 'Timestamp', 'must be an RFC 3339 timestamp', scope);
      plan.timestamp = state.Timestamp;
    }
    this.checkPath(name, state, 'SecondsPath', scope);
    this.checkPath(name, state, 'TimestampPath', scope);
    if (typeof state.SecondsPath === 'string') plan.secondsPath = state.SecondsPath;
    if (typeof state.TimestampPath === 'string') plan.timestampPath = state.TimestampPath;
    this.waits.set(name, plan);
    handlerStates.push(name);
    const rewritten: AslState = { Type: 'Task', Resource: LOCAL_WAIT_RESOURCE, TimeoutSeconds: MAX_TIMER_SECONDS };
    copyFields(state, rewritten, ['Comment', 'InputPath', 'OutputPath', 'Next', 'End']);
    return rewritten;
  }

  private map(name: string, state: AslState, scope: Scope, handlerStates: string[]): AslState {
    const processor = state.ItemProcessor ?? state.Iterator;
    if (!isRecord(processor)) return this.refuse(name, 'ItemProcessor', 'a Map needs an ItemProcessor', scope);
    const config = isRecord(processor.ProcessorConfig) ? processor.ProcessorConfig : {};
    for (const field of Object.keys(config)) {
      if (field !== 'Mode' && field !== 'ExecutionType')
        this.refuse(
          name,
          `ItemProcessor.ProcessorConfig.${field}`,
          'not a processor setting the local runtime knows',
          scope,
        );
    }
    const distributed = config.Mode === 'DISTRIBUTED';
    if (config.Mode !== undefined && config.Mode !== 'INLINE' && !distributed)
      this.refuse(name, 'ItemProcessor.ProcessorConfig.Mode', `unknown mode ${JSON.stringify(config.Mode)}`, scope);
    for (const field of Object.keys(processor)) {
      if (!['ProcessorConfig', 'StartAt', 'States', 'Comment'].includes(field))
        this.refuse(name, `ItemProcessor.${field}`, REFUSED[field] ?? 'not honoured', scope);
    }
    if (!distributed) {
      for (const field of Object.keys(state)) {
        if (DISTRIBUTED_ONLY.includes(field)) {
          this.refuse(name, field, 'only a DISTRIBUTED Map honours it; the engine ignores it on an inline Map', scope);
        }
      }
      this.checkFields(name, state, FIELDS.Map ?? [], scope);
      this.retries.check(name, state, scope);
      this.machine(
        processor as unknown as AslMachine,
        { where: ` (in the ItemProcessor of "${name}")` },
        handlerStates,
      );
      return state;
    }
    return this.distributedMap(name, state, processor as unknown as AslMachine, config, scope, handlerStates);
  }

  private distributedMap(
    name: string,
    state: AslState,
    processor: AslMachine,
    config: Record<string, unknown>,
    scope: Scope,
    handlerStates: string[],
  ): AslState {
    this.checkFields(name, state, FIELDS.DistributedMap ?? [], scope);
    this.retries.check(name, state, scope);
    const plan = this.distributedMapPlans.read(name, state, processor, config, scope);

    // The child machine is its own engine run: its handlers are listed apart from the parent's.
    this.machine(processor, { where: ` (in the ItemProcessor of "${name}")` }, plan.processor.handlerStates);
    delete processor.ProcessorConfig;
    this.maps.set(name, plan);
    handlerStates.push(name);
    const rewritten: AslState = { Type: 'Task', Resource: LOCAL_MAP_RESOURCE, TimeoutSeconds: MAX_TIMER_SECONDS };
    copyFields(state, rewritten, [
      'Comment',
      'InputPath',
      'ResultSelector',
      'ResultPath',
      'OutputPath',
      'Retry',
      'Catch',
      'Next',
      'End',
    ]);
    return rewritten;
  }
}

function copyFields(from: Record<string, unknown>, to: Record<string, unknown>, fields: string[]): void {
  for (const field of fields) if (from[field] !== undefined) to[field] = from[field];
}

/**
 * Checks a definition and returns the rewritten copy the engine runs, with what the local
 * handlers need. `timeScale` is the runtime clock's (`Clock.timeScale`). Throws
 * `LocalRuntimeError` naming the state and the field it cannot honour.
 */
export function prepareDefinition(definition: unknown, timeScale: number): PreparedDefinition {
  if (!isRecord(definition)) throw new LocalRuntimeError('The definition must be a JSON object');
  if (!Number.isFinite(timeScale) || timeScale <= 0)
    throw new LocalRuntimeError(`timeScale must be a positive number, not ${timeScale}`);
  const copy = structuredClone(definition) as AslMachine;
  const loader: Loader = new Loader(timeScale);
  for (const field of Object.keys(copy)) {
    if (field === 'QueryLanguage' && copy.QueryLanguage === 'JSONPath') continue;
    if (!TOP_LEVEL.includes(field) || field === 'QueryLanguage') {
      loader.refuse(undefined, field, REFUSED[field] ?? 'not a top-level field the engine honours', { where: '' });
    }
  }
  const timeout = copy.TimeoutSeconds;
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1)
      loader.refuse(undefined, 'TimeoutSeconds', 'must be a positive integer', { where: '' });
    copy.TimeoutSeconds = Math.min(timeout, MAX_TIMER_SECONDS);
  }
  const root: PreparedMachine = { definition: copy, handlerStates: [] };
  loader.machine(copy, { where: '' }, root.handlerStates);
  return { root, tasks: loader.tasks, waits: loader.waits, maps: loader.maps };
}
