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
    messages: [], // {id, role, text, typing, note}
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
        if (finished) d[answer + '.typing'] = false;
        this.setData(d);
      });
      this.typewriter = typewriter;
      this.task = streamChat({
        url: app.globalData.chatURL,
        data: { messages: this.history.slice() },
        ascii: app.globalData.ascii,
        onText: typewriter.update,
        onDone: (result) => {
          typewriter.finish();
          this.history.push({ role: 'assistant', content: result.text });
          this.finish('');
        },
        onError: (err) => {
          typewriter.finish();
          if (err.text) this.history.push({ role: 'assistant', content: err.text });
          const d = {};
          d[answer + '.note'] = err.code === 'interrupted' ? 'Interrupted' : '';
          this.setData(d);
          this.finish(err.code === 'interrupted' ? 'The connection was lost. Try again.' : err.message + ' (' + err.code + ')');
        },
      });
    },

    stop() {
      if (!this.task) return;
      this.task.stop(); // also stops the generation on the server
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
