import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator, TreatMissingData, type Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { TASK_NAMES, TASKS, taskConstructId, type TaskName } from '../workflows/task-registry.js';

/** Every alarm looks at sums over this period. */
export const ALARM_PERIOD = Duration.minutes(5);
/** Periods in a row a "sustained" alarm needs (15 minutes). */
export const SUSTAINED_PERIODS = 3;

/**
 * `any`: one error alarms (nothing retries the invocation for us, or an error means a job may be
 * left unmarked). `sustained`: errors in SUSTAINED_PERIODS periods in a row; for tasks the
 * workflow retries by design (rate limits, throttling), where one error is routine and a job that
 * fails for good raises the ExecutionsFailed alarm anyway.
 */
export type ErrorSensitivity = 'any' | 'sustained';

/**
 * Workflow tasks are retried by the state machine, so one error is routine there; the other
 * functions (the API, execution-ended) are not: an error is a failed request, or a job left unmarked.
 */
export function errorSensitivityOf(name: TaskName): ErrorSensitivity {
  return 'state' in TASKS[name] ? 'sustained' : 'any';
}

export interface JobAlarmsProps {
  stateMachine: IStateMachine;
  /** Every task's function (workflows/task-registry.ts); each gets Errors and Throttles alarms. */
  functions: Readonly<Record<TaskName, IFunction>>;
  httpApi: IHttpApi;
  /** The schedules' group; its dropped invocations (starts given up after retries) alarm. */
  scheduleGroup?: IScheduleGroup;
  /** Subscribed to the topic when given (the address must confirm the subscription); not with `topic`. */
  email?: string;
  /** An existing topic to notify, used as it is (no key, policy or subscription added). @default a new topic */
  topic?: ITopic;
}

/**
 * CloudWatch alarms on the state machine, every function and the API, all notifying one SNS
 * topic. The topic is encrypted with a customer managed key: CloudWatch cannot publish to a topic
 * encrypted with the AWS managed key (alias/aws/sns), whose key policy cannot grant it.
 */
export class JobAlarms extends Construct {
  readonly topic: ITopic;
  /** The topic's key, when the topic is ours. */
  readonly key?: Key;
  readonly alarms: Alarm[] = [];
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: JobAlarmsProps) {
    super(scope, id);
    if (props.topic) {
      this.topic = props.topic;
    } else {
      const { topic, key } = ownTopic(this, props.email);
      this.topic = topic;
      this.key = key;
    }
    this.action = new SnsAction(this.topic);

    const machine = props.stateMachine;
    this.alarm(
      'ExecutionsFailed',
      machine.metricFailed(),
      'any',
      'A job execution failed: the job is FAILED. Read its log (GET /jobs/{id}/logs) and the execution history.',
    );
    this.alarm(
      'ExecutionsTimedOut',
      machine.metricTimedOut(),
      'any',
      'A job execution timed out past every Catch; execution-ended marks the job FAILED.',
    );
    this.alarm(
      'ExecutionsAborted',
      machine.metricAborted(),
      'any',
      'A job execution was stopped (StopExecution); execution-ended marks the job FAILED.',
    );
    this.alarm(
      'ExecutionThrottled',
      machine.metricThrottled(),
      'any',
      'Step Functions throttled state transitions or starts of the job state machine; jobs slow down. Lower job concurrency or raise the quota.',
    );

    for (const task of TASK_NAMES) {
      const name = taskConstructId(task);
      const fn = props.functions[task];
      const errors = errorSensitivityOf(task);
      this.alarm(
        `${name}Errors`,
        fn.metricErrors(),
        errors,
        errors === 'any'
          ? `The ${name} function failed. See its log group.`
          : `The ${name} function has failed in every 5-minute period for 15 minutes (single retried errors are routine). See its log group.`,
      );
      this.alarm(
        `${name}Throttles`,
        fn.metricThrottles(),
        errors,
        `Lambda throttled the ${name} function: account concurrency is exhausted. Lower job maxConcurrency or raise the Lambda concurrency quota.`,
      );
    }

    this.alarm(
      'Api5xx',
      props.httpApi.metricServerError(),
      'any',
      'The HTTP API answered 5xx (a function error or a timeout). See the API access logs and the Api function log group.',
    );

    if (props.scheduleGroup) {
      this.alarm(
        'ScheduledStartsDropped',
        props.scheduleGroup.metricDropped(),
        'any',
        'EventBridge Scheduler gave up starting a scheduled job after its retries; that run did not happen. Start it by hand if it is still needed.',
      );
    }
  }

  private alarm(id: string, metric: Metric, sensitivity: ErrorSensitivity, description: string): Alarm {
    const periods = sensitivity === 'any' ? 1 : SUSTAINED_PERIODS;
    const alarm = new Alarm(this, id, {
      metric: metric.with({ statistic: 'Sum', period: ALARM_PERIOD }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: `llm-batch: ${description}`,
    });
    alarm.addAlarmAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }
}

/** A topic encrypted with its own rotating key, that only this account's alarms may publish to. */
function ownTopic(scope: Construct, email: string | undefined): { topic: Topic; key: Key } {
  const stack = Stack.of(scope);
  const key = new Key(scope, 'TopicKey', {
    description: 'llm-batch: encrypts alarm notifications on the alarm topic',
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.DESTROY,
    pendingWindow: Duration.days(7),
  });
  // CloudWatch encrypts what it publishes with the topic's key, so it must be allowed to use it.
  key.addToResourcePolicy(
    new PolicyStatement({
      sid: 'AllowCloudWatchAlarmsToUseTheKey',
      principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }),
  );

  const topic = new Topic(scope, 'Topic', {
    displayName: 'llm-batch alarms',
    masterKey: key,
    enforceSSL: true,
  });
  // A topic policy replaces SNS's default one, so allow this account's alarms explicitly.
  topic.addToResourcePolicy(
    new PolicyStatement({
      sid: 'AllowThisAccountsAlarms',
      principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  if (email) topic.addSubscription(new EmailSubscription(email));
  return { topic, key };
}
