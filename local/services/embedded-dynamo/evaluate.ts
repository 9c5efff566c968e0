/**
 * DynamoDB's expression semantics over plain documents (what the document client's callers send
 * and receive): condition checks, update application and projection, with DynamoDB's rules for
 * missing attributes, mismatched types, string order (UTF-8 bytes) and overlapping update paths.
 */
import type { Condition, Operand, Path, Update } from './expressions.js';
import { ValidationException } from './errors.js';

export type Doc = Record<string, unknown>;
export type Names = Record<string, string> | undefined;
export type Values = Record<string, unknown> | undefined;

/** DynamoDB's type of a document value (the marshalled form's tag). */
export function typeOf(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value === null) return 'NULL';
  switch (typeof value) {
    case 'string':
      return 'S';
    case 'number':
    case 'bigint':
      return 'N';
    case 'boolean':
      return 'BOOL';
  }
  if (Array.isArray(value)) return 'L';
  if (value instanceof Uint8Array) return 'B';
  if (value instanceof Set) return typeof [...(value as Set<unknown>)][0] === 'number' ? 'NS' : 'SS';
  return 'M';
}

/** Code point order, which is UTF-8 byte order (DynamoDB's order of strings); JS's < compares UTF-16 units. */
export function compareStrings(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    // A surrogate (a code point above U+FFFF) sorts after every other unit from U+E000 up.
    if (xSurrogate !== ySurrogate && (xSurrogate ? y : x) >= 0xe000) return xSurrogate ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const type = typeOf(a);
  if (type !== typeOf(b)) return false;
  if (type === 'L') {
    const left = a as unknown[];
    const right = b as unknown[];
    return left.length === right.length && left.every((value, i) => equal(value, right[i]));
  }
  if (type === 'M') {
    const left = a as Doc;
    const right = b as Doc;
    const keys = Object.keys(left).filter((key) => left[key] !== undefined);
    return (
      keys.length === Object.keys(right).filter((key) => right[key] !== undefined).length &&
      keys.every((key) => equal(left[key], right[key]))
    );
  }
  if (type === 'N') return Number(a) === Number(b);
  return false;
}

/** Order of two values of one orderable type (N, S); undefined when DynamoDB would not compare them. */
function order(a: unknown, b: unknown): number | undefined {
  const type = typeOf(a);
  if (type === undefined || type !== typeOf(b)) return undefined;
  if (type === 'N') return Number(a) - Number(b);
  if (type === 'S') return compareStrings(a as string, b as string);
  return undefined;
}

export function attributeName(segment: Path[number], names: Names): string | number {
  if (typeof segment === 'number') return segment;
  if ('name' in segment) return segment.name;
  const name = names?.[segment.ref];
  if (name === undefined)
    throw new ValidationException(
      `An expression attribute name used in the document path is not defined; attribute name: ${segment.ref}`,
    );
  return name;
}

export function valueOf(ref: string, values: Values): unknown {
  const value = values?.[ref];
  if (value === undefined)
    throw new ValidationException(
      `An expression attribute value used in expression is not defined; attribute value: ${ref}`,
    );
  return value;
}

