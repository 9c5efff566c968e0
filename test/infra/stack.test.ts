import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, test } from '@jest/globals';
import type { LlmBatchStack, TaskFunctions } from '../../infra/llm-batch-stack.js';
import { readStackConfig } from '../../infra/stack-config.js';
import { projectPath, TaskFunction } from '../../infra/task-function.js';
import { RETRYABLE_ERROR_NAMES } from '../../shared/errors.js';
import { MAX_BATCH_INPUT_BYTES, STATE_PAYLOAD_LIMIT_BYTES, TASK_TIMEOUT_SECONDS } from '../../shared/limits.js';
import { STATE } from '../../workflows/state-names.js';
import { actionsOf, logicalId, resources, statementsOfRole, synth, testApp, type Statement } from './support.js';

// ---------------------------------------------------------------- helpers

type AslState = Record<string, unknown> & {
  Type: string;
  Next?: string;
  Retry?: { ErrorEquals: string[]; JitterStrategy?: string }[];
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
};
interface AslGraph {
  StartAt: string;
  States: Record<string, AslState>;
}

/** A CloudFormation intrinsic in the definition, written as a readable placeholder. */
function placeholder(part: unknown): string {
  const value = part as Record<string, unknown>;
  if (typeof value.Ref === 'string') return `{{Ref:${value.Ref}}}`;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `{{GetAtt:${getAtt.join('.')}}}`;
  throw new Error(`unexpected intrinsic in the definition: ${JSON.stringify(part)}`);
}

/** The deployed definition, parsed, with intrinsics (Refs, GetAtts) as `{{...}}` placeholders. */
function definitionOf(template: Template): AslGraph {
  const [machine] = Object.values(resources(template, 'AWS::StepFunctions::StateMachine'));
  const body = machine?.Properties.DefinitionString as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : placeholder(p))).join('');
  return JSON.parse(text) as AslGraph;
}

/** Every state, at the top level and inside Map item processors, by name. */
function allStates(graph: AslGraph, into = new Map<string, AslState>()): Map<string, AslState> {
  for (const [name, state] of Object.entries(graph.States)) {
    into.set(name, state);
    const processor = (state.ItemProcessor ?? state.Iterator) as AslGraph | undefined;
    if (processor) allStates(processor, into);
  }
  return into;
}

function stateNamed(states: Map<string, AslState>, name: string): AslState {
  const state = states.get(name);
  if (!state) throw new Error(`no state named "${name}"; states: ${[...states.keys()].join(', ')}`);
  return state;
}

const FUNCTION_NAMES = [
  'prepareJob',
  'submitBatch',
  'pollBatch',
  'recordBatchFailure',
  'finalizeJob',
  'markJobFailed',
  'executionEnded',
  'api',
] as const satisfies readonly (keyof TaskFunctions)[];
type FunctionName = (typeof FUNCTION_NAMES)[number];
const PROVIDER_FUNCTIONS: FunctionName[] = [
  'submitBatch',
  'pollBatch',
  'recordBatchFailure',
  'markJobFailed',
  'executionEnded',
];

/** The IAM statements attached to each task function's role. */
function statementsByFunction(stack: LlmBatchStack, template: Template): Record<FunctionName, Statement[]> {
  const result = {} as Record<FunctionName, Statement[]>;
  for (const name of FUNCTION_NAMES) result[name] = statementsOfRole(stack, template, stack.functions[name].fn.role);
  return result;
}

