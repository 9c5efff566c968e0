import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, test, jest } from '@jest/globals';
import { ValidationError } from '../../shared/errors.js';
import { classifyJobType } from '../../shared/job-types/classify.js';
import type { JobOptions, OutputLine } from '../../shared/types.js';

const LABELS = ['safe', 'spam', 'abusive'];

function jobOptions(params: Record<string, unknown> = {}, overrides: Partial<JobOptions> = {}): JobOptions {
  return {
    mode: 'batch',
    model: 'gpt-5-nano',
    batchSize: 1000,
    maxConcurrency: 5,
    toleratedFailurePercentage: 0,
    params: { labels: LABELS, ...params },
    ...overrides,
  };
}

function responseWithText(text: string): OutputLine {
  return {
    id: 'batch_req_1',
    custom_id: 'comment-1',
    response: {
      status_code: 200,
      request_id: 'req_1',
      body: {
        object: 'response',
        status: 'completed',
        output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
      },
    },
    error: null,
  };
}

function validationError(action: () => unknown): ValidationError {
  try {
    action();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

describe('classify job type', () => {
  test('a line becomes a /v1/responses request with a strict JSON schema whose label is an enum of the labels', () => {
    const line = { id: 'comment-1', text: 'Buy cheap watches now!!!' };

    const parsed = classifyJobType.parseLine(line);
    const request = classifyJobType
      .compile(jobOptions({ instructions: 'Moderate this forum comment.' }))
      .toRequest(line);

    expect(parsed).toEqual({ customId: 'comment-1' });
    expect(request).toEqual({
      custom_id: 'comment-1',
      method: 'POST',
      url: '/v1/responses',
      body: {
        model: 'gpt-5-nano',
        instructions: 'Moderate this forum comment.',
        input: 'Buy cheap watches now!!!',
        text: {
          format: {
            type: 'json_schema',
            name: 'classification',
            strict: true,
            schema: {
              type: 'object',
              properties: { label: { type: 'string', enum: ['safe', 'spam', 'abusive'] } },
              required: ['label'],
              additionalProperties: false,
            },
          },
        },
      },
    });
  });

  test('without params.instructions the default instructions list the labels', () => {
    const request = classifyJobType.compile(jobOptions()).toRequest({ id: 'c', text: 't' });

    expect(request.body.instructions).toBe(
      'Classify the text you are given into exactly one of these labels: "safe", "spam", "abusive". Answer with the label that fits best.',
    );
  });

  test.each([
    ['id missing', { text: 't' }, 'id', /is required/],
    ['text missing', { id: 'a' }, 'text', /is required/],
    ['text not a string', { id: 'a', text: { body: 'x' } }, 'text', /got an object/],
  ])('%s is a ValidationError naming %s', (_case, line, where, message) => {
    const error = validationError(() => classifyJobType.parseLine(line));

    expect(error.where).toBe(where);
    expect(error.detail).toMatch(message);
  });

  test.each([
    ['no model', jobOptions({}, { model: undefined }), 'model', /is required for classify jobs/],
    [
      'no labels',
      jobOptions({ labels: undefined }),
      'params.labels',
      /is required: an array of 2 to 100 unique non-empty strings/,
    ],
    ['labels not an array', jobOptions({ labels: 'safe,spam' }), 'params.labels', /got a string/],
    ['one label', jobOptions({ labels: ['safe'] }), 'params.labels', /has 1 labels; give 2 to 100/],
    [
      '101 labels',
      jobOptions({ labels: Array.from({ length: 101 }, (_, i) => `l${i}`) }),
      'params.labels',
      /has 101 labels/,
    ],
    ['an empty label', jobOptions({ labels: ['safe', ''] }), 'params.labels[1]', /non-empty string/],
    ['a label that is not a string', jobOptions({ labels: ['safe', 3] }), 'params.labels[1]', /got a number/],
    ['a duplicate label', jobOptions({ labels: ['safe', 'spam', 'safe'] }), 'params.labels[2]', /"safe" appears twice/],
    ['blank instructions', jobOptions({ instructions: ' ' }), 'params.instructions', /non-empty string/],
    ['apply not an object', jobOptions({ apply: 'comments' }), 'params.apply', /must be a JSON object, got a string/],
    [
      'apply without a table',
      jobOptions({ apply: { keyAttribute: 'pk', labelAttribute: 'flag' } }),
      'params.apply.table',
      /is required/,
    ],
    [
      'apply with a bad table name',
      jobOptions({ apply: { table: 'my table', keyAttribute: 'pk', labelAttribute: 'flag' } }),
      'params.apply.table',
      /not a DynamoDB table name/,
    ],
    [
      'apply without keyAttribute',
      jobOptions({ apply: { table: 'comments', labelAttribute: 'flag' } }),
      'params.apply.keyAttribute',
      /is required/,
    ],
    [
      'apply labelling the key',
      jobOptions({ apply: { table: 'comments', keyAttribute: 'pk', labelAttribute: 'pk' } }),
      'params.apply.labelAttribute',
      /overwrite the key attribute "pk"/,
    ],
    [
      'an unknown apply setting',
      jobOptions({ apply: { table: 'comments', keyAttribute: 'pk', labelAttribute: 'flag', sortKey: 'x' } }),
      'params.apply.sortKey',
      /not a known setting/,
    ],
  ])('options with %s are a ValidationError naming %s', (_case, options, where, message) => {
    const error = validationError(() => classifyJobType.compile(options));

    expect(error.where).toBe(where);
    expect(error.detail).toMatch(message);
  });

  test('toResult returns the label the model chose', () => {
    const result = classifyJobType.compile(jobOptions()).toResult(responseWithText('{"label":"spam"}'));

    expect(result).toEqual({ label: 'spam' });
  });

  test('toResult reads a chat completion too', () => {
    const output: OutputLine = {
      id: 'b1',
      custom_id: 'c',
      response: {
        status_code: 200,
        request_id: 'r',
        body: { choices: [{ message: { content: '{"label":"safe"}' } }] },
      },
      error: null,
    };

    const result = classifyJobType.compile(jobOptions()).toResult(output);

    expect(result).toEqual({ label: 'safe' });
  });

  test('a label outside the list is a ValidationError on result.label, so the item fails with that reason', () => {
    const error = validationError(() =>
      classifyJobType.compile(jobOptions()).toResult(responseWithText('{"label":"rude"}')),
    );

    expect(error.where).toBe('result.label');
    expect(error.message).toBe('result.label: label "rude" is not one of safe, spam, abusive');
  });

  test.each([
    ['text that is not JSON', responseWithText('spam'), 'result', 'the output text is not JSON: "spam"'],
    [
      'JSON without a label',
      responseWithText('{"category":"spam"}'),
      'result.label',
      'is missing; expected one of safe, spam, abusive',
    ],
    [
      'a label that is not a string',
      responseWithText('{"label":1}'),
      'result.label',
      'must be one of the labels, got a number',
    ],
    ['a JSON array', responseWithText('["spam"]'), 'result', 'must be a JSON object, got an array'],
    [
      'a refusal',
      {
        id: 'b1',
        custom_id: 'c',
        response: {
          status_code: 200,
          request_id: 'r',
          body: { output: [{ type: 'message', content: [{ type: 'refusal', refusal: "I can't help with that." }] }] },
        },
        error: null,
      },
      'result',
      "the model refused: I can't help with that.",
    ],
  ])('a response with %s is a ValidationError', (_case, output, where, detail) => {
    const error = validationError(() => classifyJobType.compile(jobOptions()).toResult(output));

    expect(error.where).toBe(where);
    expect(error.detail).toBe(detail);
  });

  describe('apply', () => {
    const dynamoMock = mockClient(DynamoDBDocumentClient);
    const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
    const applyTo = { table: 'comments', keyAttribute: 'commentId', labelAttribute: 'moderation' };

    afterEach(() => {
      dynamoMock.reset();
      jest.useRealTimers();
    });

    test('writes the label and its time onto the entity keyed by the custom id', async () => {
      jest.useFakeTimers({
        now: new Date('2025-03-04T05:06:07.000Z'),
        doNotFake: [
          'nextTick',
          'setImmediate',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'queueMicrotask',
          'hrtime',
          'performance',
        ],
      });
      dynamoMock.on(UpdateCommand).resolves({});
      const output = responseWithText('{"label":"spam"}');

      await classifyJobType.apply(
        { options: jobOptions({ apply: applyTo }), dynamo },
        { jobId: 'job-1', customId: 'comment-1', result: { label: 'spam' }, output },
      );

      const calls = dynamoMock.commandCalls(UpdateCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.args[0].input).toEqual({
        TableName: 'comments',
        Key: { commentId: 'comment-1' },
        UpdateExpression: 'SET #label = :label, #at = :at',
        ConditionExpression: 'attribute_exists(#key)',
        ExpressionAttributeNames: { '#key': 'commentId', '#label': 'moderation', '#at': 'moderationUpdatedAt' },
        ExpressionAttributeValues: { ':label': 'spam', ':at': '2025-03-04T05:06:07.000Z' },
      });
    });

    test('does nothing without params.apply', async () => {
      await classifyJobType.apply(
        { options: jobOptions(), dynamo },
        {
          jobId: 'job-1',
          customId: 'comment-1',
          result: { label: 'spam' },
          output: responseWithText('{"label":"spam"}'),
        },
      );

      expect(dynamoMock.commandCalls(UpdateCommand)).toHaveLength(0);
    });

    test('an id with no entity is a ValidationError, not a new item', async () => {
      dynamoMock
        .on(UpdateCommand)
        .rejects(
          Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' }),
        );

      const applying = classifyJobType.apply(
        { options: jobOptions({ apply: applyTo }), dynamo },
        {
          jobId: 'job-1',
          customId: 'comment-404',
          result: { label: 'safe' },
          output: responseWithText('{"label":"safe"}'),
        },
      );

      await expect(applying).rejects.toThrow(ValidationError);
      await expect(applying).rejects.toThrow(
        'params.apply: table comments has no item with commentId "comment-404"; the label was not written',
      );
    });

    test('a result whose label is not in the list is not written', async () => {
      const applying = classifyJobType.apply(
        { options: jobOptions({ apply: applyTo }), dynamo },
        {
          jobId: 'job-1',
          customId: 'comment-1',
          result: { label: 'rude' },
          output: responseWithText('{"label":"rude"}'),
        },
      );

      await expect(applying).rejects.toThrow('result.label: label "rude" is not one of safe, spam, abusive');
      expect(dynamoMock.commandCalls(UpdateCommand)).toHaveLength(0);
    });

    test('other DynamoDB errors are passed on unchanged', async () => {
      const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
      dynamoMock.on(UpdateCommand).rejects(throttled);

      const applying = classifyJobType.apply(
        { options: jobOptions({ apply: applyTo }), dynamo },
        {
          jobId: 'job-1',
          customId: 'comment-1',
          result: { label: 'safe' },
          output: responseWithText('{"label":"safe"}'),
        },
      );

      await expect(applying).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    });
  });
});
