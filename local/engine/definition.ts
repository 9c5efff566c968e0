import { isRecord } from '../../shared/is-record.js';
import {
  CATCHER,
  DISTRIBUTED_ONLY,
  FIELDS,
  FieldChecks,
  REFUSED,
  RETRIER,
  TOP_LEVEL,
  type Scope,
} from './definition-checks.js';
import {
  LOCAL_MAP_RESOURCE,
  LOCAL_WAIT_RESOURCE,
  MAX_TIMER_SECONDS,
  type AslMachine,
  type AslState,
  type DistributedMapPlan,
  type ItemBatcherPlan,
  type ItemReaderPlan,
  type PreparedDefinition,
  type PreparedMachine,
  type TaskKind,
  type TaskPlan,
  type WaitPlan,
} from './definition-plans.js';
import { LocalRuntimeError } from './errors.js';

export * from './definition-plans.js';

/**
 * Loads a state machine definition for the local runtime: refuses what the engine
 * (aws-local-stepfunctions 3.0.0) would silently ignore, and rewrites, on a copy, what it would
 * get wrong:
 *
 * - a DISTRIBUTED Map becomes a Task run by a local handler (see distributed-map.ts);
 * - a Wait becomes a Task run by a local handler that sleeps on the runtime's clock;
 * - Retry intervals (IntervalSeconds, MaxDelaySeconds) are in the clock's time, but the engine
 *   sleeps them on its own wall-clock timer: they are divided by the clock's timeScale (the one
 *   place the scale is applied outside the clock), so backoff, the delay cap and jitter stay the
 *   engine's;
 * - Task TimeoutSeconds is clamped to the engine's 32-bit timer, and set when absent (the engine's
 *   default is 60 s; Step Functions' is 99,999,999 s);
 * - the definition's TimeoutSeconds is clamped the same way.
 */

class Loader extends FieldChecks {
  readonly tasks = new Map<string, TaskPlan>();
  readonly waits = new Map<string, WaitPlan>();
  readonly maps = new Map<string, DistributedMapPlan>();
  private readonly seen = new Set<string>();

