// The GraphQL-over-HTTP audit (issue 17): every one of graphql-http's `serverAudits` against a real
// `samverkan serve` on 127.0.0.1, over a fresh data directory seeded with the fixtures. Prints each
// result and a count per status; exits non-zero on any error or warning (a failed MUST or SHOULD).
// Notices (a MAY the server does not do) are printed and counted but do not fail the run.
//
// SAMVERKAN_BIN names the binary (default: target/debug/samverkan under CARGO_TARGET_DIR or the
// repository).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverAudits } from 'graphql-http';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, 'target');
const bin = process.env.SAMVERKAN_BIN ?? join(targetDir, 'debug', 'samverkan');

// Bounds on every wait: the audit fails rather than hangs.
const SERVER_START_MS = 60_000;
const REQUEST_MS = 10_000;
const SERVER_STOP_MS = 10_000;

let serverLog = '';

/** Starts the server and resolves with it and its base URL once it has printed where it listens. */
function startServer(dataDir) {
  return new Promise((resolvePromise, reject) => {
    const server = spawn(bin, ['serve', '--data', dataDir, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    });
    const timer = setTimeout(
      () => reject(new Error(`server did not report its address in ${SERVER_START_MS} ms:\n${serverLog}`)),
      SERVER_START_MS,
    );
    server.stderr.setEncoding('utf8');
    server.stderr.on('data', (chunk) => {
      serverLog += chunk;
      const found = serverLog.match(/(http:\/\/127\.0\.0\.1:\d+)\//);
      if (found) {
        clearTimeout(timer);
        resolvePromise({ server, base: found[1] });
      }
    });
    server.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    server.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (${code}):\n${serverLog}`));
    });
  });
}

/** Stops the server: SIGTERM, then SIGKILL if it has not exited in time. */
function stopServer(server) {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => server.kill('SIGKILL'), SERVER_STOP_MS);
    server.removeAllListeners('exit');
    server.on('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    server.kill('SIGTERM');
  });
}

/** `fetch` with a deadline, so no audit can hang the run. */
function fetchWithDeadline(input, init = {}) {
  return fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_MS) });
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'samverkan-graphql-http-audit-'));
  let server;
  try {
    const started = await startServer(dataDir);
    server = started.server;
    const url = `${started.base}/graphql`;
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
    if (serverLog) console.error(`server log:\n${serverLog}`);
    process.exitCode = 2;
  },
);
