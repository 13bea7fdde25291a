// The chat page: streams each answer with streamChat and shows it with the
// typewriter, which calls setData at most every 50 ms. streamChat resumes a
// cut response on its own (the 60 s cap, the app in the background), so the
// answer goes on as one text.
//
// The page is built with the Component constructor (methods in "methods",
// set-up and tear-down in "lifetimes"), which WeChat supports for pages and
// which lets miniprogram-simulate render the page itself in the tests.
const { streamChat } = require('../../utils/ssechat');
const { createTypewriter } = require('../../utils/typewriter');

Component({
  data: {
    // {id, role, text, typing, note, reasoning, thinking, showReasoning, status}
    messages: [],
    input: '',
    streaming: false,
    error: '',
    bottom: '',
  },

  lifetimes: {
    attached() {
      this.history = []; // the conversation sent with each request
      this.task = null;
      this.typewriter = null;
    },
    // A page built with Component is detached when it is unloaded.
    detached() {
      if (this.task) this.task.abort();
      if (this.typewriter) this.typewriter.cancel();
      if (this.thoughts) this.thoughts.cancel();
    },
  },

  methods: {
    onInput(e) {
      this.setData({ input: e.detail.value });
    },

    send() {
      const content = this.data.input.trim();
      if (!content || this.data.streaming) return;
      const app = getApp();
      this.history.push({ role: 'user', content: content });
      const n = this.data.messages.length;
      const answer = 'messages[' + (n + 1) + ']';
      this.setData({
        input: '',
        error: '',
        streaming: true,
        messages: this.data.messages.concat([
          { id: n, role: 'user', text: content },
          { id: n + 1, role: 'assistant', text: '', typing: true },
        ]),
        bottom: 'm' + (n + 1),
      });

      const typewriter = createTypewriter((text, finished) => {
        const d = {};
        d[answer + '.text'] = text;
        if (finished) {
          d[answer + '.typing'] = false;
          d[answer + '.showReasoning'] = false; // the thinking folds (a tap opens it)
        }
        this.setData(d);
      });
      // The reasoning (a reasoning model thinking aloud) is paced the same
      // way, in its own block above the answer: open while the model
      // thinks and answers, folded once the answer is complete.
      const thoughts = createTypewriter((reasoning, finished) => {
        const d = {};
        d[answer + '.reasoning'] = reasoning;
        if (finished) d[answer + '.thinking'] = false;
        this.setData(d);
      });
      let answering = false;
      this.typewriter = typewriter;
      this.thoughts = thoughts;
      this.task = streamChat({
        url: app.globalData.chatURL,
        data: { messages: this.history.slice() },
        ascii: app.globalData.ascii,
        // The server marks its answers as AI-generated: show the label.
        onStart: (info) => {
          if (!info.aiGenerated) return;
          const d = {};
          d[answer + '.ai'] = true;
          this.setData(d);
        },
        onReasoning: (reasoning) => {
          if (answering) return;
          const d = {};
          if (!this.data.messages[n + 1].thinking && !this.data.messages[n + 1].reasoning) {
            d[answer + '.thinking'] = true;
            d[answer + '.showReasoning'] = true;
            this.setData(d);
          }
          thoughts.update(reasoning);
        },
        onText: (text) => {
          if (!answering && text) {
            answering = true;
            thoughts.finish(); // the answer begins: reveal the rest of the thinking
          }
          typewriter.update(text);
        },
        // A status line while a tool is called and runs.
        onToolCall: (call) => {
          const d = {};
          if (call.state === 'input') d[answer + '.status'] = 'Calling ' + call.name + '…';
          else if (call.state === 'ready') d[answer + '.status'] = 'Running ' + call.name + '…';
          else if (call.state === 'error') d[answer + '.status'] = call.name + ' failed: ' + call.error;
          else d[answer + '.status'] = '';
          this.setData(d);
        },
        onData: (part) => {
          if (part.name === 'status' && typeof part.value === 'string') {
            const d = {};
            d[answer + '.status'] = part.value;
            this.setData(d);
          }
        },
        onDone: (result) => {
          thoughts.finish();
          typewriter.finish();
          this.history.push({ role: 'assistant', content: result.text });
          this.finish('');
        },
        onError: (err) => {
          thoughts.finish();
          typewriter.finish();
          if (err.text) this.history.push({ role: 'assistant', content: err.text });
          const d = {};
          d[answer + '.note'] = err.code === 'interrupted' ? 'Interrupted' : err.code === 'content_filtered' ? '内容已过滤 Filtered' : '';
          this.setData(d);
          this.finish(err.code === 'interrupted' ? 'The connection was lost. Try again.' : err.message + ' (' + err.code + ')');
        },
      });
    },

    // toggleReasoning opens or folds an answer's reasoning.
    toggleReasoning(e) {
      const i = e.currentTarget.dataset.index;
      const d = {};
      d['messages[' + i + '].showReasoning'] = !this.data.messages[i].showReasoning;
      this.setData(d);
    },

    stop() {
      if (!this.task) return;
      this.task.stop(); // also stops the generation on the server
      this.thoughts.finish();
      this.typewriter.finish();
      const d = {};
      d['messages[' + (this.data.messages.length - 1) + '].note'] = 'Stopped';
      this.setData(d);
      this.finish('');
    },

    finish(error) {
      this.task = null;
      this.setData({ streaming: false, error: error });
    },
  },
});
