// The official openai npm package against the example server's OpenAI API
// (/v1). SSECHAT_V1_URL: the mock thinking aloud and running its own tool
// (-mock-reasoning -mock-tools); SSECHAT_V1_UPSTREAM_URL: a server relaying
// a fake OpenAI upstream whose model calls the client's tools.
import test from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests with "go test ./examples/server -run TestNodeClients"`);
  return v;
}

const mock = new OpenAI({ baseURL: env('SSECHAT_V1_URL'), apiKey: 'unused', maxRetries: 0 });
const relay = new OpenAI({ baseURL: env('SSECHAT_V1_UPSTREAM_URL'), apiKey: 'unused', maxRetries: 0 });
const message = '你好, ssechat! 👩‍👩‍👧‍👦 e\u0301';
const answer = `Your message has ${Array.from(message).length} characters.`;
const reasoning = 'Thinking about: ' + message;

test('create({stream: true}): content and reasoning_content exact; the server\'s own tool call is not the client\'s', async () => {
  const stream = await mock.chat.completions.create({
    model: 'echo',
    messages: [{ role: 'user', content: message }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = '';
  let thought = '';
  let calls = 0;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      content += choice.delta.content ?? '';
      thought += choice.delta.reasoning_content ?? '';
      calls += (choice.delta.tool_calls ?? []).length;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(thought, reasoning);
  assert.equal(content, answer);
  assert.equal(calls, 0);
  assert.equal(finish, 'stop');
  assert.equal(usage.completion_tokens_details.reasoning_tokens, Array.from(reasoning).length);
});

test('create() without stream: one chat.completion object', async () => {
  const completion = await mock.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: message }] });
  assert.equal(completion.object, 'chat.completion');
  const choice = completion.choices[0];
  assert.equal(choice.message.content, answer);
  assert.equal(choice.message.reasoning_content, reasoning);
  assert.equal(choice.message.tool_calls, undefined);
  assert.equal(choice.finish_reason, 'stop');
  assert.equal(completion.usage.completion_tokens_details.reasoning_tokens, Array.from(reasoning).length);
});

const tools = ['weather', 'clock'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object' } } }));
const wantCalls = [
  { id: 'call_weather', type: 'function', function: { name: 'weather', arguments: '{"city":"北京"}' } },
  { id: 'call_clock', type: 'function', function: { name: 'clock', arguments: '{"tz":"Asia/Shanghai"}' } },
];

// results answers each call as the client's own tools would.
function results(calls) {
  return calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: c.function.name === 'weather' ? '{"temp":21}' : '12:00' }));
}

test('the client\'s tools over two turns, without streaming', async () => {
  const messages = [{ role: 'user', content: 'tools' }];
  const first = await relay.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(first.choices[0].message.tool_calls, wantCalls);
  messages.push(first.choices[0].message, ...results(first.choices[0].message.tool_calls));
  const second = await relay.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
  assert.equal(second.choices[0].message.content, 'Results: {"temp":21}; 12:00');
});

test('the client\'s tools over two turns, streaming, with the SDK\'s accumulator', async () => {
  const messages = [{ role: 'user', content: 'tools' }];
  const stream = relay.chat.completions.stream({ model: 'gpt-4o-mini', messages, tools });
  const argsDone = [];
  stream.on('tool_calls.function.arguments.done', (e) => argsDone.push(e.name + ' ' + e.arguments));
  const first = await stream.finalChatCompletion();
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(first.choices[0].message.tool_calls.map((c) => ({ id: c.id, type: c.type, function: c.function })), wantCalls);
  // The SDK takes a call for done when the next index begins, and this
  // upstream interleaves its two calls (as some vendors do), so 'done'
  // fires early too; its last for each call has the whole arguments.
  const lastDone = {};
  for (const d of argsDone) lastDone[d.split(' ')[0]] = d;
  assert.deepEqual(lastDone, { weather: 'weather {"city":"北京"}', clock: 'clock {"tz":"Asia/Shanghai"}' });
  messages.push(first.choices[0].message, ...results(first.choices[0].message.tool_calls));
  const second = await relay.chat.completions.stream({ model: 'gpt-4o-mini', messages, tools }).finalChatCompletion();
  assert.equal(second.choices[0].message.content, 'Results: {"temp":21}; 12:00');
});

test('errors are the SDK\'s typed errors: 422 with its param, 429 from the upstream', async () => {
  await assert.rejects(mock.chat.completions.create({ model: 'echo', n: 2, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.ok(err instanceof OpenAI.UnprocessableEntityError, String(err));
    assert.equal(err.status, 422);
    assert.equal(err.error.param, 'n');
    assert.equal(err.code, 'invalid_request');
    return true;
  });
  await assert.rejects(relay.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'status 429' }] }), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.code, 'rate_limited');
    return true;
  });
  // A model outside the server's list.
  await assert.rejects(mock.chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] }), OpenAI.UnprocessableEntityError);
  // The models the server allows.
  const models = [];
  for await (const m of mock.models.list()) models.push(m.id);
  assert.deepEqual(models, ['echo']);
});
