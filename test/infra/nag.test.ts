import { Stack, Validations, type App } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, test } from '@jest/globals';
import { acknowledge, acknowledgmentsUnder, MIN_REASON_LENGTH } from '../../infra/nag.js';
import type { JobSchedule } from '../../infra/schedules.js';
import { actionsOf, buildStack, synth, testApp, type Statement } from './support.js';

// cdk-nag 3 is a policy validation plugin: `Validations.of(app).addPlugins(new AwsSolutionsChecks(app))`
// (there is no Aspect, NagSuppressions or Annotations output any more). Its validateScope(app)
// returns the violations, errors and warnings alike, that are not acknowledged.

const SCHEDULE: JobSchedule = {
  name: 'nightly',
  expression: 'cron(0 3 * * ? *)',
  template: { jobType: 'classify', input: { key: 'inputs/comments.jsonl', bucket: 'my-inputs' } },
};

/** Every option on, so every optional resource (JWT authorizer, CORS, subscription, schedules, imports) is checked. */
const EVERYTHING = {
  jwtIssuer: 'https://issuer.example.com/pool',
  jwtAudience: 'client-1',
  corsAllowedOrigins: 'https://app.example.com',
  alarmEmail: 'oncall@example.com',
  inputBucketNames: 'my-inputs',
  applyTableNames: 'Comments',
  openaiApiKeySecretName: 'prod/openai-key',
  openaiBaseUrl: 'https://llm.example.com/v1',
};

const VARIANTS: [string, Record<string, unknown>, JobSchedule[]][] = [
  ['the default stack', {}, []],
  ['every option and a schedule', EVERYTHING, [SCHEDULE]],
];

type Violation = { ruleName: string; severity?: string; violatingResources: { constructPath: string }[] };

function violations(app: App, options: { ignoreAcknowledgments?: boolean } = {}): Violation[] {
  const pack = new AwsSolutionsChecks(app, { verbose: true });
  // To list what the acknowledgments hide (and find stale ones), bypass them on this one pack.
  if (options.ignoreAcknowledgments)
    (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack.validateScope(app).violations as Violation[];
}

const describeViolations = (found: Violation[]) =>
  found
    .map((v) => `${v.severity ?? ''} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)
    .join('\n');

describe.each(VARIANTS)('cdk-nag AwsSolutions on %s', (_name, context, schedules) => {
  const { app, stack } = synth(context, schedules);
  const acknowledged = acknowledgmentsUnder(app);

  test('reports no error and no warning', () => {
    const found = violations(app);

    expect(describeViolations(found)).toBe('');
  });

  test(`every acknowledgment gives a reason of at least ${MIN_REASON_LENGTH} characters`, () => {
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { rule, reason } of acknowledged) {
      expect(rule).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.trim().length).toBeGreaterThanOrEqual(MIN_REASON_LENGTH);
    }
  });

  test('every acknowledgment hides a finding that exists, on that resource (none is stale)', () => {
    const all = violations(app, { ignoreAcknowledgments: true });

    for (const { path, rule } of acknowledged) {
      const hides = all.some(
        (v) =>
          v.ruleName === rule &&
          v.violatingResources.some((r) => r.constructPath === path || r.constructPath.startsWith(`${path}/`)),
      );
      expect(hides).toBe(true);
    }
  });

  test('no acknowledgment is blanket: none on the app or the stack, each on the construct it concerns', () => {
    const paths = new Set(acknowledged.map((a) => a.path));

    expect(paths.has(stack.node.path)).toBe(false);
    expect(paths.has(app.node.path)).toBe(false);
  });

  test('only these rules are acknowledged (a new one needs a reason here too)', () => {
    const rules = [...new Set(acknowledged.map((a) => a.rule.replace(/\[.*$/, '')))].sort();

    expect(rules).toEqual(
      [
        'AwsSolutions-APIG4',
        'AwsSolutions-IAM5',
        'AwsSolutions-S1',
        'AwsSolutions-SF1',
        ...('openaiApiKeySecretName' in context ? [] : ['AwsSolutions-SMG4']),
      ].sort(),
    );
  });

  test('a bare "*" resource is granted only for X-Ray and the Logs delivery setup, as the IAM5 reasons say', () => {
    const { template } = synth(context, schedules);
    const starred = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap(
        (p) =>
          (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
      )
      .filter(
        (st) =>
          st.Effect === 'Allow' && (st.Resource === '*' || (Array.isArray(st.Resource) && st.Resource.includes('*'))),
      );

    for (const action of actionsOf(starred))
      expect(action).toMatch(
        /^(xray:|logs:(Create|Get|Update|Delete|List)LogDeliver|logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$)/,
      );
  });

  test('APIG4 (no authorization) is acknowledged for the public /health route only', () => {
    const unauthorized = acknowledged.filter((a) => a.rule === 'AwsSolutions-APIG4').map((a) => a.path);

    expect(unauthorized).toEqual([stack.api.routes.health.node.path]);
  });
});

describe('cdk-nag wiring (as infra/app.ts registers it)', () => {
  test('synth succeeds with the AwsSolutions plugin registered', () => {
    const app = testApp();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
    buildStack(app);

    expect(() => app.synth()).not.toThrow();
  });

  test('an unacknowledged finding fails the synth', () => {
    const app = testApp();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
    const stack = buildStack(app);
    new Bucket(stack, 'Unchecked');

    // The message is the validation report (how CDK words it differs between a terminal and CI).
    expect(() => app.synth()).toThrow(/LlmBatch\/Unchecked[\s\S]*AwsSolutions-S1/);
  });

  test('acknowledge() refuses a short reason or a rule that is not AwsSolutions', () => {
    const stack = new Stack(testApp(), 'Scope');

    expect(() => acknowledge(stack, 'AwsSolutions-S1', 'not needed')).toThrow(
      `give a reason of at least ${MIN_REASON_LENGTH} characters`,
    );
    expect(() => acknowledge(stack, 'S1', 'a long enough reason that explains the case')).toThrow(
      'is not an AwsSolutions rule id',
    );
  });
});
