import {
  ConditionalCheckFailedException,
  DynamoDBServiceException,
  ResourceNotFoundException,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';

/** The SDK's own error classes and names, so callers cannot tell this store from DynamoDB by its errors. */
const METADATA = { httpStatusCode: 400 };

/** DynamoDB's ValidationException (the SDK has no class for it: it is matched by name). */
export class ValidationException extends DynamoDBServiceException {
  constructor(message: string) {
    super({ name: 'ValidationException', $fault: 'client', $metadata: METADATA, message });
  }
}

export function resourceNotFound(): ResourceNotFoundException {
  return new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: METADATA });
}

/** A failed condition, with the record it met in AttributeValue form when asked for (as the SDK returns it). */
export function conditionFailed(item: Record<string, AttributeValue> | undefined): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: METADATA,
    ...(item && { Item: item }),
  });
}
