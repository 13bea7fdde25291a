'use strict';
// The example servers the Go test starts for these tests, by environment
// variable: SSECHAT_URL (the echo mock, no delay), SSECHAT_SLOW_URL (the mock
// waits between chunks), SSECHAT_UPSTREAM_URL (a fake OpenAI upstream) and
// SSECHAT_RESUME_URL (detaches and rotates responses), SSECHAT_PARTS_URL (the
// mock reasons and calls a tool, no delay) and SSECHAT_SLOW_PARTS_URL (the
// same, slow), SSECHAT_FILTER_URL (-blocklist with the word 敏感词).

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests with "go test ./examples/server -run TestMiniProgramClient"`);
  return v;
}

module.exports = { env };
