import { describe, expect, test } from '@jest/globals';
import { DEFAULT_OUTPUT_TOKENS, estimateRequestTokens } from '../../shared/rate-limit/estimate.js';

describe('the token estimate of a request', () => {
  test('a response: a token per 4 characters of instructions and input, plus max_output_tokens', () => {
    // Act
    const tokens = estimateRequestTokens({
      url: '/v1/responses',
      body: {
        model: 'm',
        instructions: 'be brief',
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'hello there' }] }],
        max_output_tokens: 50,
      },
    });

    // Assert: "be brief" 8 + "user" 4 + "input_text" 10 + "hello there" 11 = 33 characters
    expect(tokens).toBe(Math.ceil(33 / 4) + 50);
  });

  test('a chat completion: its messages, plus max_completion_tokens, else max_tokens', () => {
    // Arrange
    const messages = [{ role: 'user', content: 'x'.repeat(400) }];

    // Act
    const completion = estimateRequestTokens({
      url: '/v1/chat/completions',
      body: { model: 'm', messages, max_completion_tokens: 30 },
    });
    const legacy = estimateRequestTokens({
      url: '/v1/chat/completions',
      body: { model: 'm', messages, max_tokens: 20 },
    });

    // Assert
    expect(completion).toBe(101 + 30);
    expect(legacy).toBe(101 + 20);
  });

  test('a request without a maximum counts the default output', () => {
    // Act
    const tokens = estimateRequestTokens({ url: '/v1/responses', body: { model: 'm', input: 'abcd' } });

    // Assert
    expect(tokens).toBe(1 + DEFAULT_OUTPUT_TOKENS);
  });
});
