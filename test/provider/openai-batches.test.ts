import { APIConnectionError, AuthenticationError } from 'openai';
import { beforeEach, describe, expect, test } from '@jest/globals';
import {
  InvalidRequestError,
  ProviderAuthError,
  ProviderError,
  ProviderUnavailableError,
} from '../../shared/errors.js';
import { OpenAIBatchProvider } from '../../shared/provider/openai-batches.js';
import { FakeOpenAI } from './fake-openai.js';
import {
  apiBody,
  chatRequest,
  errorFileLine,
  finishedBatch,
  headers,
  jsonl,
  outputLine,
  responsesRequest,
  serverError,
} from './provider-fixtures.js';

let fake: FakeOpenAI;
let provider: OpenAIBatchProvider;

beforeEach(() => {
  fake = new FakeOpenAI();
  provider = new OpenAIBatchProvider({ client: fake });
});

describe('batch mode: submitBatch', () => {
  test('uploads one JSONL line per request and creates a 24h batch tagged with our ids', async () => {
    // Arrange
    const requests = [responsesRequest('a'), responsesRequest('b'), responsesRequest('c')];

    // Act
    const { providerBatchId } = await provider.submitBatch(requests, { jobId: 'job-1', batchId: 'b-0' });

    // Assert
    const [upload] = [...fake.storedFiles.values()];
    expect(upload?.filename).toBe('batch-job-1-b-0.jsonl');
    expect(upload?.purpose).toBe('batch');
    const lines = upload?.content
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(lines).toEqual(requests);
    const batch = fake.storedBatches.get(providerBatchId);
    expect(batch).toMatchObject({
      endpoint: '/v1/responses',
      completion_window: '24h',
      input_file_id: [...fake.storedFiles.keys()][0],
      metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-0' },
    });
  });

  test('uses the chat completions endpoint for chat requests', async () => {
    // Act
    const { providerBatchId } = await provider.submitBatch([chatRequest('a'), chatRequest('b')], {
      jobId: 'job-1',
      batchId: 'b-1',
    });

    // Assert
    expect(fake.storedBatches.get(providerBatchId)?.endpoint).toBe('/v1/chat/completions');
  });

  test('rejects requests that do not share one url, before uploading anything', async () => {
    // Act
    const submitting = provider.submitBatch([responsesRequest('a'), chatRequest('b')], {
      jobId: 'job-1',
      batchId: 'b-0',
    });

    // Assert
    await expect(submitting).rejects.toThrow(InvalidRequestError);
    await expect(submitting).rejects.toThrow(/share one url/);
    expect(fake.calls).toEqual([]);
  });

  test('rejects an empty batch and duplicate custom ids', async () => {
    // Act
    const empty = provider.submitBatch([], { jobId: 'job-1', batchId: 'b-0' });
    const duplicated = provider.submitBatch([responsesRequest('a'), responsesRequest('a')], {
      jobId: 'job-1',
      batchId: 'b-0',
    });

    // Assert
    await expect(empty).rejects.toMatchObject({ name: 'InvalidRequestError', code: 'empty_batch' });
    await expect(duplicated).rejects.toMatchObject({
      name: 'InvalidRequestError',
      code: 'duplicate_custom_id',
    });
    expect(fake.calls).toEqual([]);
  });

  test('a failed upload is mapped and no batch is created', async () => {
    // Arrange
    fake.failNext('files.create', new AuthenticationError(401, apiBody('bad key'), 'bad key', headers()));

    // Act
    const submitting = provider.submitBatch([responsesRequest('a')], { jobId: 'job-1', batchId: 'b-0' });

    // Assert
    await expect(submitting).rejects.toBeInstanceOf(ProviderAuthError);
    expect(fake.callsOf('batches.create')).toEqual([]);
  });
});