function environmentOf(stack: LlmBatchStack, template: Template, name: FunctionName): Record<string, unknown> {
  const id = logicalId(stack, stack.functions[name].fn.node.defaultChild);
  const fn = resources(template, 'AWS::Lambda::Function')[id];
  if (!fn) throw new Error(`no function ${id}`);
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

// The default stack, synthesized once for the tests that only read it.
const { stack, template } = synth();
const definition = definitionOf(template);
const states = allStates(definition);
const map = stateNamed(states, STATE.processBatches);
const functionId = (name: FunctionName) => logicalId(stack, stack.functions[name].fn.node.defaultChild);

// ---------------------------------------------------------------- the state machine

describe('job state machine', () => {
  test('is a STANDARD state machine with tracing and execution logging', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ERROR' }),
    });
  });

  test('runs the batches in a Distributed Map of STANDARD child executions', () => {
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor).toMatchObject({
      ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
      StartAt: STATE.submitBatch,
    });
  });

  test('reads the items from the JSONL manifest that Prepare job names', () => {
    expect(map.ItemReader).toEqual({
      Resource: 'arn:{{Ref:AWS::Partition}}:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSONL' },
      // Both must be paths (`.$`): the manifest's bucket and key come from Prepare job's output.
      Parameters: { 'Bucket.$': '$.job.manifest.bucket', 'Key.$': '$.job.manifest.key' },
    });
  });

  test('batches the items by path-driven size, under the state payload limit, with the job context', () => {
    const batcher = map.ItemBatcher as Record<string, unknown>;

    expect(batcher.MaxItemsPerBatchPath).toBe('$.job.batchSize');
    expect(batcher.MaxInputBytesPerBatch).toBe(MAX_BATCH_INPUT_BYTES);
    expect(batcher.MaxInputBytesPerBatch).toBeLessThanOrEqual(STATE_PAYLOAD_LIMIT_BYTES);
    expect(batcher.BatchInput).toMatchObject({ 'jobId.$': '$.job.jobId' });
  });

  test('takes concurrency and tolerated failures from the job and writes the results to the bucket', () => {
    expect(map.MaxConcurrencyPath).toBe('$.job.maxConcurrency');
    expect(map.ToleratedFailurePercentagePath).toBe('$.job.toleratedFailurePercentage');
    expect(map.ResultWriter).toMatchObject({
      Resource: 'arn:{{Ref:AWS::Partition}}:states:::s3:putObject',
      Parameters: { Bucket: `{{Ref:${logicalId(stack, stack.bucket.node.defaultChild)}}}`, Prefix: 'map-runs' },
    });
    expect(map.ResultPath).toBe('$.mapRun');
  });

  test('polls in a loop: pending items wait (SecondsPath), then Poll batch, then the check again; items left for later rate-limit turns are submitted first', () => {
    const pending = stateNamed(states, STATE.itemsPending);
    const wait = stateNamed(states, STATE.waitForProvider);
    const poll = stateNamed(states, STATE.pollBatch);

    expect(stateNamed(states, STATE.submitBatch).Next).toBe(STATE.itemsPending);
    expect(pending).toMatchObject({
      Type: 'Choice',
      Choices: [
        { Variable: '$.queueFull', IsPresent: true, Next: STATE.waitForQueueRoom },
        { Variable: '$.unsent', IsPresent: true, Next: STATE.waitForTurn },
        { Variable: '$.resend', IsPresent: true, Next: STATE.gatherResend },
        { Variable: '$.pending', NumericGreaterThan: 0, Next: STATE.waitForProvider },
      ],
      Default: STATE.batchDone,
    });
    expect(stateNamed(states, STATE.waitForTurn)).toMatchObject({
      Type: 'Wait',
      SecondsPath: '$.waitSeconds',
      Next: STATE.submitBatch,
    });
    expect(stateNamed(states, STATE.waitForQueueRoom)).toMatchObject({
      Type: 'Wait',
      SecondsPath: '$.waitSeconds',
      Next: STATE.submitBatch,
    });
    // A resend takes the items' lines from the child's own input: the poll state carries only their ids.
    expect(stateNamed(states, STATE.gatherResend)).toMatchObject({
      Type: 'Pass',
      Parameters: { 'Items.$': '$$.Execution.Input.Items', 'BatchInput.$': '$.BatchInput', 'pollTurn.$': '$.pollTurn' },
      Next: STATE.submitBatch,
    });
    expect(wait).toMatchObject({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: STATE.pollBatch });
    expect(wait.Seconds).toBeUndefined();
    expect(poll.Next).toBe(STATE.itemsPending);
  });

  test('every Task state retries rate limits with full jitter and the Lambda service errors', () => {
    const tasks = [...states].filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(
      [
        STATE.prepareJob,
        STATE.submitBatch,
        STATE.pollBatch,
        STATE.recordBatchFailure,
        STATE.finalizeJob,
        STATE.markJobFailed,
      ].sort(),
    );

    for (const [_name, task] of tasks) {
      const retries = task.Retry ?? [];
      const rateLimited = retries.find((r) => r.ErrorEquals.includes(RETRYABLE_ERROR_NAMES.rateLimited));
      const retried = retries.flatMap((r) => r.ErrorEquals);

      expect(rateLimited?.JitterStrategy).toBe('FULL');
      expect(retried).toEqual(
        expect.arrayContaining([
          'Lambda.ServiceException',
          'Lambda.AWSLambdaException',
          'Lambda.SdkClientException',
          'Lambda.TooManyRequestsException',
        ]),
      );
      expect(task.TimeoutSeconds).toBeGreaterThan(TASK_TIMEOUT_SECONDS);
    }
  });

  test('each Task invokes its own function', () => {
    const expected: [string, FunctionName][] = [
      [STATE.prepareJob, 'prepareJob'],
      [STATE.submitBatch, 'submitBatch'],
      [STATE.pollBatch, 'pollBatch'],
      [STATE.recordBatchFailure, 'recordBatchFailure'],
      [STATE.finalizeJob, 'finalizeJob'],
      [STATE.markJobFailed, 'markJobFailed'],
    ];

    for (const [stateName, fn] of expected) {
      expect(stateNamed(states, stateName).Resource).toBe(`{{GetAtt:${functionId(fn)}.Arn}}`);
    }
  });

  test('a batch task that fails for good records the batch failure, keeping its input', () => {
    for (const name of [STATE.submitBatch, STATE.pollBatch]) {
      expect(stateNamed(states, name).Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: STATE.recordBatchFailure },
      ]);
    }
    expect(stateNamed(states, STATE.recordBatchFailure).Next).toBe(STATE.batchFailed);
    expect(stateNamed(states, STATE.batchFailed).Type).toBe('Fail');
  });

  test('a failed map still finalizes the job; a failed Prepare or Finalize marks the job failed', () => {
    expect(map.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.mapError', Next: STATE.finalizeJob }]);
    for (const name of [STATE.prepareJob, STATE.finalizeJob]) {
      expect(stateNamed(states, name).Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: STATE.markJobFailed },
      ]);
    }
    expect(stateNamed(states, STATE.markJobFailed).Next).toBe(STATE.workflowFailed);
  });

  test('may read the manifests and write map results (never delete), and start its own child executions', () => {
    const machineRole = logicalId(stack, stack.stateMachine.role.node.defaultChild);
    const statements = Object.values(resources(template, 'AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === machineRole))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
    const text = JSON.stringify(statements);

    expect(actionsOf(statements)).toEqual(
      expect.arrayContaining(['s3:GetObject*', 's3:PutObject', 'states:StartExecution', 'lambda:InvokeFunction']),
    );
    expect(actionsOf(statements).filter((action) => action.startsWith('s3:Delete'))).toEqual([]);
    expect(text).toContain('/jobs/*');
  });
});

