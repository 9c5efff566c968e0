import { App, Aws, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, test } from '@jest/globals';
import { LlmBatch, LlmBatchPropsError, type JobSchedule, type LlmBatchProps } from '../../infra/index.js';
import { actionsOf, logicalId, resources, statementsOfRole, type Statement } from './support.js';

// The construct as another app uses it: added to a stack of that app, with or without props.

/** A stack of "your own app" (no cdk.json feature flags; no bundling, to keep the test fast). */
function ownStack(): Stack {
  return new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Yours');
}

function build(props?: LlmBatchProps, stack = ownStack()) {
  const llmBatch = new LlmBatch(stack, 'LlmBatch', props);
  return { stack, llmBatch, template: Template.fromStack(stack) };
}

const NIGHTLY: JobSchedule = {
  name: 'nightly',
  expression: 'cron(0 3 * * ? *)',
  template: { jobType: 'classify', input: { key: 'inputs/comments.jsonl' } },
};

describe('LlmBatch with no props', () => {
  const { stack, llmBatch, template } = build();

  test('holds the table, bucket, a new key secret, 8 functions, the state machine, rule, API and alarms', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'llm-batch/openai-api-key' });
    template.resourceCountIs('AWS::Lambda::Function', 8);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.resourceCountIs('AWS::Events::Rule', 1);
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4 + 2 * 8 + 1);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
  });

  test('the defaults: 7-day records (job files 14), IAM auth, no CORS, 50/100 throttle', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-job-files', ExpirationInDays: 14 })]),
      },
    });
    expect(
      Object.values(resources(template, 'AWS::ApiGatewayV2::Route')).map((r) => r.Properties.AuthorizationType),
    ).toEqual(expect.arrayContaining(['AWS_IAM', 'NONE']));
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: Match.absent() });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });

  test("writes the Distributed Map's results (ResultWriter) though the app sets no feature flag", () => {
    const machine = Object.values(resources(template, 'AWS::StepFunctions::StateMachine'))[0];

    expect(JSON.stringify(machine?.Properties.DefinitionString)).toContain('ResultWriter');
  });

  test('exposes what a stack of yours wires to: the API URL, the state machine, the bucket', () => {
    expect(stack.resolve(llmBatch.apiUrl)).toEqual(stack.resolve(llmBatch.api.url));
    expect(logicalId(stack, llmBatch.stateMachine.node.defaultChild)).toMatch(/^LlmBatchJobs/);
    expect(logicalId(stack, llmBatch.bucket.node.defaultChild)).toMatch(/^LlmBatchBucket/);
  });
});

describe('LlmBatch with existing resources passed in', () => {
  const stack = ownStack();
  const comments = new Table(stack, 'Comments', {
    partitionKey: { name: 'id', type: AttributeType.STRING },
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
  });
  const inputs = Bucket.fromBucketName(stack, 'Inputs', 'my-inputs');
  const key = Secret.fromSecretNameV2(stack, 'Key', 'prod/openai-key');
  const topic = Topic.fromTopicArn(stack, 'Oncall', `arn:${Aws.PARTITION}:sns:${Aws.REGION}:${Aws.ACCOUNT_ID}:oncall`);
  const { llmBatch, template } = build(
    {
      openAiKeySecret: key,
      alarmTopic: topic,
      applyTables: [comments],
      inputBuckets: [inputs],
      schedules: [{ ...NIGHTLY, template: { ...NIGHTLY.template, input: { key: 'x.jsonl', bucket: 'my-inputs' } } }],
    },
    stack,
  );
  const statementsOf = (name: keyof typeof llmBatch.functions): Statement[] =>
    statementsOfRole(stack, template, llmBatch.functions[name].fn.role);

  test('the secret is used, not created: the provider tasks read that one', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(llmBatch.openAiKey).toBe(key);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ OPENAI_API_KEY_SECRET_ARN: stack.resolve(key.secretArn) as unknown }),
      },
    });
  });

  test('the alarms notify the topic given; no topic or key is created', () => {
    const alarms = Object.values(resources(template, 'AWS::CloudWatch::Alarm'));

    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    expect(alarms).toHaveLength(4 + 2 * 8 + 1 + 1);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([stack.resolve(topic.topicArn)]);
  });

  test('classify may update the table given, and only update it', () => {
    const tableArn = stack.resolve(comments.tableArn) as unknown;
    const onTable = statementsOf('submitBatch').filter((s) =>
      JSON.stringify(s.Resource).includes(JSON.stringify(tableArn)),
    );

    expect(actionsOf(onTable)).toEqual(['dynamodb:UpdateItem']);
    expect(JSON.stringify(statementsOf('api'))).not.toContain(JSON.stringify(tableArn));
  });

  test('Prepare job may read the input bucket given, which a schedule may name', () => {
    expect(JSON.stringify(statementsOf('prepareJob'))).toContain('my-inputs');
    template.hasResourceProperties('AWS::Scheduler::Schedule', { Name: 'nightly' });
  });

  test('cdk-nag AwsSolutions finds nothing unacknowledged', () => {
    const found = new AwsSolutionsChecks(stack.node.root, { verbose: true }).validateScope(stack.node.root);

    expect(found.violations.map((v) => `${v.ruleName} at ${v.violatingResources[0]?.constructPath}`)).toEqual([]);
  });
});