describe('batch mode: findBatch', () => {
  test('finds the batch created with our metadata', async () => {
    // Arrange
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-0' } });
    const wanted = fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-1' } });
    fake.addBatch({ metadata: null });
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-2', llm_batch_batch_id: 'b-1' } });

    // Act
    const found = await provider.findBatch({ jobId: 'job-1', batchId: 'b-1' });

    // Assert
    expect(found).toBe(wanted.id);
    expect(fake.callsOf('batches.list')).toEqual([[{ limit: 100 }]]);
  });

  test('finds nothing when no batch carries the metadata', async () => {
    // Arrange
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-0' } });

    // Act
    const found = await provider.findBatch({ jobId: 'job-1', batchId: 'b-9' });

    // Assert
    expect(found).toBeUndefined();
  });

  test('stops after a bounded number of batches', async () => {
    // Arrange
    provider = new OpenAIBatchProvider({ client: fake, maxBatchesToScan: 5 });
    fake.addBatch({ metadata: { llm_batch_job_id: 'job-1', llm_batch_batch_id: 'b-0' } });
    for (let i = 0; i < 20; i += 1) fake.addBatch({ metadata: null });

    // Act
    const found = await provider.findBatch({ jobId: 'job-1', batchId: 'b-0' });

    // Assert
    expect(found).toBeUndefined();
    expect(fake.listed).toBe(5);
  });

  test('a failing list is mapped', async () => {
    // Arrange
    fake.failNext('batches.list', serverError(500));

    // Act
    const finding = provider.findBatch({ jobId: 'job-1', batchId: 'b-0' });

    // Assert
    await expect(finding).rejects.toBeInstanceOf(ProviderUnavailableError);
  });
});

