import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../infra/task-function.js';
import type { CfnJson } from './support.js';

// examples/cdk-app is an app of someone else's that imports `llm-batch/cdk` by name and adds the
// construct to its own stack. It is run as `cdk synth` runs it (a process writing a cloud
// assembly), offline, with no AWS credentials, and with cdk-nag registered: a finding fails it.
// In this repository the name resolves to the sources through the llm-batch-source condition
// (package.json "exports"); test/package/pack.test.ts runs the same app from the packed tarball.

const EXAMPLE = join(PROJECT_ROOT, 'examples', 'cdk-app');
const outDir = mkdtempSync(join(tmpdir(), 'llm-batch-example-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

let template: { Resources: Record<string, CfnJson> };
const ofType = (type: string) => Object.values(template.Resources).filter((r) => r.Type === type);

beforeAll(async () => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CDK_OUTDIR: outDir,
    // Bundling is what `npx cdk synth` in .ci/run proves; here it would only add time.
    CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }),
  };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
    delete env[name];
  await promisify(execFile)(process.execPath, ['--conditions=llm-batch-source', '--import', 'tsx', 'app.ts'], {
    cwd: EXAMPLE,
    env,
  });
  template = JSON.parse(readFileSync(join(outDir, 'Moderation.template.json'), 'utf8')) as typeof template;
}, 180_000);

describe('examples/cdk-app, synthesized offline', () => {
  test('the synth succeeded with cdk-nag registered, which fails it on any finding', () => {
    const report = JSON.parse(readFileSync(join(outDir, 'validation-report.json'), 'utf8')) as {
      pluginReports: unknown[];
    };

    expect(readFileSync(join(EXAMPLE, 'app.ts'), 'utf8')).toContain('addPlugins(new AwsSolutionsChecks(app');
    expect(existsSync(join(outDir, 'manifest.json'))).toBe(true);
    expect(report.pluginReports).toEqual([]);
  });

  test("the app's stack holds its own table and everything llm-batch brings", () => {
    expect(ofType('AWS::DynamoDB::Table')).toHaveLength(2);
    expect(ofType('AWS::Lambda::Function')).toHaveLength(8);
    expect(ofType('AWS::StepFunctions::StateMachine')).toHaveLength(1);
    expect(ofType('AWS::ApiGatewayV2::Api')).toHaveLength(1);
  });

  test('the existing key secret and alarm topic are used, not created', () => {
    expect(ofType('AWS::SecretsManager::Secret')).toHaveLength(0);
    expect(ofType('AWS::SNS::Topic')).toHaveLength(0);
    for (const alarm of ofType('AWS::CloudWatch::Alarm'))
      expect(JSON.stringify(alarm.Properties.AlarmActions)).toContain(':oncall');
  });

  test("the schedule comes from the example's llm-batch.config.json", () => {
    const [schedule] = ofType('AWS::Scheduler::Schedule');

    expect(ofType('AWS::Scheduler::Schedule')).toHaveLength(1);
    expect(schedule?.Properties).toMatchObject({
      Name: 'nightly-moderation',
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
    });
  });
});
