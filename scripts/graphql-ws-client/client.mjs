// The `events` subscription through graphql-ws's own client – the reference implementation of the
// graphql-transport-ws protocol, written by others – against a real `samverkan serve` on 127.0.0.1
// over a fresh data directory seeded with the fixtures (issue 19, session 24):
//
// - a catch-up replay of the whole log, then a live event recorded through the HTTP API, with no gap
//   and no duplicate, for a document of plain fields (whose frames the server writes itself,
//   `graphql/src/schema/direct.rs`) and for the same document with one field in an inline fragment
//   (resolved by async-graphql's engine): both deliver the same events;
// - a subscription the server refuses before it runs ends in the client's error handler with the
//   GraphQL errors, without a hang;
// - a client that stops listening completes its subscription, and the server stops counting it.
//
// SAMVERKAN_BIN names the binary (`../server.mjs`).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { bin, startServer, stopServer } from '../server.mjs';

// Bounds on every wait: the test fails rather than hangs (the server's own are in server.mjs).
const SERVER_START_MS = 60_000;
const WAIT_MS = 20_000;

const FIELDS = 'id position stream streamVersion type effective recordedAt recordedBy prevHash hash __typename';
/** Plain fields only: the server writes its frames itself. */
const PLAIN = `subscription($from: Int) { log: events(fromPosition: $from) { ${FIELDS} data } }`;
/** The same selection, one field in an inline fragment: async-graphql's engine resolves it. */
const ENGINE = `subscription($from: Int) { log: events(fromPosition: $from) { ${FIELDS} ... on Event { data } } }`;

let server;
let base;
let dataDir;
let token;

/** A GraphQL request over HTTP; its data, or a thrown error with the GraphQL errors. */
async function graphql(query, variables = {}, bearer = undefined) {
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** The server's head, once it answers. */
async function waitForHead() {
  const deadline = Date.now() + SERVER_START_MS;
  for (;;) {
    try {
      return (await graphql('{ ledger { position } }')).ledger.position;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A graphql-ws client of the server. */
function client() {
  return createClient({
    url: `${base.replace('http://', 'ws://')}/graphql/ws`,
    webSocketImpl: WebSocket,
    connectionParams: { token },
    retryAttempts: 0,
  });
}

/** The next `n` results of `iterator`, each within the bound. */
async function take(iterator, n) {
  const out = [];
  while (out.length < n) {
    let timer;
    const next = await Promise.race([
      iterator.next(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no result within ${WAIT_MS} ms`)), WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(next.done, false, `the subscription ended after ${out.length} of ${n} results`);
    assert.equal(next.value.errors, undefined, JSON.stringify(next.value.errors));
    out.push(next.value.data.log);
  }
  return out;
}

describe('the events subscription through graphql-ws', { timeout: 120_000 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'samverkan-graphql-ws-'));
    token = execFileSync(bin, ['token', 'create', '--role', 'SECRETARIAT', '--name', 'graphql-ws', '--data', dataDir], {
      encoding: 'utf8',
    }).trim();
    ({ child: server, url: base } = await startServer(dataDir));
  });

  after(async () => {
    await stopServer(server);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('replays the whole log and then delivers a live event, the same written by the server and by the engine', async () => {
    const head = await waitForHead();
    assert.ok(head >= 800, `the fixtures were seeded (head ${head})`);
    const ws = client();
    try {
      const plain = ws.iterate({ query: PLAIN, variables: { from: 1 } });
      const engine = ws.iterate({ query: ENGINE, variables: { from: 1 } });
      const replayed = await take(plain, head);
      assert.deepEqual(await take(engine, head), replayed);
      assert.deepEqual(
        replayed.map((e) => e.position),
        Array.from({ length: head }, (_, i) => i + 1),
        'every position once, in order',
      );
      assert.ok(replayed.every((e) => e.__typename === 'Event' && typeof e.data === 'object'));

      const recorded = await graphql(
        'mutation($input: OpenCaseInput!) { openCase(input: $input) { position type } }',
        {
          input: {
            case: 'graphql-ws-1',
            agreement: 'hok',
            kind: 'DEVIATION',
            parties: ['nacka', 'region-stockholm'],
            level: 'LOCAL',
            principled: false,
            summary: 'Oenighet om ansvar vid utskrivning (graphql-ws-test)',
            effective: '2022-09-20',
            source: { title: 'graphql-ws-test', note: 'recorded by scripts/graphql-ws-client/client.mjs' },
          },
        },
        token,
      );
      assert.equal(recorded.openCase.position, head + 1);
      const [live] = await take(plain, 1);
      assert.deepEqual(await take(engine, 1), [live]);
      assert.equal(live.position, head + 1);
      assert.equal(live.type, 'CaseOpened');
      assert.equal(live.data.case, 'graphql-ws-1');
      await plain.return();
      await engine.return();
    } finally {
      await ws.dispose();
    }
  });

  it('ends a subscription the server refuses in the client\'s error handler, without a hang', async () => {
    const ws = client();
    try {
      for (const query of [
        'subscription { events(fromPosition: 1) { nope } }',
        'subscription { events(fromPosition: 1, types: ["NoSuchType"]) { position } }',
      ]) {
        const errors = await new Promise((resolvePromise, reject) => {
          const timer = setTimeout(() => reject(new Error(`no error within ${WAIT_MS} ms: ${query}`)), WAIT_MS);
          ws.subscribe(
            { query },
            {
              next: (result) => {
                // An execution error comes as a result with errors (then complete), a refusal
                // before the operation runs as the protocol's `error` message.
                if (result.errors) {
                  clearTimeout(timer);
                  resolvePromise(result.errors);
                }
              },
              error: (error) => {
                clearTimeout(timer);
                resolvePromise(error);
              },
              complete: () => {},
            },
          );
        });
        assert.ok(Array.isArray(errors) && errors.length > 0, `${query}: ${JSON.stringify(errors)}`);
        assert.ok(errors.every((e) => typeof e.message === 'string'), JSON.stringify(errors));
      }
    } finally {
      await ws.dispose();
    }
  });

  it('completes the subscription of a client that stops listening, and the server stops counting it', async () => {
    const subscribers = async () => {
      const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(WAIT_MS) });
      const found = (await response.text()).match(/^samverkan_subscribers(?:\{[^}]*\})? (\d+)/m);
      assert.ok(found, 'the metrics count subscribers');
      return Number(found[1]);
    };
    const ws = client();
    try {
      const plain = ws.iterate({ query: PLAIN, variables: { from: 1 } });
      await take(plain, 3);
      assert.equal(await subscribers(), 1);
      await plain.return();
      const deadline = Date.now() + WAIT_MS;
      while ((await subscribers()) !== 0) {
        assert.ok(Date.now() < deadline, 'the server stops counting the completed subscription');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await ws.dispose();
    }
  });
});
