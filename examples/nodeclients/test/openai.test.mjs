// The official openai npm package reads the example server's
// /v1/chat/completions (openai mode): the answer, the reasoning
// (delta.reasoning_content, as DeepSeek sends it) and a tool call whose
// arguments come in pieces, exactly. The server runs its mock with
// -mock-reasoning and -mock-tools: it thinks aloud, calls message_length
// on the message, and answers with the result.
import test from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const base = process.env.SSECHAT_V1_URL;
if (!base) throw new Error('SSECHAT_V1_URL is not set: run these tests with "go test ./examples/server -run TestNodeClients"');

const client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
const message = '你好, ssechat! 👩‍👩‍👧‍👦 e\u0301';
const characters = Array.from(message).length;
const answer = `Your message has ${characters} characters.`;
const args = JSON.stringify({ text: message });

test('create({stream: true}): content, reasoning_content and tool_calls, exact', async () => {
  const stream = await client.chat.completions.create({
    model: 'echo',
    messages: [{ role: 'user', content: message }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = '';
  let reasoning = '';
  const calls = [];
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      const d = choice.delta;
      content += d.content ?? '';
      reasoning += d.reasoning_content ?? '';
      for (const tc of d.tool_calls ?? []) {
        calls[tc.index] ??= { id: '', name: '', arguments: '' };
        if (tc.id) calls[tc.index].id = tc.id;
        calls[tc.index].name += tc.function?.name ?? '';
        calls[tc.index].arguments += tc.function?.arguments ?? '';
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(reasoning, 'Thinking about: ' + message);
  assert.equal(content, answer);
  assert.deepEqual(calls, [{ id: 'call_1', name: 'message_length', arguments: args }]);
  assert.equal(finish, 'stop');
  assert.equal(usage.completion_tokens_details.reasoning_tokens, Array.from('Thinking about: ' + message).length);
});

test('chat.completions.stream(): the SDK accumulator builds the message and its tool call', async () => {
  const stream = client.chat.completions.stream({
    model: 'echo',
    messages: [{ role: 'user', content: message }],
  });
  const argsDone = [];
  stream.on('tool_calls.function.arguments.done', (e) => argsDone.push(e.arguments));
  const completion = await stream.finalChatCompletion();
  const choice = completion.choices[0];
  assert.equal(choice.finish_reason, 'stop');
  assert.equal(choice.message.content, answer);
  assert.equal(choice.message.tool_calls.length, 1);
  assert.equal(choice.message.tool_calls[0].id, 'call_1');
  assert.equal(choice.message.tool_calls[0].function.name, 'message_length');
  assert.equal(choice.message.tool_calls[0].function.arguments, args);
  assert.deepEqual(argsDone, [args]);
});