describe('LlmBatch options', () => {
  test('recordTtlDays, openaiBaseUrl, apiAuth, corsAllowedOrigins, apiThrottle and alarmEmail reach the resources', () => {
    const { template } = build({
      recordTtlDays: 30,
      openaiBaseUrl: 'https://llm.example.com/v1',
      apiAuth: { kind: 'jwt', issuer: 'https://issuer.example.com', audience: ['client-1'] },
      corsAllowedOrigins: ['https://app.example.com'],
      apiThrottle: { rateLimit: 5, burstLimit: 10 },
      alarmEmail: 'oncall@example.com',
    });

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ RECORD_TTL_DAYS: '30', OPENAI_BASE_URL: 'https://llm.example.com/v1' }),
      },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['client-1'] },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://app.example.com'] }),
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });
});

function thrownBy(act: () => unknown): Error | undefined {
  try {
    act();
  } catch (error) {
    return error as Error;
  }
  return undefined;
}

describe('LlmBatch props validation', () => {
  test('lists every problem at once, each naming the prop and what to change', () => {
    const stack = ownStack();
    const topic = new Topic(stack, 'Topic');
    const create = () =>
      new LlmBatch(stack, 'LlmBatch', {
        openaiBaseUrl: 'ftp://llm.example.com',
        recordTtlDays: 0,
        apiAuth: { kind: 'jwt', issuer: 'http://issuer.example.com', audience: [] },
        corsAllowedOrigins: ['*', 'https://app.example.com/path'],
        apiThrottle: { rateLimit: 20_000, burstLimit: 1.5 },
        alarmTopic: topic,
        alarmEmail: 'oncall@example.com',
        schedules: [
          { ...NIGHTLY, expression: 'daily', template: { ...NIGHTLY.template, jobType: 'clasify' } },
          { ...NIGHTLY, template: { ...NIGHTLY.template, input: { key: 'a.jsonl', bucket: 'elsewhere' } } },
        ],
      });

    const error = thrownBy(create);

    expect(error).toBeInstanceOf(LlmBatchPropsError);
    expect(error?.message).toBe(
      [
        'LlmBatch Yours/LlmBatch: 13 invalid props:',
        '- openaiBaseUrl "ftp://llm.example.com" must be an http(s) URL, e.g. "https://api.openai.com/v1"',
        '- recordTtlDays must be a whole number of days from 1 to 3650 (got 0)',
        '- apiAuth.issuer "http://issuer.example.com" must be an https URL (API Gateway fetches its keys)',
        '- apiAuth.audience must list at least one accepted audience (client id)',
        '- corsAllowedOrigins must not contain a wildcard (got "*"): every route but /health is called with credentials, so list the exact origins of the web apps you trust',
        '- corsAllowedOrigins has "https://app.example.com/path", which is not an origin (scheme://host[:port], no path or trailing /)',
        '- apiThrottle.rateLimit must be a whole number of requests per second from 1 to 10000 (got 20000)',
        '- apiThrottle.burstLimit must be a whole number of requests from 1 to 5000 (got 1.5)',
        '- alarmEmail subscribes an address to the topic LlmBatch creates; with alarmTopic, subscribe the address to your topic instead',
        '- schedules[0] "nightly": expression "daily" must be cron(...), rate(...) or at(...), e.g. "cron(0 3 * * ? *)" (03:00 every day) or "rate(1 day)"',
        '- schedules[0] "nightly": template.jobType "clasify" is not a registered job type; use one of openai-batch, prompt, classify',
        '- schedules[1] "nightly": template.input.bucket "elsewhere" is not an input bucket, so Prepare job could not read it; add the bucket "elsewhere" to inputBuckets',
        '- schedules[1] "nightly": name is used twice; schedule names must be unique (they are part of every job id)',
      ].join('\n'),
    );
  });

  test('the error is named, and carries the problems one by one', () => {
    const error = thrownBy(() => new LlmBatch(ownStack(), 'LlmBatch', { recordTtlDays: 4000 }));

    expect(error).toMatchObject({
      name: 'LlmBatchPropsError',
      problems: ['recordTtlDays must be a whole number of days from 1 to 3650 (got 4000)'],
    });
  });
});
