// Drives `msa serve` with the official `openai` npm package (issue 16), the
// way a user's program does. Run by openai_client_test.cc:
//   node openai_client.mjs BASE_URL OPENAI_PACKAGE_DIR QUESTION
// Prints one JSON line with what it saw; exits non-zero on the first failed check.
import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';

const [baseURL, pkgDir, question] = process.argv.slice(2);
const { default: OpenAI } = await import(pathToFileURL(`${pkgDir}/node_modules/openai/index.mjs`).href);
const client = new OpenAI({ baseURL, apiKey: 'sk-test', maxRetries: 0, timeout: 300_000 });
const report = {};

// models.list(): the loaded model with its limits and memory in "msa".
const models = [];
for await (const m of client.models.list()) models.push(m);
assert.equal(models.length, 1, 'one model');
const model = models[0].id;
assert.equal(models[0].object, 'model');
assert.ok(models[0].msa.memory.documents > 0, 'memory stats in the extension field');
const retrieved = await client.models.retrieve(model);
assert.equal(retrieved.id, model);
report.model = model;

const messages = [{ role: 'user', content: question }];

// Streams a request; returns the joined content deltas, the finish_reason and the usage chunk.
async function streamed(params) {
  const stream = await client.chat.completions.create({ ...params, stream: true });
  let content = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.content) content += c.delta.content;
      if (c.finish_reason) {
        assert.equal(finish, null, 'one finish_reason');
        finish = c.finish_reason;
      }
    }
  }
  return { content, finish, usage, chunks };
}

// Non-streaming, then the same request streamed: the deltas join to exactly the content.
const full = await client.chat.completions.create({ model, messages, max_tokens: 64 });
const answer = full.choices[0].message.content;
assert.equal(full.object, 'chat.completion');
assert.ok(answer.length > 0, `an answer (got ${JSON.stringify(full)})`);
assert.equal(full.choices[0].finish_reason, 'stop');
assert.ok(!answer.includes('<|im_end|>') && !answer.includes('The answer to the question is'), 'the answer alone');
assert.ok(full.usage.total_tokens > 0);
const s = await client.chat.completions.create({ model, messages, max_tokens: 64, stream: true,
                                                 stream_options: { include_usage: true } })
  .then(async (stream) => {
    let content = '', finish = null, usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        if (c.delta?.content) content += c.delta.content;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    return { content, finish, usage };
  });
assert.equal(s.content, answer, 'streamed deltas join to the non-streamed content');
assert.equal(s.finish, full.choices[0].finish_reason);
assert.ok(s.usage && s.usage.total_tokens === full.usage.total_tokens, 'usage chunk with stream_options.include_usage');
report.answer = answer;

// A stop sequence cuts the answer the same way, streamed or not.
if (answer.length >= 2) {
  const stop = answer.slice(Math.floor(answer.length / 2));
  const cut = await client.chat.completions.create({ model, messages, max_tokens: 64, stop });
  const cutContent = cut.choices[0].message.content;
  assert.ok(answer.startsWith(cutContent) && cutContent.length < answer.length, `stop cuts: ${cutContent}`);
  assert.equal(cut.choices[0].finish_reason, cutContent ? 'stop' : 'no_answer');
  const cutStreamed = await streamed({ model, messages, max_tokens: 64, stop });
  assert.equal(cutStreamed.content, cutContent);
  report.stop = cutContent;
}

// The SDK's stream helper accumulates the same message.
const helper = client.chat.completions.stream({ model, messages, max_tokens: 64 });
const final = await helper.finalChatCompletion();
assert.equal(final.choices[0].message.content, answer);

// No answer (the token cap stops the model before it answers): said the same way streamed and not.
const none = await client.chat.completions.create({ model, messages, max_tokens: 1 });
assert.equal(none.choices[0].message.content, '');
assert.equal(none.choices[0].finish_reason, 'no_answer');
assert.equal(none.msa.answered, false);
const noneStreamed = await streamed({ model, messages, max_tokens: 1 });
assert.equal(noneStreamed.content, '');
assert.equal(noneStreamed.finish, 'no_answer');
report.no_answer = noneStreamed.finish;

// Errors: the SDK raises typed errors carrying OpenAI's error shape.
await assert.rejects(client.chat.completions.create({ model, messages, n: 2 }), (e) => {
  assert.equal(e.status, 400);
  assert.equal(e.constructor.name, 'BadRequestError');
  assert.equal(e.param, 'n');
  assert.equal(e.code, 'unsupported_parameter');
  assert.equal(e.type, 'invalid_request_error');
  return true;
});
await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages }), (e) => {
  assert.equal(e.status, 404);
  assert.equal(e.code, 'model_not_found');
  return true;
});
await assert.rejects(client.chat.completions.create({ model, messages: [{ role: 'user', content: '  ' }] }), (e) => {
  assert.equal(e.status, 400);
  return true;
});
report.errors = 'ok';
console.log(JSON.stringify(report));
