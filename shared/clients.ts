import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config.js';

export interface AwsClients {
  dynamo: DynamoDBDocumentClient;
  s3: S3Client;
  sfn: SFNClient;
}

/**
 * One client per service, with the configured endpoints (AWS or the local stand-ins).
 * `credentials` overrides the default chain (the local runtime's stand-ins accept any).
 */
export function createAwsClients(
  config: Config,
  credentials?: { accessKeyId: string; secretAccessKey: string },
): AwsClients {
  // The local stand-ins (plain http) take many concurrent requests from one process: lift the
  // SDK's default of 50 sockets, which would otherwise queue and warn.
  const auth = credentials ? { credentials, requestHandler: { httpAgent: { maxSockets: 1024 } } } : {};
  const dynamo = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      region: config.region,
      ...auth,
      ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
    }),
    { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true } },
  );
  const s3 = new S3Client({
    region: config.region,
    ...auth,
    ...(config.s3Endpoint
      ? {
          endpoint: config.s3Endpoint,
          forcePathStyle: true,
          // Local S3 stand-ins store aws-chunked stream bodies verbatim (corrupt): send plain bodies.
          requestChecksumCalculation: 'WHEN_REQUIRED' as const,
          responseChecksumValidation: 'WHEN_REQUIRED' as const,
        }
      : {}),
  });
  const sfn = new SFNClient({
    region: config.region,
    ...auth,
    ...(config.stepFunctionsEndpoint ? { endpoint: config.stepFunctionsEndpoint } : {}),
  });
  return { dynamo, s3, sfn };
}
