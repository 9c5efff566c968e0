import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, test } from '@jest/globals';
import { CORS_ALLOWED_HEADERS } from '../../infra/job-api.js';
import {
  MAX_SCHEDULE_NAME_LENGTH,
  SCHEDULE_MAX_EVENT_AGE,
  SCHEDULE_RETRY_ATTEMPTS,
} from '../../infra/job-schedules.js';
import type { LlmBatchStack, TaskFunctions } from '../../infra/llm-batch-stack.js';
import type { JobSchedule } from '../../infra/schedules.js';
import { jobIdOf, parseExecutionInput } from '../../shared/execution-input.js';
import { API_ROUTES, PUBLIC_ROUTES } from '../../tasks/api/routes.js';
import { actionsOf, logicalId, resources, statementsOfRole, synth, type CfnJson, type Statement } from './support.js';

// ---------------------------------------------------------------- helpers

const NIGHTLY: JobSchedule = {
  name: 'nightly-moderation',
  expression: 'cron(0 3 * * ? *)',
  timezone: 'Europe/Berlin',
  template: {
    jobType: 'classify',
    options: { model: 'gpt-4.1-mini', params: { labels: ['ok', 'spam'] } },
    input: { key: 'inputs/comments.jsonl' },
  },
};
const HOURLY: JobSchedule = {
  name: 'hourly_digest',
  expression: 'rate(1 hour)',
  enabled: false,
  template: { jobType: 'prompt', input: { key: 'digest.jsonl', bucket: 'my-inputs' } },
};

const routeKeys = API_ROUTES.map((r) => `${r.method} ${r.path}`);
const isPublic = (routeKey: string) =>
  API_ROUTES.some((r) => `${r.method} ${r.path}` === routeKey && PUBLIC_ROUTES.includes(r.name));

function routesByKey(template: ReturnType<typeof synth>['template']): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.values(resources(template, 'AWS::ApiGatewayV2::Route')).map((r) => [
      r.Properties.RouteKey as string,
      r.Properties,
    ]),
  );
}

function only(record: Record<string, CfnJson>, what: string): [string, CfnJson] {
  const entries = Object.entries(record);
  if (entries.length !== 1 || !entries[0]) throw new Error(`expected one ${what}, found ${entries.length}`);
  return entries[0];
}

function functionStatements(
  stack: LlmBatchStack,
  template: ReturnType<typeof synth>['template'],
  name: keyof TaskFunctions,
): Statement[] {
  return statementsOfRole(stack, template, stack.functions[name].fn.role);
}

// The default stack (IAM auth, no CORS, no schedules), synthesized once.
const { stack, template } = synth();
const apiFunctionId = logicalId(stack, stack.functions.api.fn.node.defaultChild);
const machineId = logicalId(stack, stack.stateMachine.node.defaultChild);
const bucketId = logicalId(stack, stack.bucket.node.defaultChild);
const topicId = logicalId(stack, stack.alarms.topic.node.defaultChild);

// ---------------------------------------------------------------- the HTTP API

