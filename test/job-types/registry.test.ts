import { describe, expect, test } from '@jest/globals';
import { UnknownJobTypeError } from '../../shared/errors.js';
import type { JobType } from '../../shared/job-types/job-type.js';
import { JobTypeRegistry, createDefaultRegistry } from '../../shared/job-types/registry.js';

function fakeJobType(name: string): JobType {
  return {
    name,
    description: `fake ${name}`,
    compile: () => ({ toRequest: () => ({ custom_id: 'x', method: 'POST', url: '/v1/responses', body: {} }) }),
    parseLine: () => ({ customId: 'x' }),
  };
}

describe('JobTypeRegistry', () => {
  test('the default registry holds the three built-in job types', () => {
    const registry = createDefaultRegistry();

    expect(registry.names()).toEqual(['openai-batch', 'prompt', 'classify']);
    expect(registry.get('classify').name).toBe('classify');
  });

  test('get returns the job type registered under that name', () => {
    const registry = new JobTypeRegistry();
    const type = fakeJobType('summarise');
    registry.register(type);

    const found = registry.get('summarise');

    expect(found).toBe(type);
  });

  test('an unknown job type is an UnknownJobTypeError listing the registered ones', () => {
    const registry = createDefaultRegistry();

    const get = () => registry.get('translate');

    expect(get).toThrow(UnknownJobTypeError);
    expect(get).toThrow('unknown job type "translate"; registered job types: openai-batch, prompt, classify');
    expect(get).toThrow(
      expect.objectContaining({ jobType: 'translate', registered: ['openai-batch', 'prompt', 'classify'] }),
    );
  });

  test('registering a name twice throws and keeps the first', () => {
    const registry = new JobTypeRegistry();
    const first = fakeJobType('prompt');
    registry.register(first);

    const registerAgain = () => registry.register(fakeJobType('prompt'));

    expect(registerAgain).toThrow('job type "prompt" is already registered');
    expect(registry.get('prompt')).toBe(first);
  });
});
