/**
 * A small IAM policy evaluator for identity policies whose intrinsics are already resolved to
 * strings. Hand-written because no maintained IAM evaluator is available as an npm package here
 * (offline); it covers what this stack's policies use and refuses the rest loudly:
 * - Effect Allow and Deny (an explicit Deny wins over any Allow);
 * - Action and Resource lists with IAM wildcards (`*` any run of characters, `?` one), actions
 *   compared case-insensitively as IAM does;
 * - Condition: not evaluated. An Allow with a Condition grants nothing here (a call that needs it
 *   is reported refused) and a Deny with a Condition always applies: both err towards refusing.
 * - NotAction, NotResource and NotPrincipal throw: no statement of this stack uses them.
 */

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: unknown;
}

export interface Request {
  action: string;
  resource: string;
}

export type Decision = { allowed: true; by: Statement } | { allowed: false; reason: string };

const asList = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);

/** Does an IAM pattern (with `*` and `?`) match the whole value? */
function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = compiled.get(key);
  if (!regex) {
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    regex = new RegExp(`^${source}$`, ignoreCase ? 'is' : 's');
    compiled.set(key, regex);
  }
  return regex.test(value);
}
const compiled = new Map<string, RegExp>();

export const actionMatches = (pattern: string, action: string) => wildcardMatch(pattern, action, true);
export const resourceMatches = (pattern: string, resource: string) => wildcardMatch(pattern, resource);

function checkSupported(statement: Statement & Record<string, unknown>): void {
  for (const key of ['NotAction', 'NotResource', 'NotPrincipal']) {
    if (key in statement)
      throw new Error(`the IAM evaluator does not handle ${key} (statement ${JSON.stringify(statement)})`);
  }
  for (const value of [...asList(statement.Action), ...asList(statement.Resource)]) {
    if (typeof value !== 'string') throw new Error(`unresolved value in statement ${JSON.stringify(statement)}`);
  }
}

/** The statement's action and resource both match the request. */
function statementCovers(statement: Statement, request: Request): boolean {
  return (
    asList(statement.Action).some((pattern) => actionMatches(pattern, request.action)) &&
    asList(statement.Resource).some((pattern) => resourceMatches(pattern, request.resource))
  );
}

/** IAM's decision for one request against one principal's identity policies. */
export function evaluate(statements: readonly Statement[], request: Request): Decision {
  for (const statement of statements) checkSupported(statement as Statement & Record<string, unknown>);
  const denied = statements.find((s) => s.Effect === 'Deny' && statementCovers(s, request));
  if (denied) return { allowed: false, reason: `explicitly denied${denied.Sid ? ` by ${denied.Sid}` : ''}` };
  const allowing = statements.filter((s) => s.Effect === 'Allow' && statementCovers(s, request));
  const unconditional = allowing.find((s) => s.Condition === undefined);
  if (unconditional) return { allowed: true, by: unconditional };
  if (allowing.length > 0)
    return { allowed: false, reason: 'only allowed under a Condition, which this evaluator does not honour' };
  return { allowed: false, reason: 'no statement allows it (implicit deny)' };
}
