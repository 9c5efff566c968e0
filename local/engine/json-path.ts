import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { statesRuntimeError } from './errors.js';
import { isRecord } from '../../shared/is-record.js';

/**
 * JSONPath for the fields the local runtime evaluates itself (the Distributed Map's ItemReader,
 * ItemBatcher, ItemSelector, ResultWriter, the *Path fields, a Wait's duration). Everything the
 * engine evaluates (Parameters, ResultSelector, ResultPath, Choice, ...) stays the engine's.
 *
 * Supported: Reference Paths (`$`, `$.a.b`, `$['a b']`, `$.list[0]`, and `$$.` for the context
 * object) and, in payload templates, intrinsic functions (`States.Format(...)`, evaluated by the
 * engine itself). Wildcards, filters, slices and unions are refused when the definition is loaded
 * (see `unsupportedTemplateValue`).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

type Segment = string | number;

const pathCache = new Map<string, Segment[] | null>();

/** The segments of a Reference Path, or null when the path is not one. */
export function parseReferencePath(path: string): Segment[] | null {
  const cached = pathCache.get(path);
  if (cached !== undefined) return cached;
  const parsed = parse(path);
  pathCache.set(path, parsed);
  return parsed;
}

function parse(path: string): Segment[] | null {
  let i = path.startsWith('$$') ? 2 : path.startsWith('$') ? 1 : -1;
  if (i < 0) return null;
  const segments: Segment[] = [];
  while (i < path.length) {
    const ch = path[i];
    if (ch === '.') {
      let j = i + 1;
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
      const name = path.slice(i + 1, j);
      if (!name || /[*?@()\s,:]/.test(name)) return null;
      segments.push(name);
      i = j;
    } else if (ch === '[') {
      const quote = path[i + 1];
      if (quote === "'" || quote === '"') {
        const end = path.indexOf(quote, i + 2);
        if (end < 0 || path[end + 1] !== ']') return null;
        segments.push(path.slice(i + 2, end));
        i = end + 2;
      } else {
        const end = path.indexOf(']', i);
        const index = path.slice(i + 1, end);
        if (end < 0 || !/^\d+$/.test(index)) return null;
        segments.push(Number(index));
        i = end + 1;
      }
    } else {
      return null;
    }
  }
  return segments;
}

export function isReferencePath(path: string): boolean {
  return parseReferencePath(path) !== null;
}

/** The value a Reference Path points to in the input (or, for `$$.`, the context object). */
export function evaluatePath(path: string, input: unknown, context: unknown): unknown {
  const segments = parseReferencePath(path);
  if (!segments) throw statesRuntimeError(`'${path}' is not a reference path`);
  let value: unknown = path.startsWith('$$') ? context : input;
  for (const segment of segments) {
    if (typeof segment === 'number') {
      value = Array.isArray(value) ? (value[segment] as unknown) : undefined;
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, segment)) {
      value = (value as Record<string, unknown>)[segment];
    } else {
      value = undefined;
    }
    if (value === undefined) break;
  }
  if (value === undefined) throw statesRuntimeError(`the JSONPath '${path}' could not be found in the input`);
  return value;
}

/** Like `evaluatePath`, checked to be an integer >= `min`. */
export function evaluateIntegerPath(path: string, input: unknown, context: unknown, min: number): number {
  const value = evaluatePath(path, input, context);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw statesRuntimeError(
      `the JSONPath '${path}' evaluated to ${JSON.stringify(value)}, but an integer >= ${min} was expected`,
    );
  }
  return value;
}

/** Like `evaluatePath`, checked to be a number in [min, max]. */
export function evaluateNumberPath(path: string, input: unknown, context: unknown, min: number, max: number): number {
  const value = evaluatePath(path, input, context);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw statesRuntimeError(
      `the JSONPath '${path}' evaluated to ${JSON.stringify(value)}, but a number in [${min}, ${max}] was expected`,
    );
  }
  return value;
}

/**
 * The first `.$` value of a payload template the local runtime cannot evaluate, or undefined.
 * Intrinsic functions reading `$$.Execution.Input` or `$$.Execution.StartTime` are refused too:
 * the engine would see the template's input there, not the execution's.
 */
export function unsupportedTemplateValue(template: unknown): string | undefined {
  if (Array.isArray(template)) {
    for (const value of template) {
      const found = unsupportedTemplateValue(value);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (!isRecord(template)) return undefined;
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string') return String(value);
      if (value.startsWith('$')) {
        if (!isReferencePath(value)) return value;
      } else if (!value.startsWith('States.') || /\$\$\.Execution\.(Input|StartTime)/.test(value)) {
        return value;
      }
    } else {
      const found = unsupportedTemplateValue(value);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Whether a template has `.$` fields at all (a literal one needs no evaluation). */
export function isDynamicTemplate(template: unknown): boolean {
  if (Array.isArray(template)) return template.some(isDynamicTemplate);
  if (!isRecord(template)) return false;
  return Object.entries(template).some(([key, value]) => key.endsWith('.$') || isDynamicTemplate(value));
}

/** Evaluates a payload template (`"key.$": path`) against the input and the context object. */
export async function evaluateTemplate(template: unknown, input: unknown, context: unknown): Promise<Json> {
  if (Array.isArray(template)) {
    const values: Json[] = [];
    for (const value of template) values.push(await evaluateTemplate(value, input, context));
    return values;
  }
  if (!isRecord(template)) return template as Json;
  const result: Record<string, Json> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$') && typeof value === 'string') {
      const name = key.slice(0, -2);
      result[name] = value.startsWith('$')
        ? (evaluatePath(value, input, context) as Json)
        : await evaluateIntrinsic(value, input, context);
    } else {
      result[key] = await evaluateTemplate(value, input, context);
    }
  }
  return result;
}

/** An intrinsic function, evaluated by the engine in a one-state machine so its semantics are the engine's. */
async function evaluateIntrinsic(expression: string, input: unknown, context: unknown): Promise<Json> {
  const definition = {
    StartAt: 'Evaluate',
    States: { Evaluate: { Type: 'Pass', Parameters: { 'value.$': expression }, End: true } },
  } as unknown as StateMachineDefinition;
  const machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
  try {
    const output = (await machine.run(input as never, { context: context as never }).result) as { value: Json };
    return output.value;
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw statesRuntimeError(`${expression}: ${cause}`);
  }
}
