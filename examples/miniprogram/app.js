// The chat endpoint. In WeChat DevTools, tick "Does not verify valid domain
// names" (不校验合法域名) to reach a server on your machine; on a device the
// URL must be HTTPS on a domain listed in the mini program's settings.
App({
  globalData: {
    chatURL: 'http://127.0.0.1:8080/chat',
    // ASCII-only JSON: every byte split falls between characters. The client
    // decodes UTF-8 correctly anyway; turn this on for a proxy or a platform
    // that decodes chunks itself.
    ascii: false,
  },
});
