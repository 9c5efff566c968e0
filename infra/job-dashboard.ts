import { Duration, Stack } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  MathExpression,
  type IAlarm,
  type IMetric,
  type IWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  JOB_METRIC,
  JOB_METRIC_DIMENSIONS,
  METRICS_NAMESPACE,
  type JobMetricName,
} from '../shared/metrics/job-metrics.js';

/** The period of the dashboard's graphs. */
export const DASHBOARD_PERIOD = Duration.minutes(5);
/** Throughput is shown per minute. */
export const THROUGHPUT_PERIOD = Duration.minutes(1);
/** Cost is summed per hour. */
export const COST_PERIOD = Duration.hours(1);

/**
 * The job metrics' schema in a CloudWatch SEARCH: every job type and mode a deployment has run,
 * with no list of them kept here (a new job type shows up by itself).
 */
export const JOB_METRICS_SCHEMA = `{${METRICS_NAMESPACE},${JOB_METRIC_DIMENSIONS.join(',')}}`;

/** A SEARCH over the job metrics of these names: one series per job type and mode. */
export function searchJobMetrics(names: readonly JobMetricName[], statistic: string, period: Duration): string {
  const metricNames = names.map((name) => `MetricName="${name}"`).join(' OR ');
  return `SEARCH('${JOB_METRICS_SCHEMA} ${names.length > 1 ? `(${metricNames})` : metricNames}', '${statistic}', ${period.toSeconds()})`;
}

export interface JobDashboardProps {
  /** The job state machine: its executions started, succeeded and failed (AWS/States). */
  stateMachine: IStateMachine;
  /** The stack's alarms (JobAlarms), shown with their state. */
  alarms: readonly IAlarm[];
  /** @default `<stack name>-jobs` */
  dashboardName?: string;
}

/**
 * One CloudWatch dashboard of the deployment: the alarms, the items by status and their
 * throughput, provider calls, 429s and latency, re-sends, tokens and cost (the job metrics the
 * tasks emit, shared/metrics/job-metrics.ts), and the state machine's executions.
 */
export class JobDashboard extends Construct {
  readonly dashboard: Dashboard;
  /** The dashboard in the CloudWatch console of the stack's region. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: JobDashboardProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const dashboardName = props.dashboardName ?? `${stack.stackName}-jobs`;
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName,
      defaultInterval: Duration.hours(3),
      widgets: [
        [new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 6 })],
        [itemsByStatus(), throughput(), itemsEndedByJob()],
        [providerCalls(), providerLatency(), attempts()],
        [tokens(), cost(), executions(props.stateMachine)],
      ],
    });
    const region = stack.region;
    this.url = `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${dashboardName}`;
  }
}

/** The sum over every job type and mode. */
function total(name: JobMetricName, label: string, period = DASHBOARD_PERIOD): IMetric {
  return new MathExpression({ expression: `SUM(${searchJobMetrics([name], 'Sum', period)})`, label, period });
}

/** A series' label from its dimensions and name (CloudWatch dynamic labels), e.g. `prompt responses ItemsFailed`. */
const SERIES_LABEL = "${PROP('Dim.jobType')} ${PROP('Dim.mode')} ${PROP('MetricName')}";

/** One series per job type and mode (and metric), labelled with them. */
function perJob(names: readonly JobMetricName[], statistic: string, period = DASHBOARD_PERIOD): IMetric {
  return new MathExpression({
    expression: searchJobMetrics(names, statistic, period),
    label: `${SERIES_LABEL} ${statistic}`,
    period,
  });
}

function graph(title: string, left: IMetric[], options: { right?: IMetric[]; leftLabel?: string } = {}): IWidget {
  return new GraphWidget({
    title,
    left,
    ...(options.right && { right: options.right }),
    ...(options.leftLabel && { leftYAxis: { label: options.leftLabel, showUnits: false } }),
    width: 8,
    height: 6,
  });
}

function itemsByStatus(): IWidget {
  return graph('Items by status (per 5 min)', [
    total(JOB_METRIC.itemsSubmitted, 'Submitted'),
    total(JOB_METRIC.itemsSucceeded, 'Succeeded'),
    total(JOB_METRIC.itemsFailed, 'Failed'),
    total(JOB_METRIC.itemsCancelled, 'Cancelled'),
  ]);
}

const ENDED = [JOB_METRIC.itemsSucceeded, JOB_METRIC.itemsFailed, JOB_METRIC.itemsCancelled];

function throughput(): IWidget {
  return graph(
    'Throughput (items ended per minute)',
    [
      new MathExpression({
        expression: `SUM(${searchJobMetrics(ENDED, 'Sum', THROUGHPUT_PERIOD)})`,
        label: 'Items ended',
        period: THROUGHPUT_PERIOD,
      }),
    ],
    { leftLabel: 'items / min' },
  );
}

function itemsEndedByJob(): IWidget {
  return graph('Items ended by job type and mode', [perJob(ENDED, 'Sum')]);
}

function providerCalls(): IWidget {
  return graph(
    'Provider calls and 429s',
    [total(JOB_METRIC.providerSubmitCalls, 'Submit calls'), total(JOB_METRIC.providerPollCalls, 'Poll calls')],
    { right: [total(JOB_METRIC.providerRateLimited, '429 (rate limited)')] },
  );
}

function providerLatency(): IWidget {
  return graph(
    'Provider latency (ms) by job type and mode',
    [perJob([JOB_METRIC.providerLatency], 'p50'), perJob([JOB_METRIC.providerLatency], 'p90')],
    { leftLabel: 'ms' },
  );
}

function attempts(): IWidget {
  return graph('Attempts: items submitted, sends, re-sends', [
    total(JOB_METRIC.itemsSubmitted, 'Items submitted'),
    total(JOB_METRIC.providerSubmitCalls, 'Submit calls (every attempt)'),
    total(JOB_METRIC.itemsResent, 'Items re-sent'),
  ]);
}

function tokens(): IWidget {
  return graph('Tokens (per 5 min)', [
    total(JOB_METRIC.inputTokens, 'Input tokens'),
    total(JOB_METRIC.outputTokens, 'Output tokens'),
  ]);
}

function cost(): IWidget {
  return graph(
    'Estimated cost (USD per hour)',
    [
      total(JOB_METRIC.estimatedCostUsd, 'All jobs', COST_PERIOD),
      perJob([JOB_METRIC.estimatedCostUsd], 'Sum', COST_PERIOD),
    ],
    { leftLabel: 'USD' },
  );
}

function executions(machine: IStateMachine): IWidget {
  const sum = { statistic: 'Sum', period: DASHBOARD_PERIOD };
  return graph('Job executions', [
    machine.metricStarted({ ...sum, label: 'Started' }),
    machine.metricSucceeded({ ...sum, label: 'Succeeded' }),
    machine.metricFailed({ ...sum, label: 'Failed' }),
    machine.metricTimedOut({ ...sum, label: 'Timed out' }),
    machine.metricAborted({ ...sum, label: 'Aborted' }),
  ]);
}
