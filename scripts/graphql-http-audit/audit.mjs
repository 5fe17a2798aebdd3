// The GraphQL-over-HTTP audit (issue 17): every one of graphql-http's `serverAudits` against a real
// `samverkan serve` on 127.0.0.1, over a fresh data directory seeded with the fixtures. Prints each
// result and a count per status; exits non-zero on any error or warning (a failed MUST or SHOULD).
// Notices (a MAY the server does not do) are printed and counted but do not fail the run.
//
// SAMVERKAN_BIN names the binary (`../server.mjs`).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverAudits } from 'graphql-http';
import { serverLog, startServer, stopServer } from '../server.mjs';

// Bounds on every wait: the audit fails rather than hangs (the server's own are in server.mjs).
const REQUEST_MS = 10_000;

/** `fetch` with a deadline, so no audit can hang the run. */
function fetchWithDeadline(input, init = {}) {
  return fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_MS) });
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'samverkan-graphql-http-audit-'));
  let server;
  try {
    const started = await startServer(dataDir);
    server = started.child;
    const url = `${started.url}/graphql`;
    console.log(`graphql-http serverAudits against ${url}`);
    const results = [];
    // One at a time, in the package's order: the output reads like its list.
    for (const { fn } of serverAudits({ url, fetchFn: fetchWithDeadline })) {
      results.push(await fn());
    }
    const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
    for (const result of results) {
      counts[result.status] += 1;
      const line = `${result.status.padEnd(6)} ${result.id} ${result.name}`;
      if (result.status === 'ok') {
        console.log(line);
        continue;
      }
      let body = '';
      try {
        body = await result.response.text();
      } catch {
        // The body was read by the audit itself.
      }
      const type = result.response.headers.get('content-type');
      console.log(`${line}\n       ${result.reason}: HTTP ${result.response.status}, ${type}, ${body.slice(0, 300)}`);
    }
    console.log(
      `${results.length} audits: ${counts.ok} ok, ${counts.notice} notices, ${counts.warn} warnings, ${counts.error} errors`,
    );
    return counts.warn + counts.error === 0;
  } finally {
    if (server) await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (passed) => {
    process.exitCode = passed ? 0 : 1;
  },
  (error) => {
    console.error(`graphql-http audit failed to run: ${error.stack ?? error}`);
    if (serverLog()) console.error(`server log:\n${serverLog()}`);
    process.exitCode = 2;
  },
);