// ---------------------------------------------------------------- functions

describe('task functions', () => {
  test('one function per task, Node.js 24 on arm64 with active tracing and the project defaults', () => {
    template.resourceCountIs('AWS::Lambda::Function', FUNCTION_NAMES.length);
    for (const [_id, fn] of Object.entries(resources(template, 'AWS::Lambda::Function'))) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        MemorySize: 1024,
        Timeout: TASK_TIMEOUT_SECONDS,
        Handler: 'index.handler',
        LoggingConfig: { LogGroup: { Ref: expect.any(String) as unknown } },
        Environment: {
          Variables: expect.objectContaining({
            NODE_OPTIONS: '--enable-source-maps',
            POWERTOOLS_SERVICE_NAME: 'llm-batch',
            TABLE_NAME: { Ref: logicalId(stack, stack.table.node.defaultChild) },
            BUCKET_NAME: { Ref: logicalId(stack, stack.bucket.node.defaultChild) },
            RECORD_TTL_DAYS: '7',
          }) as unknown,
        },
      });
    }
  });

  test('each function logs to its own log group, kept one month', () => {
    for (const name of FUNCTION_NAMES) {
      const fn = stack.functions[name];
      const id = logicalId(stack, fn.logGroup.node.defaultChild);
      expect(resources(template, 'AWS::Logs::LogGroup')[id]?.Properties).toEqual({ RetentionInDays: 30 });
    }
  });

  test('only the provider-calling functions can read the key secret, and none holds the key', () => {
    const statements = statementsByFunction(stack, template);
    const secretId = logicalId(stack, stack.openAiKey.node.defaultChild);

    const readers = FUNCTION_NAMES.filter((name) =>
      actionsOf(statements[name]).includes('secretsmanager:GetSecretValue'),
    );

    expect(readers.sort()).toEqual([...PROVIDER_FUNCTIONS].sort());
    for (const name of FUNCTION_NAMES) {
      const env = environmentOf(stack, template, name);
      expect(env.OPENAI_API_KEY).toBeUndefined();
      expect(env.OPENAI_API_KEY_SECRET_ARN).toEqual(PROVIDER_FUNCTIONS.includes(name) ? { Ref: secretId } : undefined);
    }
  });

  test('S3 access follows what each task does with the bucket; nothing may delete', () => {
    const statements = statementsByFunction(stack, template);
    const s3 = (name: FunctionName) => statements[name].filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:')));
    const writesOnlyJobFiles = (name: FunctionName) =>
      s3(name)
        .filter((s) => actionsOf([s]).includes('s3:PutObject'))
        .every((s) => {
          const resource = JSON.stringify(s.Resource);
          // The API also presigns uploads under inputs/uploads/ (POST /uploads): the URL carries its permission.
          const allowed = name === 'api' ? ['/jobs/*', '/inputs/uploads/*'] : ['/jobs/*'];
          return allowed.some((keys) => resource.includes(keys)) && !resource.includes('"/*"');
        });

    expect(FUNCTION_NAMES.filter((name) => s3(name).length > 0).sort()).toEqual([
      'api',
      'executionEnded',
      'finalizeJob',
      'markJobFailed',
      'pollBatch',
      'prepareJob',
      'submitBatch',
    ]);
    for (const name of ['prepareJob', 'submitBatch', 'pollBatch', 'finalizeJob', 'api'] as const) {
      expect(actionsOf(s3(name))).toContain('s3:PutObject');
      expect(writesOnlyJobFiles(name)).toBe(true);
    }
    expect(actionsOf(s3('prepareJob'))).toContain('s3:GetObject*');
    expect(actionsOf(s3('finalizeJob'))).toContain('s3:GetObject*');
    expect(actionsOf(s3('api'))).toContain('s3:GetObject*');
    expect(actionsOf(s3('submitBatch'))).not.toContain('s3:GetObject*');
    // Ending a failed job's unfinished items reads its manifest, and writes nothing.
    for (const name of ['markJobFailed', 'executionEnded'] as const) {
      expect(actionsOf(s3(name))).toContain('s3:GetObject*');
      expect(actionsOf(s3(name))).not.toContain('s3:PutObject');
    }
    for (const name of FUNCTION_NAMES) {
      expect(actionsOf(statements[name]).filter((a) => a.startsWith('s3:Delete'))).toEqual([]);
    }
  });

  test('every function reads and writes the table and its index', () => {
    const statements = statementsByFunction(stack, template);
    for (const name of FUNCTION_NAMES) {
      expect(actionsOf(statements[name])).toEqual(
        expect.arrayContaining(['dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:PutItem']),
      );
      expect(JSON.stringify(statements[name])).toContain('/index/*');
    }
  });
});