export function readPath(item: Doc | undefined, path: Path, names: Names): unknown {
  let node: unknown = item;
  for (const segment of path) {
    const key = attributeName(segment, names);
    if (typeof key === 'number') node = Array.isArray(node) ? node[key] : undefined;
    else node = typeOf(node) === 'M' ? (node as Doc)[key] : undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

function operandValue(operand: Operand, item: Doc | undefined, names: Names, values: Values): unknown {
  switch (operand.kind) {
    case 'path':
      return readPath(item, operand.path, names);
    case 'value':
      return valueOf(operand.ref, values);
    case 'size': {
      const value = readPath(item, operand.path, names);
      if (typeof value === 'string') return value.length;
      if (Array.isArray(value)) return value.length;
      if (value instanceof Uint8Array) return value.byteLength;
      if (value instanceof Set) return value.size;
      return typeOf(value) === 'M' ? Object.keys(value as Doc).length : undefined;
    }
    case 'if_not_exists':
      return readPath(item, operand.path, names) ?? operandValue(operand.fallback, item, names, values);
    case 'list_append': {
      const left = operandValue(operand.left, item, names, values);
      const right = operandValue(operand.right, item, names, values);
      if (!Array.isArray(left) || !Array.isArray(right))
        throw new ValidationException('An operand in the update expression has an incorrect data type');
      return (left as unknown[]).concat(right as unknown[]);
    }
    case 'arithmetic': {
      const left = operandValue(operand.left, item, names, values);
      const right = operandValue(operand.right, item, names, values);
      if (left === undefined || right === undefined)
        throw new ValidationException('The provided expression refers to an attribute that does not exist in the item');
      if (typeof left !== 'number' || typeof right !== 'number')
        throw new ValidationException('An operand in the update expression has an incorrect data type');
      return decimalSum(left, operand.op === '+' ? right : -right);
    }
  }
}

/**
 * DynamoDB adds decimals exactly (0.1 + 0.2 is 0.3); doubles do not. Integers add exactly; other
 * sums are rounded to 15 significant digits, which gives the decimal sum for operands of up to 15.
 */
export function decimalSum(a: number, b: number): number {
  const sum = a + b;
  return Number.isInteger(a) && Number.isInteger(b) ? sum : Number(sum.toPrecision(15));
}

export function matches(condition: Condition, item: Doc | undefined, names: Names, values: Values): boolean {
  switch (condition.kind) {
    case 'and':
      return matches(condition.left, item, names, values) && matches(condition.right, item, names, values);
    case 'or':
      return matches(condition.left, item, names, values) || matches(condition.right, item, names, values);
    case 'not':
      return !matches(condition.inner, item, names, values);
    case 'compare': {
      const left = operandValue(condition.left, item, names, values);
      const right = operandValue(condition.right, item, names, values);
      if (condition.op === '=') return left !== undefined && equal(left, right);
      if (condition.op === '<>') return !(left !== undefined && equal(left, right));
      const sign = order(left, right);
      if (sign === undefined) return false;
      return condition.op === '<'
        ? sign < 0
        : condition.op === '<='
          ? sign <= 0
          : condition.op === '>'
            ? sign > 0
            : sign >= 0;
    }
    case 'between': {
      const value = operandValue(condition.operand, item, names, values);
      const low = order(value, operandValue(condition.low, item, names, values));
      const high = order(value, operandValue(condition.high, item, names, values));
      return low !== undefined && high !== undefined && low >= 0 && high <= 0;
    }
    case 'in': {
      const value = operandValue(condition.operand, item, names, values);
      return (
        value !== undefined && condition.list.some((option) => equal(value, operandValue(option, item, names, values)))
      );
    }
    case 'function':
      return callFunction(condition, item, names, values);
  }
}

function callFunction(
  condition: Extract<Condition, { kind: 'function' }>,
  item: Doc | undefined,
  names: Names,
  values: Values,
): boolean {
  const [first, second] = condition.args;
  if (
    first?.kind !== 'path' ||
    (condition.args.length !== 1) !==
      (condition.name !== 'attribute_exists' && condition.name !== 'attribute_not_exists')
  )
    throw new ValidationException(
      `Invalid ConditionExpression: Incorrect number or type of operands for function: ${condition.name}`,
    );
  const value = readPath(item, first.path, names);
  if (condition.name === 'attribute_exists') return value !== undefined;
  if (condition.name === 'attribute_not_exists') return value === undefined;
  const operand = operandValue(second as Operand, item, names, values);
  if (condition.name === 'attribute_type') return typeOf(value) === operand;
  if (condition.name === 'begins_with')
    return typeof value === 'string' && typeof operand === 'string' && value.startsWith(operand);
  // contains
  if (typeof value === 'string') return typeof operand === 'string' && value.includes(operand);
  if (Array.isArray(value)) return value.some((element) => equal(element, operand));
  if (value instanceof Set) return value.has(operand);
  return false;
}

/**
 * Applies the update to `item` (a fresh copy the caller owns: it is changed in place), or to a
 * new item of `key`. Every operand is read before the first write, as DynamoDB reads them from the
 * item before the update.
 */
export function applyUpdate(update: Update, item: Doc | undefined, key: Doc, names: Names, values: Values): Doc {
  checkPaths(update, key, names);
  const assigned = update.set.map(({ path, value }) => ({ path, value: operandValue(value, item, names, values) }));
  const added = update.add.map(({ path, value }) => {
    const amount = operandValue(value, item, names, values);
    const current = readPath(item, path, names);
    if (typeof amount !== 'number' || (current !== undefined && typeof current !== 'number'))
      throw new ValidationException('An operand in the update expression has an incorrect data type');
    return { path, value: current === undefined ? amount : decimalSum(current, amount) };
  });
  if (update.delete.length > 0)
    throw new ValidationException('DELETE (of set elements) is not supported by the embedded store');
  const next = item ?? { ...key };
  for (const { path, value } of [...assigned, ...added]) writePath(next, path, names, value);
  for (const path of update.remove) removePath(next, path, names);
  return next;
}

function parentOf(item: Doc, path: Path, names: Names): { parent: unknown; last: string | number } {
  const parent = path.length === 1 ? item : readPath(item, path.slice(0, -1), names);
  return { parent, last: attributeName(path[path.length - 1] as Path[number], names) };
}

function writePath(item: Doc, path: Path, names: Names, value: unknown): void {
  const { parent, last } = parentOf(item, path, names);
  if (typeof last === 'number' ? !Array.isArray(parent) : typeOf(parent) !== 'M')
    throw new ValidationException('The document path provided in the update expression is invalid for update');
  if (typeof last === 'number') {
    const list = parent as unknown[];
    list[Math.min(last, list.length)] = value;
  } else (parent as Doc)[last] = value;
}

function removePath(item: Doc, path: Path, names: Names): void {
  const { parent, last } = parentOf(item, path, names);
  if (typeof last === 'number' && Array.isArray(parent)) {
    if (last < parent.length) parent.splice(last, 1);
  } else if (typeof last === 'string' && typeOf(parent) === 'M') delete (parent as Doc)[last];
}

/** DynamoDB refuses updates of key attributes and updates whose paths overlap. */
function checkPaths(update: Update, key: Doc, names: Names): void {
  const paths = [
    ...update.set.map((entry) => entry.path),
    ...update.remove,
    ...update.add.map((entry) => entry.path),
    ...update.delete.map((entry) => entry.path),
  ].map((path) => path.map((segment) => attributeName(segment, names)));
  for (const [i, path] of paths.entries()) {
    const top = path[0] as string;
    if (path.length === 1 && top in key)
      throw new ValidationException(
        `One or more parameter values were invalid: Cannot update attribute ${top}. This attribute is part of the key`,
      );
    for (const other of paths.slice(i + 1)) {
      const shorter = Math.min(path.length, other.length);
      if (path.slice(0, shorter).every((segment, j) => segment === other[j]))
        throw new ValidationException(
          `Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [${path.join(', ')}], path two: [${other.join(', ')}]`,
        );
    }
  }
}

/** The item reduced to the projected paths (nested paths keep their parents; list elements keep their order). */
export function project(item: Doc, paths: Path[], names: Names): Doc {
  const projected: Doc = {};
  for (const path of paths) {
    const value = readPath(item, path, names);
    if (value === undefined) continue;
    const keys = path.map((segment) => attributeName(segment, names));
    let target: Doc | unknown[] = projected;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string | number;
      const last = i === keys.length - 1;
      // In a projected list, the elements asked for follow one another (DynamoDB compacts them).
      if (Array.isArray(target)) {
        const next: unknown = last ? value : typeof keys[i + 1] === 'number' ? [] : {};
        target.push(next);
        target = next as Doc | unknown[];
      } else if (last) target[key] = value;
      else target = (target[key] ??= typeof keys[i + 1] === 'number' ? [] : {}) as Doc | unknown[];
    }
  }
  return projected;
}