describe('batch mode: pollBatch', () => {
  test.each(['validating', 'in_progress', 'finalizing', 'cancelling'])(
    'a %s batch is not done and reports its counts',
    async (status) => {
      // Arrange
      const batch = fake.addBatch({ status, request_counts: { total: 10, completed: 4, failed: 1 } });

      // Act
      const progress = await provider.pollBatch(batch.id);

      // Assert
      expect(progress).toEqual({
        done: false,
        status,
        counts: { total: 10, completed: 4, failed: 1 },
      });
    },
  );

  test('a completed batch matches outputs and errors by custom_id, in any order', async () => {
    // Arrange
    const output = fake.addFile(
      jsonl([
        outputLine('c'),
        outputLine('a'),
        outputLine('d', 400, {
          error: { message: "Invalid 'input': empty", type: 'invalid_request_error', code: 'empty_input' },
        }),
      ]),
    );
    const errors = fake.addFile(jsonl([errorFileLine('b', 'server_error', 'try again later')]));
    const batch = fake.addBatch({ status: 'completed', output_file_id: output, error_file_id: errors });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.status).toBe('completed');
    expect([...finished.results.keys()].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(finished.results.get('a')).toEqual({
      outcome: 'succeeded',
      output: outputLine('a'),
      usage: { inputTokens: 10, outputTokens: 5 },
    });
    expect(finished.results.get('c')?.output.custom_id).toBe('c');
    expect(finished.results.get('b')).toMatchObject({
      outcome: 'failed',
      output: { custom_id: 'b', response: null, error: { code: 'server_error', message: 'try again later' } },
    });
    expect(finished.results.get('d')).toMatchObject({
      outcome: 'failed',
      output: {
        custom_id: 'd',
        response: { status_code: 400 },
        error: { code: 'empty_input', message: "Invalid 'input': empty" },
      },
    });
    expect(finished.missing).toEqual({
      outcome: 'failed',
      code: 'missing_from_output',
      message: 'the provider returned no result for this request',
    });
  });

  test('a completed batch with only an error file fails every request it names', async () => {
    // Arrange
    const errors = fake.addFile(
      jsonl([
        outputLine('x', 500, { error: { message: 'internal', type: 'server_error' } }),
        errorFileLine('y', 'invalid_request', 'bad body'),
      ]),
    );
    const batch = fake.addBatch({ status: 'completed', error_file_id: errors });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.results.get('x')).toMatchObject({
      outcome: 'failed',
      output: { error: { code: 'http_500', message: 'internal' } },
    });
    expect(finished.results.get('y')?.outcome).toBe('failed');
    expect(fake.callsOf('files.content')).toEqual([[errors]]);
  });

  test('an expired batch keeps finished results and fails the rest with the reason', async () => {
    // Arrange
    const output = fake.addFile(jsonl([outputLine('done-1'), outputLine('done-2')]));
    const batch = fake.addBatch({ status: 'expired', output_file_id: output });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.status).toBe('expired');
    expect(finished.results.get('done-1')?.outcome).toBe('succeeded');
    expect(finished.results.get('done-2')?.outcome).toBe('succeeded');
    expect(finished.missing).toEqual({
      outcome: 'failed',
      code: 'batch_expired',
      message: 'batch expired before this request finished',
    });
  });

  test('a failed batch fails its requests with the batch error', async () => {
    // Arrange
    const batch = fake.addBatch({
      status: 'failed',
      errors: {
        data: [{ code: 'token_limit_exceeded', message: 'Enqueued token limit reached' }],
      },
    });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.results.size).toBe(0);
    expect(finished.missing).toEqual({
      outcome: 'failed',
      code: 'token_limit_exceeded',
      message: 'Enqueued token limit reached',
    });
    expect(fake.callsOf('files.content')).toEqual([]);
  });

  test('a failed batch without errors fails with batch_failed', async () => {
    // Arrange
    const batch = fake.addBatch({ status: 'failed' });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.missing).toMatchObject({ outcome: 'failed', code: 'batch_failed' });
  });

  test('a cancelled batch keeps partial results and cancels the rest', async () => {
    // Arrange
    const output = fake.addFile(jsonl([outputLine('early')]));
    const batch = fake.addBatch({ status: 'cancelled', output_file_id: output });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect(finished.results.get('early')?.outcome).toBe('succeeded');
    expect(finished.missing).toMatchObject({ outcome: 'cancelled', code: 'batch_cancelled' });
  });

  test('skips blank lines', async () => {
    // Arrange
    const output = fake.addFile(`\n${JSON.stringify(outputLine('a'))}\r\n\n  \n${JSON.stringify(outputLine('b'))}`);
    const batch = fake.addBatch({ status: 'completed', output_file_id: output });

    // Act
    const finished = finishedBatch(await provider.pollBatch(batch.id));

    // Assert
    expect([...finished.results.keys()]).toEqual(['a', 'b']);
  });

  test.each([
    ['not JSON', '{"custom_id": "a", '],
    ['no custom_id', JSON.stringify({ id: 'x', response: null, error: { code: 'e', message: 'm' } })],
    ['a response without status', JSON.stringify({ id: 'x', custom_id: 'a', response: { body: {} }, error: null })],
  ])('a malformed output line (%s) is a ProviderError', async (_case, line) => {
    // Arrange
    const output = fake.addFile(`${JSON.stringify(outputLine('ok'))}\n${line}\n`);
    const batch = fake.addBatch({ status: 'completed', output_file_id: output });

    // Act
    const polling = provider.pollBatch(batch.id);

    // Assert
    await expect(polling).rejects.toBeInstanceOf(ProviderError);
  });

  test('an unknown batch is an InvalidRequestError', async () => {
    // Act
    const polling = provider.pollBatch('batch_unknown');

    // Assert
    await expect(polling).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe('batch mode: cancelBatch', () => {
  test('cancels a running batch', async () => {
    // Arrange
    const batch = fake.addBatch({ status: 'in_progress' });

    // Act
    await provider.cancelBatch(batch.id);

    // Assert
    expect(fake.storedBatches.get(batch.id)?.status).toBe('cancelling');
  });

  test('leaves a finished batch as it is, without an error', async () => {
    // Arrange
    const batch = fake.addBatch({ status: 'completed' });

    // Act
    const cancelling = provider.cancelBatch(batch.id);

    // Assert
    await expect(cancelling).resolves.toBeUndefined();
    expect(fake.storedBatches.get(batch.id)?.status).toBe('completed');
  });

  test('a transient failure propagates', async () => {
    // Arrange
    const batch = fake.addBatch({ status: 'in_progress' });
    fake.failNext('batches.cancel', new APIConnectionError({ message: 'socket hang up' }));

    // Act
    const cancelling = provider.cancelBatch(batch.id);

    // Assert
    await expect(cancelling).rejects.toBeInstanceOf(ProviderUnavailableError);
  });
});