// ---------------------------------------------------------------- data

describe('table and bucket', () => {
  test('the table: on demand, pk/sk with gsi1, TTL on ttl, PITR, encrypted, retained', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      }),
    });
  });

  test('the bucket: no public access, S3-managed encryption, expiring map runs and job files, retained', () => {
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({ Prefix: 'map-runs/', ExpirationInDays: 7, Status: 'Enabled' }),
            Match.objectLike({ Prefix: 'jobs/', ExpirationInDays: 7 + 7, Status: 'Enabled' }),
            Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
          ]),
        },
      }),
    });
    // No auto-delete custom resource: the bucket and its jobs outlive the stack.
    expect(Object.keys(template.findResources('Custom::S3AutoDeleteObjects'))).toEqual([]);
  });

  test('the bucket policy refuses requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('a key secret is created, with a description that says to put the key in it', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'llm-batch/openai-api-key',
      Description: Match.stringLikeRegexp('put your key in it'),
    });
  });
});

// ---------------------------------------------------------------- events and outputs

describe('execution-ended rule and outputs', () => {
  test("the rule sends this state machine's failed, timed-out and aborted executions to execution-ended", () => {
    const machineId = logicalId(stack, stack.stateMachine.node.defaultChild);

    template.resourceCountIs('AWS::Events::Rule', 1);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [{ Ref: machineId }], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId('executionEnded'), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [functionId('executionEnded'), 'Arn'] },
    });
  });

  test('outputs the state machine ARN, table, bucket, secret ARN, API URL, alarm topic and dashboard URL', () => {
    const outputs = template.toJSON() as { Outputs: Record<string, { Value: unknown }> };

    expect(Object.keys(outputs.Outputs).sort()).toEqual([
      'AlarmTopicArn',
      'ApiUrl',
      'BucketName',
      'DashboardUrl',
      'OpenAiApiKeySecretArn',
      'StateMachineArn',
      'TableName',
    ]);
    expect(outputs.Outputs.StateMachineArn?.Value).toEqual({
      Ref: logicalId(stack, stack.stateMachine.node.defaultChild),
    });
  });
});

