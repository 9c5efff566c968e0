import { describe, expect, test } from '@jest/globals';
import { resolveIntrinsics } from './deployed-policies.js';
import { iamRequestsOf } from './iam-requests.js';
import { evaluate, type Statement } from './policy-evaluator.js';

const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table/jobs';
const tableGrant: Statement = {
  Effect: 'Allow',
  Action: ['dynamodb:GetItem', 'dynamodb:Query'],
  Resource: [TABLE, `${TABLE}/index/*`],
};
const objectRead: Statement = { Effect: 'Allow', Action: 's3:GetObject*', Resource: 'arn:aws:s3:::bucket/jobs/*' };

describe('the IAM evaluator', () => {
  test('allows a request an Allow statement covers, with action and resource wildcards', () => {
    expect(evaluate([tableGrant], { action: 'dynamodb:Query', resource: `${TABLE}/index/gsi1` })).toEqual({
      allowed: true,
      by: tableGrant,
    });
    expect(
      evaluate([objectRead], { action: 's3:GetObjectVersion', resource: 'arn:aws:s3:::bucket/jobs/j1/manifest.jsonl' })
        .allowed,
    ).toBe(true);
    // IAM compares actions without regard to case
    expect(evaluate([tableGrant], { action: 'DynamoDB:getitem', resource: TABLE }).allowed).toBe(true);
  });

  test('refuses what no statement covers: another action, another table, a key outside the prefix', () => {
    expect(evaluate([tableGrant], { action: 'dynamodb:PutItem', resource: TABLE })).toEqual({
      allowed: false,
      reason: 'no statement allows it (implicit deny)',
    });
    expect(evaluate([tableGrant], { action: 'dynamodb:GetItem', resource: `${TABLE}-other` }).allowed).toBe(false);
    expect(
      evaluate([objectRead], { action: 's3:GetObject', resource: 'arn:aws:s3:::bucket/inputs/a.jsonl' }).allowed,
    ).toBe(false);
  });

  test('an explicit Deny wins; an Allow under a Condition grants nothing here', () => {
    const deny: Statement = { Sid: 'NoQueries', Effect: 'Deny', Action: 'dynamodb:Query', Resource: '*' };
    expect(evaluate([tableGrant, deny], { action: 'dynamodb:Query', resource: TABLE })).toEqual({
      allowed: false,
      reason: 'explicitly denied by NoQueries',
    });
    const conditional: Statement = { ...objectRead, Condition: { Bool: { 'aws:SecureTransport': 'true' } } };
    expect(evaluate([conditional], { action: 's3:GetObject', resource: 'arn:aws:s3:::bucket/jobs/x' })).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('Condition'),
    });
  });

  test('refuses to judge a statement it does not understand', () => {
    const notAction = { Effect: 'Allow', NotAction: 'iam:*', Action: [], Resource: '*' } as unknown as Statement;
    expect(() => evaluate([notAction], { action: 's3:GetObject', resource: '*' })).toThrow('does not handle NotAction');
  });
});

describe('resolving the template', () => {
  test('Ref, GetAtt, Join, Select and Split resolve to the names given', () => {
    const lookup = (id: string, attribute: string) => (id === 'AWS::Partition' ? 'aws' : `${id}.${attribute}`);
    const arn = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':states:::execution:',
          { 'Fn::Select': [6, { 'Fn::Split': [':', 'a:b:c:d:e:f:machine'] }] },
          ':*',
        ],
      ],
    };
    expect(resolveIntrinsics({ Resource: [arn, { 'Fn::GetAtt': ['Table', 'Arn'] }] }, lookup)).toEqual({
      Resource: ['arn:aws:states:::execution:machine:*', 'Table.Arn'],
    });
  });
});

describe('the IAM request of an SDK call', () => {
  const where = { region: 'us-east-1', account: '000000000000' };

  test('names the table or index, and lists the tables of a batch call', () => {
    expect(
      iamRequestsOf(
        {
          principal: 'p',
          client: 'DynamoDBClient',
          command: 'QueryCommand',
          input: { TableName: 'jobs', IndexName: 'gsi1' },
        },
        where,
      ),
    ).toEqual([{ principal: 'p', action: 'dynamodb:Query', resource: `${TABLE}/index/gsi1`, command: 'QueryCommand' }]);
    const batch = iamRequestsOf(
      {
        principal: 'p',
        client: 'DynamoDBClient',
        command: 'BatchGetItemCommand',
        input: { RequestItems: { jobs: {}, labels: {} } },
      },
      where,
    );
    expect(batch.map((r) => r.resource)).toEqual([TABLE, 'arn:aws:dynamodb:us-east-1:000000000000:table/labels']);
  });

  test('a read of a missing S3 key also needs s3:ListBucket (else S3 answers AccessDenied)', () => {
    const call = {
      principal: 'p',
      client: 'S3Client',
      command: 'HeadObjectCommand',
      input: { Bucket: 'b', Key: 'k' },
      errorName: 'NotFound',
    };
    expect(iamRequestsOf(call, where).map((r) => `${r.action} ${r.resource}`)).toEqual([
      's3:GetObject arn:aws:s3:::b/k',
      's3:ListBucket arn:aws:s3:::b',
    ]);
  });

  test('a command with no mapping fails loudly', () => {
    expect(() =>
      iamRequestsOf({ principal: 'p', client: 'S3Client', command: 'DeleteObjectsCommand', input: {} }, where),
    ).toThrow('no IAM mapping for S3Client.DeleteObjectsCommand (made by p)');
  });
});
