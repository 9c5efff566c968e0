import { describe, expect, test } from '@jest/globals';
import { usageFromBody } from '../../shared/provider/usage.js';

describe('usageFromBody', () => {
  test.each([
    [
      'a Responses body',
      { usage: { input_tokens: 7, output_tokens: 2, total_tokens: 9 } },
      { inputTokens: 7, outputTokens: 2 },
    ],
    [
      'a Chat Completions body',
      { usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } },
      { inputTokens: 12, outputTokens: 3 },
    ],
    ['an Embeddings body', { usage: { prompt_tokens: 5, total_tokens: 5 } }, { inputTokens: 5, outputTokens: 0 }],
    ['a body without usage', { id: 'resp_1' }, undefined],
    ['null usage', { usage: null }, undefined],
    ['usage without counts', { usage: { total_tokens: 4 } }, undefined],
    ['not an object', 'text', undefined],
    ['nothing', undefined, undefined],
  ])('reads %s', (_case, body, expected) => {
    // Act
    const usage = usageFromBody(body);

    // Assert
    expect(usage).toEqual(expected);
  });
});
