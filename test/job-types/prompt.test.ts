import { describe, expect, test } from '@jest/globals';
import { ValidationError } from '../../shared/errors.js';
import { promptJobType } from '../../shared/job-types/prompt.js';
import type { JobOptions, OutputLine } from '../../shared/types.js';

function jobOptions(params: Record<string, unknown> = {}, overrides: Partial<JobOptions> = {}): JobOptions {
  return {
    mode: 'responses',
    model: 'gpt-5-mini',
    batchSize: 50,
    maxConcurrency: 10,
    toleratedFailurePercentage: 0,
    params,
    ...overrides,
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

describe('prompt job type', () => {
  test('a line becomes a /v1/responses request with the prompt as input', () => {
    const line = { id: 'q-1', prompt: 'What is 2 + 2?' };

    const parsed = promptJobType.parseLine(line);
    const request = promptJobType.compile(jobOptions()).toRequest(line);

    expect(parsed).toEqual({ customId: 'q-1' });
    expect(request).toEqual({
      custom_id: 'q-1',
      method: 'POST',
      url: '/v1/responses',
      body: { model: 'gpt-5-mini', input: 'What is 2 + 2?' },
    });
  });

  test('the template is rendered with the prompt and vars; instructions and maxOutputTokens are passed on', () => {
    const options = jobOptions({
      template: 'Answer in {{ vars.language }} for a {{vars.audience}}:\n{{prompt}}',
      instructions: 'Be brief.',
      maxOutputTokens: 300,
    });
    const line = { id: 'q-2', prompt: 'Why is the sky blue?', vars: { language: 'French', audience: 'child' } };

    const request = promptJobType.compile(options).toRequest(line);

    expect(request.body).toEqual({
      model: 'gpt-5-mini',
      input: 'Answer in French for a child:\nWhy is the sky blue?',
      instructions: 'Be brief.',
      max_output_tokens: 300,
    });
  });

  test('placeholders inside the prompt or a var are not rendered again', () => {
    const options = jobOptions({ template: '{{vars.a}} / {{prompt}}' });
    const line = { id: 'q-3', prompt: 'literal {{vars.a}}', vars: { a: '{{prompt}}' } };

    const request = promptJobType.compile(options).toRequest(line);

    expect(request.body.input).toBe('{{prompt}} / literal {{vars.a}}');
  });

  test('a line without a var the template uses is a ValidationError naming vars.<name>', () => {
    const options = jobOptions({ template: '{{prompt}} ({{vars.tone}})' });
    const line = { id: 'q-4', prompt: 'Describe Paris', vars: { style: 'formal' } };

    const error = validationError(() => promptJobType.compile(options).toRequest(line));

    expect(error.where).toBe('vars.tone');
    expect(error.detail).toBe('is missing: the template uses {{vars.tone}}, so every line needs it');
  });

  test('var names that are Object.prototype members are ordinary var names', () => {
    const options = jobOptions({ template: '{{vars.constructor}}' });

    const missing = validationError(() => promptJobType.compile(options).toRequest({ id: 'a', prompt: 'p' }));
    const present = promptJobType.compile(options).toRequest({ id: 'b', prompt: 'p', vars: { constructor: 'c' } });

    expect(missing.where).toBe('vars.constructor');
    expect(present.body.input).toBe('c');
  });

  test.each([
    ['id missing', { prompt: 'p' }, 'id', /is required/],
    ['id not a string', { id: 1, prompt: 'p' }, 'id', /got a number/],
    ['id too long', { id: 'x'.repeat(600), prompt: 'p' }, 'id', /at most 512/],
    ['prompt missing', { id: 'a' }, 'prompt', /is required/],
    ['prompt blank', { id: 'a', prompt: '  ' }, 'prompt', /got an empty one/],
    ['vars not an object', { id: 'a', prompt: 'p', vars: ['x'] }, 'vars', /object of strings, got an array/],
    ['a var not a string', { id: 'a', prompt: 'p', vars: { n: 3 } }, 'vars.n', /must be a string, got a number/],
  ])('%s is a ValidationError naming %s', (_case, line, where, message) => {
    const error = validationError(() => promptJobType.parseLine(line));

    expect(error.where).toBe(where);
    expect(error.detail).toMatch(message);
  });

  test.each([
    ['no model', jobOptions({}, { model: undefined }), 'model', /is required for prompt jobs/],
    [
      'an unknown placeholder',
      jobOptions({ template: 'Hi {{name}}' }),
      'params.template',
      /"{{name}}" is not supported; use {{prompt}} or {{vars.<name>}}/,
    ],
    [
      'a template that is not a string',
      jobOptions({ template: 5 }),
      'params.template',
      /non-empty string, got a number/,
    ],
    ['blank instructions', jobOptions({ instructions: '' }), 'params.instructions', /non-empty string/],
    ['maxOutputTokens 0', jobOptions({ maxOutputTokens: 0 }), 'params.maxOutputTokens', /positive integer, got 0/],
    [
      'maxOutputTokens 1.5',
      jobOptions({ maxOutputTokens: 1.5 }),
      'params.maxOutputTokens',
      /positive integer, got 1.5/,
    ],
    [
      'a misspelt param',
      jobOptions({ temlate: '{{prompt}}' }),
      'params.temlate',
      /known ones: template, instructions, maxOutputTokens/,
    ],
  ])('options with %s are a ValidationError naming %s', (_case, options, where, message) => {
    const error = validationError(() => promptJobType.compile(options));

    expect(error.where).toBe(where);
    expect(error.detail).toMatch(message);
  });

  test('valid options pass', () => {
    const options = jobOptions({
      template: 'Q: {{prompt}} ({{vars.x}})',
      instructions: 'Be brief.',
      maxOutputTokens: 64,
    });

    expect(() => promptJobType.compile(options)).not.toThrow();
  });

  test('toResult is the output text of the response', () => {
    const output: OutputLine = {
      id: 'resp_1',
      custom_id: 'q-1',
      response: {
        status_code: 200,
        request_id: 'req_1',
        body: { object: 'response', output: [{ type: 'message', content: [{ type: 'output_text', text: '4' }] }] },
      },
      error: null,
    };

    const result = promptJobType.compile(jobOptions()).toResult(output);

    expect(result).toBe('4');
  });
});
