// The two doors of the public API the page uses: POST /graphql for queries, and the
// graphql-transport-ws protocol on /graphql/ws for the live event feed. Nothing else.

/** A GraphQL error with the server's `extensions.code`. */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Runs a query and returns its `data`, or throws an ApiError. */
export async function query(text, variables = {}, { signal } = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
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
      socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
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