describe('HTTP API', () => {
  test('one route per API_ROUTES entry, with its method and path', () => {
    expect(Object.keys(routesByKey(template)).sort()).toEqual([...routeKeys].sort());
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP', Name: 'LlmBatch-api' });
  });

  test('IAM authorization on every route by default; /health has none', () => {
    const routes = routesByKey(template);

    expect(routes['GET /health']?.AuthorizationType).toBe('NONE');
    for (const key of routeKeys.filter((k) => !isPublic(k))) {
      expect(routes[key]?.AuthorizationType).toBe('AWS_IAM');
    }
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
  });

  test('with jwtIssuer and jwtAudience, a JWT authorizer guards every route but /health', () => {
    const { stack: s, template: t } = synth({
      jwtIssuer: 'https://issuer.example.com/pool',
      jwtAudience: 'client-1,client-2',
    });
    const [authorizerId] = only(resources(t, 'AWS::ApiGatewayV2::Authorizer'), 'authorizer');
    const routes = routesByKey(t);

    t.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://issuer.example.com/pool', Audience: ['client-1', 'client-2'] },
    });
    for (const key of routeKeys.filter((k) => !isPublic(k))) {
      expect(routes[key]).toMatchObject({ AuthorizationType: 'JWT', AuthorizerId: { Ref: authorizerId } });
    }
    expect(routes['GET /health']?.AuthorizationType).toBe('NONE');
    expect(routes['GET /health']?.AuthorizerId).toBeUndefined();
    expect(s.api.routes.health).toBeDefined();
  });

  test('every route is integrated with the API function (Lambda proxy, payload 2.0)', () => {
    const [integrationId] = only(resources(template, 'AWS::ApiGatewayV2::Integration'), 'integration');

    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': [apiFunctionId, 'Arn'] },
      PayloadFormatVersion: '2.0',
    });
    for (const [_key, route] of Object.entries(routesByKey(template))) {
      expect(route.Target).toEqual({ 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] });
    }
    const invokers = Object.values(resources(template, 'AWS::Lambda::Permission')).filter(
      (p) => p.Properties.Principal === 'apigateway.amazonaws.com',
    );
    expect(invokers.length).toBeGreaterThan(0);
    for (const permission of invokers)
      expect(permission.Properties.FunctionName).toEqual({ 'Fn::GetAtt': [apiFunctionId, 'Arn'] });
  });

  test('no CORS configuration unless corsAllowedOrigins is given', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: Match.absent() });
  });

  test('corsAllowedOrigins: those origins, GET and POST, the signing and idempotency headers', () => {
    const { template: t } = synth({ corsAllowedOrigins: 'https://app.example.com,http://localhost:5173' });

    t.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://app.example.com', 'http://localhost:5173'],
        AllowMethods: ['GET', 'POST'],
        AllowHeaders: ['content-type', 'authorization', 'idempotency-key', 'x-amz-date', 'x-amz-security-token'],
        ExposeHeaders: ['location', 'idempotent-replayed'],
        AllowCredentials: false,
        MaxAge: 3600,
      },
    });
    expect(CORS_ALLOWED_HEADERS).toEqual([
      'content-type',
      'authorization',
      'idempotency-key',
      'x-amz-date',
      'x-amz-security-token',
    ]);
  });

  test('corsAllowedOrigins=* is refused, saying why and what to pass', () => {
    expect(() => synth({ corsAllowedOrigins: '*' })).toThrow(
      'context corsAllowedOrigins must not contain a wildcard: every route but /health is called with credentials (IAM signatures or JWT bearer tokens), ' +
        'so only web apps you trust may call it from a browser; list their exact origins instead (got "*"); ' +
        'pass a comma-separated list of exact browser origins, e.g. -c corsAllowedOrigins=https://app.example.com',
    );
  });

  test('the $default stage deploys itself, is throttled, and writes JSON access logs to its own log group', () => {
    const [, stage] = only(resources(template, 'AWS::ApiGatewayV2::Stage'), 'stage');
    const logs = stage.Properties.AccessLogSettings as { DestinationArn: unknown; Format: string };

    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    expect(logs.DestinationArn).toEqual({
      'Fn::GetAtt': [logicalId(stack, stack.api.accessLogs.node.defaultChild), 'Arn'],
    });
    expect(JSON.parse(logs.Format)).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
    });
    expect(
      resources(template, 'AWS::Logs::LogGroup')[logicalId(stack, stack.api.accessLogs.node.defaultChild)]?.Properties,
    ).toEqual({ RetentionInDays: 30 });
  });

  test('throttling limits come from context', () => {
    const { template: t } = synth({ apiThrottleRateLimit: '5', apiThrottleBurstLimit: '10' });

    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
  });

  test('outputs the URL of the default stage', () => {
    const outputs = template.toJSON() as { Outputs: Record<string, { Value: unknown }> };

    expect(JSON.stringify(outputs.Outputs.ApiUrl?.Value)).toContain('.execute-api.');
  });
});

// ---------------------------------------------------------------- the API function