// ---------------------------------------------------------------- options

describe('stack options (context)', () => {
  test('an existing secret by name: nothing is created and the provider functions get its ARN', () => {
    const { stack: imported, template: t } = synth({ openaiApiKeySecretName: 'prod/openai-key' });

    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    for (const name of PROVIDER_FUNCTIONS) {
      expect(JSON.stringify(environmentOf(imported, t, name).OPENAI_API_KEY_SECRET_ARN)).toContain(
        ':secret:prod/openai-key',
      );
    }
  });

  test('a base URL reaches the provider-calling functions only', () => {
    const { stack: s, template: t } = synth({ openaiBaseUrl: 'https://llm.example.com/v1' });

    for (const name of FUNCTION_NAMES) {
      const expected = PROVIDER_FUNCTIONS.includes(name) ? 'https://llm.example.com/v1' : undefined;
      expect(environmentOf(s, t, name).OPENAI_BASE_URL).toBe(expected);
    }
  });

  test('recordTtlDays (a string, as -c passes it) sets the records TTL and keeps job files 7 days longer', () => {
    const { stack: s, template: t } = synth({ recordTtlDays: '30' });

    expect(environmentOf(s, t, 'finalizeJob').RECORD_TTL_DAYS).toBe('30');
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'jobs/', ExpirationInDays: 37 })]) },
    });
  });

  test('applyTableNames lets the result-recording functions update those tables only', () => {
    const { stack: s, template: t } = synth({ applyTableNames: 'Comments' });
    const statements = statementsByFunction(s, t);
    const updatesComments = (name: FunctionName) =>
      statements[name].some(
        (st) =>
          actionsOf([st]).includes('dynamodb:UpdateItem') && JSON.stringify(st.Resource).includes(':table/Comments'),
      );

    expect(FUNCTION_NAMES.filter(updatesComments).sort()).toEqual(['pollBatch', 'submitBatch']);
  });

  test('inputBucketNames lets Prepare job read scheduled templates from those buckets', () => {
    const { stack: s, template: t } = synth({ inputBucketNames: 'my-inputs' });
    const statements = statementsByFunction(s, t);
    const readsInputs = (name: FunctionName) => JSON.stringify(statements[name]).includes(':s3:::my-inputs');

    expect(FUNCTION_NAMES.filter(readsInputs)).toEqual(['prepareJob']);
  });
});

