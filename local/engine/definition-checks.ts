/**
 * The fields the local runtime honours per state type, why it refuses the others, and the checks
 * every part of the loader uses: a refusal names the state and the field.
 */
import { LocalRuntimeError } from './errors.js';
import { isReferencePath, unsupportedTemplateValue } from './json-path.js';
import type { AslState } from './definition-plans.js';

const COMMON = ['Type', 'Comment', 'QueryLanguage'];
const IO = ['InputPath', 'OutputPath'];
const TRANSITION = ['Next', 'End'];
const RESULT = ['ResultPath', 'ResultSelector', 'Retry', 'Catch'];
const INLINE_MAP = [
  'ItemProcessor',
  'Iterator',
  'ItemsPath',
  'ItemSelector',
  'Parameters',
  'MaxConcurrency',
  'MaxConcurrencyPath',
];
export const DISTRIBUTED_ONLY = [
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'Label',
];

export const FIELDS: Record<string, string[]> = {
  Task: [...COMMON, ...IO, ...TRANSITION, ...RESULT, 'Resource', 'Parameters', 'TimeoutSeconds'],
  Pass: [...COMMON, ...IO, ...TRANSITION, 'Result', 'Parameters', 'ResultPath'],
  Wait: [...COMMON, ...IO, ...TRANSITION, 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'],
  Choice: [...COMMON, ...IO, 'Choices', 'Default'],
  Succeed: [...COMMON, ...IO],
  Fail: [...COMMON, 'Error', 'ErrorPath', 'Cause', 'CausePath'],
  Parallel: [...COMMON, ...IO, ...TRANSITION, ...RESULT, 'Branches', 'Parameters'],
  Map: [...COMMON, ...IO, ...TRANSITION, ...RESULT, ...INLINE_MAP],
  DistributedMap: [...COMMON, ...IO, ...TRANSITION, ...RESULT, ...INLINE_MAP, ...DISTRIBUTED_ONLY],
};

/** Why a known field is refused (fields not listed get a generic reason). */
export const REFUSED: Record<string, string> = {
  QueryLanguage: 'JSONata is validated but not evaluated by the engine (a JSONata Choice always takes its Default)',
  Assign: 'workflow variables (Assign) are ignored by the engine',
  Arguments: 'a JSONata field, ignored by the engine',
  Output: 'a JSONata field, ignored by the engine',
  Items: 'a JSONata field, ignored by the engine',
  Condition: 'a JSONata Choice rule, which the engine never matches',
  HeartbeatSeconds: 'task heartbeats are not emulated',
  HeartbeatSecondsPath: 'task heartbeats are not emulated',
  TimeoutSecondsPath:
    'a dynamic task timeout is not emulated (the engine evaluates it after Parameters, on a 32-bit timer)',
  Credentials: 'cross-account task credentials are not emulated',
  WriterConfig: 'ResultWriter output transformations are not emulated',
};

export const TOP_LEVEL = ['StartAt', 'States', 'Comment', 'Version', 'TimeoutSeconds', 'QueryLanguage'];
export const RETRIER = [
  'ErrorEquals',
  'IntervalSeconds',
  'MaxAttempts',
  'BackoffRate',
  'MaxDelaySeconds',
  'JitterStrategy',
  'Comment',
];
export const CATCHER = ['ErrorEquals', 'Next', 'ResultPath', 'Comment'];

export interface Scope {
  /** "" for the root, else e.g. ` (in the ItemProcessor of "Process items in batches")`. */
  where: string;
}

/** The field checks of the definition loader. */
export class FieldChecks {
  refuse(stateName: string | undefined, field: string, reason: string, scope: Scope): never {
    const subject = stateName === undefined ? 'The definition' : `State "${stateName}"${scope.where}`;
    throw new LocalRuntimeError(
      `${subject}: field "${field}" cannot be honoured by the local runtime: ${reason}`,
      stateName,
      field,
    );
  }

  protected checkFields(name: string, state: AslState, allowed: string[], scope: Scope): void {
    for (const field of Object.keys(state)) {
      if (field === 'QueryLanguage' && state.QueryLanguage === 'JSONPath') continue;
      if (field === 'QueryLanguage' || !allowed.includes(field)) {
        this.refuse(
          name,
          field,
          REFUSED[field] ?? `the engine does not honour "${field}" on a ${state.Type} state`,
          scope,
        );
      }
    }
  }

  protected checkPath(name: string, state: Record<string, unknown>, field: string, scope: Scope, label = field): void {
    const path = state[field];
    if (path === undefined) return;
    if (typeof path !== 'string' || !isReferencePath(path)) {
      this.refuse(
        name,
        label,
        `only Reference Paths ($.a.b, $['a'], $.a[0], $$.x) are evaluated locally, not ${JSON.stringify(path)}`,
        scope,
      );
    }
  }

  protected checkTemplate(name: string, template: unknown, field: string, scope: Scope): void {
    const bad = unsupportedTemplateValue(template);
    if (bad !== undefined) {
      this.refuse(
        name,
        field,
        `only Reference Paths and intrinsic functions are evaluated locally, not ${JSON.stringify(bad)}`,
        scope,
      );
    }
  }

  protected numberField(
    name: string,
    state: Record<string, unknown>,
    field: string,
    scope: Scope,
    set: (value: number) => void,
    integer: boolean,
    max = Number.MAX_SAFE_INTEGER,
  ): void {
    const value = state[field];
    if (value === undefined) return;
    if (typeof value !== 'number' || value < 0 || value > max || (integer && !Number.isInteger(value))) {
      this.refuse(name, field, `must be ${integer ? 'an integer' : 'a number'} in [0, ${max}]`, scope);
    }
    set(value);
  }
}
