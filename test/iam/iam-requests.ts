import type { RecordedCall } from './call-recorder.js';

/** What IAM authorizes for one call: an action on a resource, on behalf of a principal. */
export interface IamRequest {
  principal: string;
  action: string;
  resource: string;
  /** The SDK command it came from, for messages. */
  command: string;
}

export interface AwsAccount {
  region: string;
  account: string;
}

type ActionOf = (call: RecordedCall, where: AwsAccount) => { action: string; resource: string }[];

const table = (where: AwsAccount, name: unknown, index?: unknown) =>
  `arn:aws:dynamodb:${where.region}:${where.account}:table/${String(name)}${typeof index === 'string' ? `/index/${index}` : ''}`;
const object = (input: Record<string, unknown>) => `arn:aws:s3:::${String(input.Bucket)}/${String(input.Key)}`;
const bucket = (input: Record<string, unknown>) => `arn:aws:s3:::${String(input.Bucket)}`;

const onTable =
  (action: string): ActionOf =>
  (call, where) => [{ action, resource: table(where, call.input.TableName) }];
const onTableOrIndex =
  (action: string): ActionOf =>
  (call, where) => [{ action, resource: table(where, call.input.TableName, call.input.IndexName) }];
/** BatchGetItem / BatchWriteItem: one request per table named in RequestItems. */
const onEachTable =
  (action: string): ActionOf =>
  (call, where) =>
    Object.keys(call.input.RequestItems as Record<string, unknown>).map((name) => ({
      action,
      resource: table(where, name),
    }));
const onObject =
  (action: string): ActionOf =>
  (call) => [{ action, resource: object(call.input) }];

/**
 * The IAM action and resource of each SDK command the code sends (the service authorization
 * reference: mostly the command's own name; S3 multipart parts and HEAD are authorized as
 * s3:PutObject and s3:GetObject, ListObjectsV2 as s3:ListBucket on the bucket). A command not
 * listed fails the test, so a new kind of call gets a mapping before it is checked.
 */
const ACTIONS: Record<string, ActionOf> = {
  'DynamoDBClient.GetItemCommand': onTable('dynamodb:GetItem'),
  'DynamoDBClient.PutItemCommand': onTable('dynamodb:PutItem'),
  'DynamoDBClient.UpdateItemCommand': onTable('dynamodb:UpdateItem'),
  'DynamoDBClient.DeleteItemCommand': onTable('dynamodb:DeleteItem'),
  'DynamoDBClient.QueryCommand': onTableOrIndex('dynamodb:Query'),
  'DynamoDBClient.ScanCommand': onTableOrIndex('dynamodb:Scan'),
  'DynamoDBClient.BatchGetItemCommand': onEachTable('dynamodb:BatchGetItem'),
  'DynamoDBClient.BatchWriteItemCommand': onEachTable('dynamodb:BatchWriteItem'),
  'S3Client.GetObjectCommand': onObject('s3:GetObject'),
  'S3Client.HeadObjectCommand': onObject('s3:GetObject'),
  'S3Client.PutObjectCommand': onObject('s3:PutObject'),
  'S3Client.CreateMultipartUploadCommand': onObject('s3:PutObject'),
  'S3Client.UploadPartCommand': onObject('s3:PutObject'),
  'S3Client.CompleteMultipartUploadCommand': onObject('s3:PutObject'),
  'S3Client.AbortMultipartUploadCommand': onObject('s3:AbortMultipartUpload'),
  'S3Client.ListObjectsV2Command': (call) => [{ action: 's3:ListBucket', resource: bucket(call.input) }],
  'SFNClient.StartExecutionCommand': (call) => [
    { action: 'states:StartExecution', resource: String(call.input.stateMachineArn) },
  ],
  'SFNClient.DescribeExecutionCommand': (call) => [
    { action: 'states:DescribeExecution', resource: String(call.input.executionArn) },
  ],
  'SFNClient.GetExecutionHistoryCommand': (call) => [
    { action: 'states:GetExecutionHistory', resource: String(call.input.executionArn) },
  ],
  'SFNClient.RedriveExecutionCommand': (call) => [
    { action: 'states:RedriveExecution', resource: String(call.input.executionArn) },
  ],
  'SFNClient.StopExecutionCommand': (call) => [
    { action: 'states:StopExecution', resource: String(call.input.executionArn) },
  ],
  'SecretsManagerClient.GetSecretValueCommand': (call) => [
    { action: 'secretsmanager:GetSecretValue', resource: String(call.input.SecretId) },
  ],
};

/** Errors S3 answers only to a caller allowed s3:ListBucket (others get AccessDenied instead). */
const MISSING_OBJECT_ERRORS = new Set(['NoSuchKey', 'NotFound']);

/** The IAM requests of one recorded call; throws for a command with no mapping yet. */
export function iamRequestsOf(call: RecordedCall, where: AwsAccount): IamRequest[] {
  const name = `${call.client}.${call.command}`;
  const actionOf = ACTIONS[name];
  if (!actionOf)
    throw new Error(
      `no IAM mapping for ${name} (made by ${call.principal}): add it to ACTIONS in test/iam/iam-requests.ts`,
    );
  const requests = actionOf(call, where).map((request) => ({
    ...request,
    principal: call.principal,
    command: call.command,
  }));
  // The code treats a missing object as the caller's mistake (a 404/400), which it can only tell
  // on AWS when its role may list the bucket.
  if (call.client === 'S3Client' && call.errorName && MISSING_OBJECT_ERRORS.has(call.errorName)) {
    requests.push({
      principal: call.principal,
      action: 's3:ListBucket',
      resource: bucket(call.input),
      command: `${call.command} (${call.errorName})`,
    });
  }
  return requests;
}
