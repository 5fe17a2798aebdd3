// The two doors of the public API the page uses: POST /graphql for queries, and the
// graphql-transport-ws protocol on /graphql/ws for the live event feed. Nothing else.

/** A GraphQL error with the server's `extensions.code`. */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

// A server started with `--reads-require-token` answers only callers with a token. The reader
// types it once; it is kept in this tab's session storage (gone when the tab closes, never sent
// anywhere but this server) and sent with every query and in the feed's connection_init.
const TOKEN_KEY = 'samverkan.token';

/** The token this tab uses, or '' for none. */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

/** Keeps `value` as this tab's token ('' forgets it). */
export function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (a private window with storage off): the token is not kept.
  }
}

/** Runs a query and returns its `data`, or throws an ApiError. */
export async function query(text, variables = {}, { signal } = {}) {
  const secret = token();
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(secret ? { authorization: `Bearer ${secret}` } : {}),
    },
    body: JSON.stringify({ query: text, variables }),
    signal,
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`HTTP ${response.status}`, 'HTTP');
  }
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new ApiError(first.message, first.extensions?.code);
  }
  if (!response.ok || !body.data) throw new ApiError(`HTTP ${response.status}`, 'HTTP');
  return body.data;
}

/**
 * Subscribes to `subscription` over graphql-transport-ws and keeps the subscription alive: after
 * a drop it reconnects with growing pauses and asks `variables()` again, so the caller can resume
 * from the last position it saw. Returns a function that stops it for good.
 */
export function subscribe(subscription, variables, { onData, onStatus }) {
  let socket = null;
  let stopped = false;
  let retry = 0;
  let timer = null;

  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql/ws`;

  function connect() {
    if (stopped) return;
    onStatus(retry === 0 ? 'connecting' : 'reconnecting');
    socket = new WebSocket(url, 'graphql-transport-ws');
    socket.addEventListener('open', () => {
      const secret = token();
      socket.send(JSON.stringify({ type: 'connection_init', payload: secret ? { Authorization: `Bearer ${secret}` } : {} }));
    });
    socket.addEventListener('message', (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      switch (frame.type) {
        case 'connection_ack':
          retry = 0;
          onStatus('live');
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: subscription, variables: variables() } }));
          break;
        case 'ping':
          socket.send(JSON.stringify({ type: 'pong' }));
          break;
        case 'next':
          if (frame.payload?.data) onData(frame.payload.data);
          break;
        case 'error':
        case 'complete':
          // The server ended the subscription: start over, resuming where we were.
          socket.close();
          break;
        default:
          break;
      }
    });
    socket.addEventListener('close', () => {
      if (stopped) return;
      onStatus('reconnecting');
      const pause = Math.min(15000, 500 * 2 ** retry);
      retry += 1;
      timer = setTimeout(connect, pause);
    });
  }

  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    socket?.close();
  };
}