describe('API function (least privilege)', () => {
  const statements = functionStatements(stack, template, 'api');
  const s3 = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:')));
  const env = (
    resources(template, 'AWS::Lambda::Function')[apiFunctionId]?.Properties.Environment as {
      Variables: Record<string, unknown>;
    }
  ).Variables;

  test('runs tasks/handlers/api.ts and is told the state machine, table and bucket', () => {
    expect(env).toMatchObject({
      STATE_MACHINE_ARN: { Ref: machineId },
      BUCKET_NAME: { Ref: bucketId },
      TABLE_NAME: expect.any(Object) as unknown,
    });
  });

  test('cannot read the OpenAI key and is not told where it is', () => {
    expect(actionsOf(statements).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
    expect(Object.keys(env).filter((name) => name.startsWith('OPENAI_'))).toEqual([]);
  });

  test('may start executions of the job state machine and redrive them (describe, last events, redrive), and nothing else in Step Functions', () => {
    const states = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('states:')));

    // The executions of this state machine: execution:<its name>:*, its name taken from its ARN.
    const executions = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':states:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':execution:',
          { 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: machineId }] }] },
          ':*',
        ],
      ],
    };
    expect(states).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: machineId } },
      {
        Effect: 'Allow',
        Action: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:RedriveExecution'],
        Resource: executions,
      },
    ]);
  });

  test('writes only under jobs/ (and presigns uploads under inputs/uploads/), reads only jobs/ and inputs/, and never deletes', () => {
    const objects = (action: string) =>
      s3
        .filter((s) => actionsOf([s]).includes(action))
        .flatMap((s): unknown[] => (Array.isArray(s.Resource) ? (s.Resource as unknown[]) : [s.Resource]))
        .map((r) => JSON.stringify(r));
    const bucketArn = JSON.stringify({ 'Fn::GetAtt': [bucketId, 'Arn'] });
    const under = (prefix: string) =>
      JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}/*`]] });

    expect(objects('s3:PutObject').sort()).toEqual([under('jobs'), under('inputs/uploads')].sort());
    expect(objects('s3:GetObject*').sort()).toEqual([bucketArn, bucketArn, under('inputs'), under('jobs')].sort());
    expect(actionsOf(s3).filter((a) => a.startsWith('s3:Delete'))).toEqual([]);
  });

  test('reads no other bucket, even with inputBucketNames (its code reads the job bucket only)', () => {
    const { stack: s, template: t } = synth({ inputBucketNames: 'my-inputs' });

    expect(JSON.stringify(functionStatements(s, t, 'api'))).not.toContain('my-inputs');
  });
});

describe('the OpenAI key secret', () => {
  test('no role but the provider-calling functions can read it (not the API, the state machine or the scheduler)', () => {
    const { stack: s, template: t } = synth({}, [NIGHTLY]);
    const readers = Object.values(resources(t, 'AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.PolicyDocument).includes('secretsmanager:'))
      .flatMap((p) => (p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref))
      .sort();
    const providerRoles = (
      ['submitBatch', 'pollBatch', 'recordBatchFailure', 'markJobFailed', 'executionEnded'] as const
    )
      .map((name) => logicalId(s, s.functions[name].role.node.defaultChild))
      .sort();

    expect(readers).toEqual(providerRoles);
  });
});

// ---------------------------------------------------------------- schedules

describe('scheduled starts', () => {
  test('none by default: no schedule, no group, no scheduler role', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 0);
    expect(JSON.stringify(resources(template, 'AWS::IAM::Role'))).not.toContain('scheduler.amazonaws.com');
  });

  const { stack: s, template: t } = synth({ inputBucketNames: 'my-inputs' }, [NIGHTLY, HOURLY]);
  const schedules = Object.values(resources(t, 'AWS::Scheduler::Schedule'));
  const named = (name: string) => {
    const found = schedules.find((x) => x.Properties.Name === name);
    if (!found) throw new Error(`no schedule ${name}`);
    return found.Properties;
  };
  const machine = { Ref: logicalId(s, s.stateMachine.node.defaultChild) };
  const roleId = logicalId(s, s.schedules.role?.node.defaultChild);

  test("one schedule per entry, in the stack's own group, with its expression, time zone (UTC by default) and state", () => {
    const [groupId] = only(resources(t, 'AWS::Scheduler::ScheduleGroup'), 'schedule group');
    const groupName = (resources(t, 'AWS::Scheduler::ScheduleGroup')[groupId]?.Properties.Name ?? '') as string;

    expect(schedules).toHaveLength(2);
    expect(named('nightly-moderation')).toMatchObject({
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      GroupName: groupName,
    });
    expect(named('hourly_digest')).toMatchObject({
      ScheduleExpression: 'rate(1 hour)',
      State: 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
    });
    expect(named('hourly_digest').ScheduleExpressionTimezone).toBe('Etc/UTC');
  });

  test('each starts the job state machine directly, through the scheduler role, with a retry policy', () => {
    for (const name of ['nightly-moderation', 'hourly_digest']) {
      expect(named(name).Target).toMatchObject({
        Arn: machine,
        RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] },
        RetryPolicy: {
          MaximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS,
          MaximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE.toSeconds(),
        },
      });
    }
    t.resourceCountIs('AWS::Lambda::Function', 8);
  });

  test('the input is exactly { schedule: { name, time: <aws.scheduler.scheduled-time> }, template }', () => {
    const input = JSON.parse((named('nightly-moderation').Target as { Input: string }).Input) as unknown;

    expect(input).toEqual({
      schedule: { name: 'nightly-moderation', time: '<aws.scheduler.scheduled-time>' },
      template: {
        jobType: 'classify',
        options: { model: 'gpt-4.1-mini', params: { labels: ['ok', 'spam'] } },
        input: { key: 'inputs/comments.jsonl' },
      },
    });
    expect(JSON.parse((named('hourly_digest').Target as { Input: string }).Input)).toEqual({
      schedule: { name: 'hourly_digest', time: '<aws.scheduler.scheduled-time>' },
      template: { jobType: 'prompt', input: { key: 'digest.jsonl', bucket: 'my-inputs' } },
    });
  });

  test('as Scheduler fills in the time, the workflow reads it and a retried start maps to the same job id', () => {
    const raw = (named('nightly-moderation').Target as { Input: string }).Input;
    const atThree = (time: string) =>
      jobIdOf(parseExecutionInput(JSON.parse(raw.replace('<aws.scheduler.scheduled-time>', time))));

    expect(atThree('2026-11-22T03:00:00Z')).toBe('nightly-moderation-20261122T030000Z');
    expect(atThree('2026-11-22T03:00:00Z')).toBe(atThree('2026-11-22T03:00:00Z'));
  });

  test('the scheduler role is assumable by Scheduler for this account only and may only start this state machine', () => {
    const role = resources(t, 'AWS::IAM::Role')[roleId];

    expect(role?.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        },
      ],
    });
    expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    expect(statementsOfRole(s, t, s.schedules.role)).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: machine },
    ]);
  });

  const valid = NIGHTLY;
  test.each<[string, (schedule: JobSchedule) => JobSchedule, string]>([
    ['a name with a dot', (x) => ({ ...x, name: 'nightly.moderation' }), 'name must be 1 to 63 of A-Z a-z 0-9 _ -'],
    ['an empty name', (x) => ({ ...x, name: '' }), '- schedules[0]: name must be 1 to 63'],
    [
      'a name longer than the job id keeps',
      (x) => ({ ...x, name: 'n'.repeat(MAX_SCHEDULE_NAME_LENGTH + 1) }),
      `name is 64 characters; job ids are <name>-<scheduled time> within a Step Functions execution name, so use at most 63`,
    ],
    [
      'an expression that is not cron, rate or at',
      (x) => ({ ...x, expression: 'daily at 3' }),
      'expression "daily at 3" must be cron(...), rate(...) or at(...)',
    ],
    [
      'an unknown time zone',
      (x) => ({ ...x, timezone: 'Mars/Olympus' }),
      'timezone "Mars/Olympus" is not an IANA time zone; use e.g. "UTC" or "Europe/Berlin"',
    ],
    [
      'an empty job type',
      (x) => ({ ...x, template: { ...x.template, jobType: '' } }),
      'template.jobType must be a registered job type: openai-batch, prompt, classify',
    ],
    [
      'an unknown job type',
      (x) => ({ ...x, template: { ...x.template, jobType: 'clasify' } }),
      'template.jobType "clasify" is not a registered job type; use one of openai-batch, prompt, classify',
    ],
    [
      'an empty input key',
      (x) => ({ ...x, template: { ...x.template, input: { key: '' } } }),
      'template.input.key must be the S3 key of a JSONL file',
    ],
    [
      'a bucket not in inputBucketNames',
      (x) => ({ ...x, template: { ...x.template, input: { key: 'a.jsonl', bucket: 'elsewhere' } } }),
      'template.input.bucket "elsewhere" is not an input bucket, so Prepare job could not read it; add the bucket "elsewhere" to inputBuckets',
    ],
    [
      'options too large for a Scheduler input',
      (x) => ({ ...x, template: { ...x.template, options: { prompt: 'x'.repeat(9000) } } }),
      'takes at most 8192, so shorten template.options',
    ],
  ])('refuses %s, saying what to change', (_what, change, message) => {
    expect(() => synth({}, [change(valid)])).toThrow('LlmBatch LlmBatch/Default: 1 invalid prop:\n- schedules[0]');
    expect(() => synth({}, [change(valid)])).toThrow(message);
  });

  test('refuses two schedules with one name', () => {
    expect(() =>
      synth({}, [
        NIGHTLY,
        { ...HOURLY, name: NIGHTLY.name, template: { ...HOURLY.template, input: { key: 'x.jsonl' } } },
      ]),
    ).toThrow(
      '- schedules[1] "nightly-moderation": name is used twice; schedule names must be unique (they are part of every job id)',
    );
  });

  test(`a name of ${MAX_SCHEDULE_NAME_LENGTH} characters is kept whole in the job id`, () => {
    const name = 'n'.repeat(MAX_SCHEDULE_NAME_LENGTH);
    const { template: t63 } = synth({}, [{ ...NIGHTLY, name }]);

    t63.hasResourceProperties('AWS::Scheduler::Schedule', { Name: name });
    expect(jobIdOf({ schedule: { name, time: '2026-11-22T03:00:00Z' }, template: NIGHTLY.template })).toBe(
      `${name}-20261122T030000Z`,
    );
  });
});

// ---------------------------------------------------------------- alarms

describe('alarms', () => {
  const alarms = Object.values(resources(template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);
  const on = (metric: string, dimension: string, value: unknown) =>
    alarms.filter(
      (a) =>
        a.MetricName === metric && JSON.stringify(a.Dimensions) === JSON.stringify([{ Name: dimension, Value: value }]),
    );
  const one = (metric: string, dimension: string, value: unknown) => {
    const found = on(metric, dimension, value);
    expect(found).toHaveLength(1);
    return found[0] ?? {};
  };

  test('on the state machine: failed, timed out, aborted executions and throttling, any one of them', () => {
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted', 'ExecutionThrottled']) {
      expect(one(metric, 'StateMachineArn', { Ref: machineId })).toMatchObject({
        Namespace: 'AWS/States',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  test('on every function: Errors and Throttles; sustained for workflow tasks, any for the API and execution-ended', () => {
    const workflowTasks: (keyof TaskFunctions)[] = [
      'prepareJob',
      'submitBatch',
      'pollBatch',
      'recordBatchFailure',
      'finalizeJob',
      'markJobFailed',
    ];
    const names = Object.keys(stack.functions) as (keyof TaskFunctions)[];

    expect(names).toHaveLength(8);
    for (const name of names) {
      const fn = { Ref: logicalId(stack, stack.functions[name].fn.node.defaultChild) };
      const periods = workflowTasks.includes(name) ? 3 : 1;
      for (const metric of ['Errors', 'Throttles']) {
        expect(one(metric, 'FunctionName', fn)).toMatchObject({
          Namespace: 'AWS/Lambda',
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          EvaluationPeriods: periods,
          DatapointsToAlarm: periods,
        });
      }
    }
  });

  test("on the API's 5xx answers", () => {
    expect(one('5xx', 'ApiId', { Ref: logicalId(stack, stack.api.httpApi.node.defaultChild) })).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  test('every alarm notifies the alarm topic', () => {
    expect(alarms).toHaveLength(4 + 2 * 8 + 1);
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
  });

  test('with schedules, dropped scheduled starts alarm too', () => {
    const { stack: s, template: t } = synth({}, [NIGHTLY]);

    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Scheduler',
      MetricName: 'InvocationDroppedCount',
      Dimensions: [{ Name: 'ScheduleGroup', Value: s.schedules.group?.scheduleGroupName }],
      AlarmActions: [{ Ref: logicalId(s, s.alarms.topic.node.defaultChild) }],
    });
  });

  test('the topic is KMS-encrypted with a rotating key CloudWatch may use, and refuses non-TLS publishing', () => {
    const keyId = logicalId(stack, stack.alarms.key?.node.defaultChild);

    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sns:Publish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
          }),
        ]),
      },
    });
  });

  test('no subscription by default; alarmEmail subscribes that address', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const { template: t } = synth({ alarmEmail: 'oncall@example.com' });

    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  test('outputs the topic ARN', () => {
    const outputs = template.toJSON() as { Outputs: Record<string, { Value: unknown }> };

    expect(outputs.Outputs.AlarmTopicArn?.Value).toEqual({ Ref: topicId });
  });
});
