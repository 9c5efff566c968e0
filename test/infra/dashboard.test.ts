import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, test } from '@jest/globals';
import { JobDashboard } from '../../infra/job-dashboard.js';
import { JOB_METRIC } from '../../shared/metrics/job-metrics.js';
import { resources, synth, testApp } from './support.js';

/** The jobs metrics' SEARCH schema: the namespace and exactly the dimensions the tasks emit. */
const SCHEMA = '{LlmBatch,service,jobType,mode}';

interface Widget {
  type: string;
  properties: {
    title: string;
    alarms?: string[];
    metrics?: (string | Record<string, unknown>)[][];
  };
}

/** A token of the template, as a readable placeholder: `<Ref:X>` or `<X.Arn>`. */
function placeholder(part: Record<string, unknown>): string {
  if ('Ref' in part) return `<Ref:${String(part.Ref)}>`;
  const getAtt = part['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt) return `<${getAtt[0]}.${getAtt[1]}>`;
  throw new Error(`unexpected token ${JSON.stringify(part)}`);
}

/** An Fn::Join of strings and tokens, as one string with placeholders. */
function joined(value: unknown): string {
  if (typeof value === 'string') return value;
  const [separator, parts] = (value as { 'Fn::Join': [string, (string | Record<string, unknown>)[]] })['Fn::Join'];
  return parts.map((part) => (typeof part === 'string' ? part : placeholder(part))).join(separator);
}

function dashboardOf(template: ReturnType<typeof synth>['template']) {
  const dashboards = Object.values(resources(template, 'AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const properties = dashboards[0]?.Properties ?? {};
  const body = JSON.parse(joined(properties.DashboardBody)) as { widgets: Widget[] };
  return { name: properties.DashboardName, widgets: body.widgets };
}

function widget(widgets: Widget[], title: string): Widget {
  const found = widgets.find((w) => w.properties.title === title);
  if (!found) throw new Error(`no widget "${title}" in ${widgets.map((w) => w.properties.title).join(', ')}`);
  return found;
}

/** The expressions of a graph widget's metrics (a math expression is `[{expression, label, ...}]`). */
function expressions(w: Widget): string[] {
  return (w.properties.metrics ?? []).flatMap((m) => {
    const options = m[m.length - 1];
    return typeof options === 'object' && typeof options.expression === 'string' ? [options.expression] : [];
  });
}

describe('the jobs dashboard', () => {
  const { template } = synth();
  const { name, widgets } = dashboardOf(template);

  test('is one dashboard named after the stack', () => {
    expect(name).toBe('LlmBatch-jobs');
  });

  test('shows the state of every alarm of the stack', () => {
    const alarmIds = Object.keys(resources(template, 'AWS::CloudWatch::Alarm'));
    expect(alarmIds.length).toBeGreaterThan(10);
    expect(widget(widgets, 'Alarms')).toMatchObject({ type: 'alarm' });
    expect(widget(widgets, 'Alarms').properties.alarms?.sort()).toEqual(alarmIds.map((id) => `<${id}.Arn>`).sort());
  });

  test('sums the items by status over every job type and mode, from the metrics the tasks emit', () => {
    expect(expressions(widget(widgets, 'Items by status (per 5 min)'))).toEqual(
      ['ItemsSubmitted', 'ItemsSucceeded', 'ItemsFailed', 'ItemsCancelled'].map(
        (metric) => `SUM(SEARCH('${SCHEMA} MetricName="${metric}"', 'Sum', 300))`,
      ),
    );
  });

  test('shows the throughput as items ended per minute', () => {
    expect(expressions(widget(widgets, 'Throughput (items ended per minute)'))).toEqual([
      `SUM(SEARCH('${SCHEMA} (MetricName="ItemsSucceeded" OR MetricName="ItemsFailed" OR MetricName="ItemsCancelled")', 'Sum', 60))`,
    ]);
  });

  test('shows provider calls with the 429s, and the latency percentiles per job type and mode', () => {
    expect(expressions(widget(widgets, 'Provider calls and 429s'))).toEqual([
      `SUM(SEARCH('${SCHEMA} MetricName="ProviderSubmitCalls"', 'Sum', 300))`,
      `SUM(SEARCH('${SCHEMA} MetricName="ProviderPollCalls"', 'Sum', 300))`,
      `SUM(SEARCH('${SCHEMA} MetricName="ProviderRateLimited"', 'Sum', 300))`,
    ]);
    expect(expressions(widget(widgets, 'Provider latency (ms) by job type and mode'))).toEqual([
      `SEARCH('${SCHEMA} MetricName="ProviderLatency"', 'p50', 300)`,
      `SEARCH('${SCHEMA} MetricName="ProviderLatency"', 'p90', 300)`,
    ]);
  });

  test('shows tokens, the estimated cost per hour and the re-sends', () => {
    expect(expressions(widget(widgets, 'Tokens (per 5 min)'))).toEqual([
      `SUM(SEARCH('${SCHEMA} MetricName="InputTokens"', 'Sum', 300))`,
      `SUM(SEARCH('${SCHEMA} MetricName="OutputTokens"', 'Sum', 300))`,
    ]);
    expect(expressions(widget(widgets, 'Estimated cost (USD per hour)'))).toEqual([
      `SUM(SEARCH('${SCHEMA} MetricName="EstimatedCostUsd"', 'Sum', 3600))`,
      `SEARCH('${SCHEMA} MetricName="EstimatedCostUsd"', 'Sum', 3600)`,
    ]);
    expect(expressions(widget(widgets, 'Attempts: items submitted, sends, re-sends'))).toContain(
      `SUM(SEARCH('${SCHEMA} MetricName="ItemsResent"', 'Sum', 300))`,
    );
  });

  test('graphs every job metric the tasks emit', () => {
    const all = widgets.flatMap(expressions).join('\n');
    for (const metric of Object.values(JOB_METRIC)) expect(all).toContain(`MetricName="${metric}"`);
  });

  test('labels each job type and mode series with its dimensions (CloudWatch dynamic labels)', () => {
    const [latency] = widget(widgets, 'Provider latency (ms) by job type and mode').properties.metrics ?? [];
    expect(latency?.[0]).toMatchObject({
      label: "${PROP('Dim.jobType')} ${PROP('Dim.mode')} ${PROP('MetricName')} p50",
    });
  });

  test("shows the state machine's executions started, succeeded and failed", () => {
    const machine = Object.keys(resources(template, 'AWS::StepFunctions::StateMachine'));
    expect(machine).toHaveLength(1);
    const metrics = widget(widgets, 'Job executions').properties.metrics ?? [];
    const names = metrics.map((m) => m.slice(0, 4));
    for (const metric of ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsTimedOut']) {
      expect(names).toContainEqual(['AWS/States', metric, 'StateMachineArn', `<Ref:${machine[0] ?? ''}>`]);
    }
  });

  test('is linked from the DashboardUrl output, in the console of the stack region', () => {
    const outputs = template.findOutputs('DashboardUrl') as Record<string, { Value: unknown }>;
    expect(joined(outputs.DashboardUrl?.Value)).toBe(
      'https://<Ref:AWS::Region>.console.aws.amazon.com/cloudwatch/home?region=<Ref:AWS::Region>' +
        '#dashboards/dashboard/LlmBatch-jobs',
    );
  });
});

describe('JobDashboard', () => {
  test('GIVEN a stack deployed to a known region THEN the URL names that region', () => {
    // Arrange
    const stack = new Stack(testApp(), 'Jobs', { env: { account: '123456789012', region: 'eu-west-1' } });
    const machine = StateMachine.fromStateMachineArn(
      stack,
      'Machine',
      'arn:aws:states:eu-west-1:123456789012:stateMachine:jobs',
    );

    // Act
    const dashboard = new JobDashboard(stack, 'Dashboard', {
      stateMachine: machine,
      alarms: [],
      dashboardName: 'ops',
    });

    // Assert
    expect(dashboard.url).toBe(
      'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/ops',
    );
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'ops' });
  });
});