  constructor(private readonly timeScale: number) {
    super();
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
        this.retryAndCatch(name, state, scope);
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

  private retryAndCatch(name: string, state: AslState, scope: Scope): void {
    if (state.Retry !== undefined) {
      if (!Array.isArray(state.Retry)) this.refuse(name, 'Retry', 'Retry must be a list of retriers', scope);
      state.Retry = (state.Retry as unknown[]).map((retrier) => {
        if (!isRecord(retrier)) return this.refuse(name, 'Retry', 'a retrier must be an object', scope);
        for (const field of Object.keys(retrier)) {
          if (!RETRIER.includes(field))
            this.refuse(name, `Retry.${field}`, REFUSED[field] ?? 'not a retrier field the engine honours', scope);
        }
        return this.scaleRetrier(retrier);
      });
    }
    if (state.Catch !== undefined) {
      if (!Array.isArray(state.Catch)) this.refuse(name, 'Catch', 'Catch must be a list of catchers', scope);
      for (const catcher of state.Catch as unknown[]) {
        if (!isRecord(catcher)) this.refuse(name, 'Catch', 'a catcher must be an object', scope);
        for (const field of Object.keys(catcher)) {
          if (!CATCHER.includes(field))
            this.refuse(name, `Catch.${field}`, REFUSED[field] ?? 'not a catcher field the engine honours', scope);
        }
      }
    }
  }

  /**
   * Divides the retrier's interval and delay cap by the clock's timeScale (wall time for the
   * engine's timer). The engine then computes
   * interval * backoff^attempt, caps it at MaxDelaySeconds and applies FULL jitter itself. A
   * retrier without a cap gets one at the 32-bit timer limit, so a long backoff cannot overflow
   * into an immediate retry.
   */
  private scaleRetrier(retrier: Record<string, unknown>): Record<string, unknown> {
    const interval = typeof retrier.IntervalSeconds === 'number' ? retrier.IntervalSeconds : 1;
    const maxDelay =
      typeof retrier.MaxDelaySeconds === 'number' ? retrier.MaxDelaySeconds / this.timeScale : MAX_TIMER_SECONDS;
    return {
      ...retrier,
      IntervalSeconds: Math.min(interval / this.timeScale, MAX_TIMER_SECONDS),
      MaxDelaySeconds: Math.min(maxDelay, MAX_TIMER_SECONDS),
    };
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
    this.retryAndCatch(name, state, scope);
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
      this.retryAndCatch(name, state, scope);
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
    this.retryAndCatch(name, state, scope);
    for (const field of [
      'ItemsPath',
      'MaxConcurrencyPath',
      'ToleratedFailurePercentagePath',
      'ToleratedFailureCountPath',
    ]) {
      this.checkPath(name, state, field, scope);
    }
    const selector = state.ItemSelector ?? state.Parameters;
    this.checkTemplate(name, selector, state.ItemSelector !== undefined ? 'ItemSelector' : 'Parameters', scope);
    const executionType = config.ExecutionType ?? 'STANDARD';
    if (executionType !== 'STANDARD' && executionType !== 'EXPRESS') {
      this.refuse(
        name,
        'ItemProcessor.ProcessorConfig.ExecutionType',
        `unknown execution type ${JSON.stringify(executionType)}`,
        scope,
      );
    }
    const plan: DistributedMapPlan = {
      stateName: name,
      label: typeof state.Label === 'string' ? state.Label : name.replace(/[^A-Za-z0-9_-]/g, '-'),
      executionType,
      processor: { definition: processor, handlerStates: [] },
    };
    if (typeof state.ItemsPath === 'string') plan.itemsPath = state.ItemsPath;
    if (selector !== undefined) plan.itemSelector = selector;
    this.numberField(name, state, 'MaxConcurrency', scope, (v) => (plan.maxConcurrency = v), true);
    if (typeof state.MaxConcurrencyPath === 'string') plan.maxConcurrencyPath = state.MaxConcurrencyPath;
    this.numberField(
      name,
      state,
      'ToleratedFailurePercentage',
      scope,
      (v) => (plan.toleratedFailurePercentage = v),
      false,
      100,
    );
    if (typeof state.ToleratedFailurePercentagePath === 'string')
      plan.toleratedFailurePercentagePath = state.ToleratedFailurePercentagePath;
    this.numberField(name, state, 'ToleratedFailureCount', scope, (v) => (plan.toleratedFailureCount = v), true);
    if (typeof state.ToleratedFailureCountPath === 'string')
      plan.toleratedFailureCountPath = state.ToleratedFailureCountPath;
    if (state.ItemReader !== undefined) plan.itemReader = this.itemReader(name, state.ItemReader, scope);
    if (state.ItemBatcher !== undefined) plan.itemBatcher = this.itemBatcher(name, state.ItemBatcher, scope);
    if (state.ResultWriter !== undefined) plan.resultWriter = this.resultWriter(name, state.ResultWriter, scope);
    if (plan.itemReader && plan.itemsPath !== undefined)
      this.refuse(name, 'ItemsPath', 'ItemsPath and ItemReader exclude each other', scope);

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

  private itemReader(name: string, reader: unknown, scope: Scope): ItemReaderPlan {
    if (!isRecord(reader)) return this.refuse(name, 'ItemReader', 'must be an object', scope);
    for (const field of Object.keys(reader)) {
      if (!['Resource', 'ReaderConfig', 'Parameters'].includes(field))
        this.refuse(name, `ItemReader.${field}`, REFUSED[field] ?? 'not honoured', scope);
    }
    if (reader.Resource !== 'arn:aws:states:::s3:getObject') {
      this.refuse(
        name,
        'ItemReader.Resource',
        `only arn:aws:states:::s3:getObject (a JSON or JSONL object) is read locally, not ${JSON.stringify(reader.Resource)}`,
        scope,
      );
    }
    const config = isRecord(reader.ReaderConfig) ? reader.ReaderConfig : {};
    for (const field of Object.keys(config)) {
      if (!['InputType', 'MaxItems', 'MaxItemsPath'].includes(field)) {
        this.refuse(
          name,
          `ItemReader.ReaderConfig.${field}`,
          'only InputType JSON/JSONL and MaxItems(Path) are honoured locally',
          scope,
        );
      }
    }
    const inputType = config.InputType ?? 'JSON';
    if (inputType !== 'JSON' && inputType !== 'JSONL') {
      this.refuse(
        name,
        'ItemReader.ReaderConfig.InputType',
        `only JSON and JSONL are read locally, not ${JSON.stringify(inputType)}`,
        scope,
      );
    }
    const parameters = isRecord(reader.Parameters) ? reader.Parameters : {};
    for (const field of Object.keys(parameters)) {
      if (!['Bucket', 'Bucket.$', 'Key', 'Key.$'].includes(field))
        this.refuse(name, `ItemReader.Parameters.${field}`, 'only Bucket and Key are honoured locally', scope);
    }
    if (!('Bucket' in parameters || 'Bucket.$' in parameters) || !('Key' in parameters || 'Key.$' in parameters)) {
      this.refuse(name, 'ItemReader.Parameters', 'needs Bucket and Key', scope);
    }
    this.checkTemplate(name, parameters, 'ItemReader.Parameters', scope);
    const plan: ItemReaderPlan = { inputType, parameters };
    this.numberField(name, config, 'MaxItems', scope, (v) => (plan.maxItems = v), true);
    this.checkPath(name, config, 'MaxItemsPath', scope, 'ItemReader.ReaderConfig.MaxItemsPath');
    if (typeof config.MaxItemsPath === 'string') plan.maxItemsPath = config.MaxItemsPath;
    return plan;
  }

  private itemBatcher(name: string, batcher: unknown, scope: Scope): ItemBatcherPlan {
    if (!isRecord(batcher)) return this.refuse(name, 'ItemBatcher', 'must be an object', scope);
    const plan: ItemBatcherPlan = {};
    for (const field of Object.keys(batcher)) {
      if (
        ![
          'MaxItemsPerBatch',
          'MaxItemsPerBatchPath',
          'MaxInputBytesPerBatch',
          'MaxInputBytesPerBatchPath',
          'BatchInput',
        ].includes(field)
      ) {
        this.refuse(name, `ItemBatcher.${field}`, REFUSED[field] ?? 'not honoured', scope);
      }
    }
    this.numberField(name, batcher, 'MaxItemsPerBatch', scope, (v) => (plan.maxItemsPerBatch = v), true);
    this.numberField(name, batcher, 'MaxInputBytesPerBatch', scope, (v) => (plan.maxInputBytesPerBatch = v), true);
    for (const field of ['MaxItemsPerBatchPath', 'MaxInputBytesPerBatchPath'])
      this.checkPath(name, batcher, field, scope, `ItemBatcher.${field}`);
    if (typeof batcher.MaxItemsPerBatchPath === 'string') plan.maxItemsPerBatchPath = batcher.MaxItemsPerBatchPath;
    if (typeof batcher.MaxInputBytesPerBatchPath === 'string')
      plan.maxInputBytesPerBatchPath = batcher.MaxInputBytesPerBatchPath;
    if (batcher.BatchInput !== undefined) {
      this.checkTemplate(name, batcher.BatchInput, 'ItemBatcher.BatchInput', scope);
      plan.batchInput = batcher.BatchInput;
    }
    return plan;
  }

  private resultWriter(name: string, writer: unknown, scope: Scope): { parameters: Record<string, unknown> } {
    if (!isRecord(writer)) return this.refuse(name, 'ResultWriter', 'must be an object', scope);
    for (const field of Object.keys(writer)) {
      if (!['Resource', 'Parameters'].includes(field))
        this.refuse(name, `ResultWriter.${field}`, REFUSED[field] ?? 'not honoured', scope);
    }
    if (writer.Resource !== 'arn:aws:states:::s3:putObject') {
      this.refuse(
        name,
        'ResultWriter.Resource',
        `only arn:aws:states:::s3:putObject is written locally, not ${JSON.stringify(writer.Resource)}`,
        scope,
      );
    }
    const parameters = isRecord(writer.Parameters) ? writer.Parameters : {};
    for (const field of Object.keys(parameters)) {
      if (!['Bucket', 'Bucket.$', 'Prefix', 'Prefix.$'].includes(field))
        this.refuse(name, `ResultWriter.Parameters.${field}`, 'only Bucket and Prefix are honoured locally', scope);
    }
    if (!('Bucket' in parameters || 'Bucket.$' in parameters))
      this.refuse(name, 'ResultWriter.Parameters', 'needs a Bucket', scope);
    this.checkTemplate(name, parameters, 'ResultWriter.Parameters', scope);
    return { parameters };
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