describe('readStackConfig', () => {
  test('a JWT issuer and audiences together switch the API to a JWT authorizer', () => {
    const config = readStackConfig({ jwtIssuer: 'https://issuer.example.com/pool', jwtAudience: 'client-1, client-2' });

    expect(config.apiAuth).toEqual({
      kind: 'jwt',
      issuer: 'https://issuer.example.com/pool',
      audience: ['client-1', 'client-2'],
    });
  });

  test('CORS origins, throttling and the alarm email are read from -c strings', () => {
    const config = readStackConfig({
      corsAllowedOrigins: 'https://app.example.com, http://localhost:5173/',
      apiThrottleRateLimit: '20',
      apiThrottleBurstLimit: 40,
      alarmEmail: 'oncall@example.com',
    });

    expect(config.corsAllowedOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(config.apiThrottle).toEqual({ rateLimit: 20, burstLimit: 40 });
    expect(config.alarmEmail).toBe('oncall@example.com');
  });

  test('defaults: a created secret, api.openai.com, records kept 7 days, IAM auth, no CORS, 50/100 rps, no email', () => {
    const config = readStackConfig({});

    expect(config).toEqual({
      recordTtlDays: 7,
      applyTableNames: [],
      inputBucketNames: [],
      apiAuth: { kind: 'iam' },
      corsAllowedOrigins: [],
      apiThrottle: { rateLimit: 50, burstLimit: 100 },
    });
  });

  test('reads -c strings and cdk.json values alike', () => {
    expect(readStackConfig({ recordTtlDays: '14' }).recordTtlDays).toBe(14);
    expect(readStackConfig({ recordTtlDays: 14 }).recordTtlDays).toBe(14);
    expect(readStackConfig({ applyTableNames: ' A-table , B.table ' }).applyTableNames).toEqual(['A-table', 'B.table']);
    expect(readStackConfig({ applyTableNames: ['A-table'] }).applyTableNames).toEqual(['A-table']);
  });

  test.each([
    [
      { recordTtlDays: 'seven' },
      'context recordTtlDays must be a whole number of days from 1 to 3650 (got "seven"); pass a whole number',
    ],
    [{ recordTtlDays: 0 }, 'context recordTtlDays must be a whole number of days from 1 to 3650 (got 0)'],
    [
      { openaiBaseUrl: 'llm.example.com' },
      'context openaiBaseUrl is not a URL (got "llm.example.com"); pass an http(s) URL',
    ],
    [{ openaiBaseUrl: 'ftp://llm.example.com' }, 'context openaiBaseUrl must use http or https'],
    [
      { openaiApiKeySecretName: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-AbCdEf' },
      'context openaiApiKeySecretName is an ARN, but the secret is imported by name',
    ],
    [{ openaiApiKeySecretName: 'has spaces' }, 'context openaiApiKeySecretName is not a valid secret name'],
    [{ applyTableNames: 'ok-table,x' }, 'context applyTableNames has "x", which is not a valid DynamoDB table name'],
    [{ recordTTLDays: 7 }, 'unknown context key recordTTLDays; did you mean recordTtlDays?'],
    [
      { jwtIssuer: 'https://issuer.example.com' },
      'context jwtIssuer is set but jwtAudience is not; a JWT authorizer needs both (pass a comma-separated list',
    ],
    [
      { jwtAudience: 'client-1' },
      'context jwtAudience is set but jwtIssuer is not; a JWT authorizer needs both (pass the https URL of the token issuer',
    ],
    [{ jwtIssuer: 'http://issuer.example.com', jwtAudience: 'client-1' }, 'context jwtIssuer must be an https URL'],
    [
      { corsAllowedOrigins: '*' },
      'context corsAllowedOrigins must not contain a wildcard: every route but /health is called with credentials',
    ],
    [{ corsAllowedOrigins: 'https://*.example.com' }, 'list their exact origins instead'],
    [
      { corsAllowedOrigins: 'https://app.example.com/path' },
      'has "https://app.example.com/path", which is not an origin (scheme://host[:port], no path)',
    ],
    [
      { apiThrottleRateLimit: '0' },
      'context apiThrottleRateLimit must be a whole number of requests per second from 1 to 10000 (got "0")',
    ],
    [
      { apiThrottleBurstLimit: 'lots' },
      'context apiThrottleBurstLimit must be a whole number of requests from 1 to 5000',
    ],
    [{ alarmEmail: 'oncall' }, 'context alarmEmail is not an email address (got "oncall"); pass an email address'],
    [{ jwtissuer: 'https://issuer.example.com' }, 'unknown context key jwtissuer; did you mean jwtIssuer?'],
  ])('refuses %j with a message that says what to pass', (context, message) => {
    expect(() => readStackConfig(context)).toThrow(message);
  });
});

// ---------------------------------------------------------------- the construct

describe('TaskFunction', () => {
  const entry = projectPath('tasks/handlers/poll-batch.ts');
  const scope = () => new Stack(testApp(), 'Scope');

  test('an entry that does not exist is refused, naming the file', () => {
    const create = () => new TaskFunction(scope(), 'Fn', { entry: projectPath('tasks/handlers/no-such-task.ts') });

    expect(create).toThrow(
      'TaskFunction entry tasks/handlers/no-such-task.ts does not exist; create it (exporting `handler`) or fix the path',
    );
  });

  test('a relative entry is refused, with how to build the path', () => {
    expect(() => new TaskFunction(scope(), 'Fn', { entry: 'tasks/handlers/poll-batch.ts' })).toThrow(
      `TaskFunction entry must be an absolute path, got "tasks/handlers/poll-batch.ts"; use projectPath('tasks/handlers/<task>.ts')`,
    );
  });

  test('an entry that does not export handler is refused', () => {
    expect(() => new TaskFunction(scope(), 'Fn', { entry: projectPath('tasks/poll-batch.ts') })).toThrow(
      'TaskFunction entry tasks/poll-batch.ts does not export `handler`',
    );
  });

  test('the API key is never accepted as an environment variable', () => {
    expect(() => new TaskFunction(scope(), 'Fn', { entry, environment: { OPENAI_API_KEY: 'sk-test' } })).toThrow(
      'TaskFunction Fn: never put the OpenAI key in the environment (OPENAI_API_KEY); store it in Secrets Manager and call useOpenAiKey(secret)',
    );
  });

  test('resource names come with their grants, not through environment', () => {
    expect(() => new TaskFunction(scope(), 'Fn', { entry, environment: { TABLE_NAME: 'jobs' } })).toThrow(
      'TaskFunction Fn: TABLE_NAME is set by useTable(table, access), which also grants access; do not pass it in environment',
    );
  });

  test('a function is bound to one table', () => {
    const s = scope();
    const fn = new TaskFunction(s, 'Fn', { entry }).useTable(Table.fromTableName(s, 'A', 'table-a'), 'read');

    expect(() => fn.useTable(Table.fromTableName(s, 'B', 'table-b'), 'read')).toThrow(
      'TaskFunction Fn is bound to a table already (TABLE_NAME); a task uses one, so bind it once',
    );
  });

  test('useStateMachine grants StartExecution on that state machine only and sets STATE_MACHINE_ARN', () => {
    const s = scope();
    const machine = StateMachine.fromStateMachineName(s, 'Machine', 'jobs');
    new TaskFunction(s, 'Fn', { entry }).useStateMachine(machine);
    const t = Template.fromStack(s);

    const statements = Object.values(resources(t, 'AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    const states = statements.filter((st) => actionsOf([st]).some((a) => a.startsWith('states:')));

    expect(states).toHaveLength(1);
    expect(actionsOf(states)).toEqual(['states:StartExecution']);
    expect(JSON.stringify(states[0]?.Resource)).toContain(':stateMachine:jobs');
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ STATE_MACHINE_ARN: Match.anyValue() }) },
    });
  });

  test('STATE_MACHINE_ARN comes with its grant, not through environment', () => {
    expect(
      () =>
        new TaskFunction(scope(), 'Fn', {
          entry,
          environment: { STATE_MACHINE_ARN: 'arn:aws:states:::stateMachine:x' },
        }),
    ).toThrow(
      'TaskFunction Fn: STATE_MACHINE_ARN is set by useStateMachine(stateMachine), which also grants access; do not pass it in environment',
    );
  });

  test('its role may write only to its own log group: no AWSLambdaBasicExecutionRole', () => {
    const s = scope();
    const fn = new TaskFunction(s, 'Fn', { entry });
    const t = Template.fromStack(s);
    const statements = statementsOfRole(s, t, fn.fn.role);
    const logs = statements.filter((st) => actionsOf([st]).some((a) => a.startsWith('logs:')));

    t.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    expect(actionsOf(logs).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(logs.map((st) => st.Resource)).toEqual([
      { 'Fn::GetAtt': [logicalId(s, fn.logGroup.node.defaultChild), 'Arn'] },
    ]);
  });

  test('read access to a table grants reads only', () => {
    const s = scope();
    new TaskFunction(s, 'Fn', { entry }).useTable(Table.fromTableName(s, 'A', 'table-a'), 'read');
    const t = Template.fromStack(s);

    const policies = Object.values(resources(t, 'AWS::IAM::Policy'));
    const actions = actionsOf(
      policies.flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement),
    );

    expect(actions).toContain('dynamodb:GetItem');
    expect(actions).not.toContain('dynamodb:PutItem');
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TABLE_NAME: 'table-a' }) },
    });
  });
});
