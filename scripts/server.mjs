// A real `samverkan serve` for the Node checks under scripts/ (graphql-http's audit, graphql-ws's
// client): started on 127.0.0.1:0 over a data directory, stopped with SIGTERM, every wait bounded.
//
// SAMVERKAN_BIN names the binary (default: target/debug/samverkan under CARGO_TARGET_DIR or the
// repository).

import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, 'target');

/** The samverkan binary. */
export const bin = process.env.SAMVERKAN_BIN ?? join(targetDir, 'debug', 'samverkan');

const SERVER_START_MS = 60_000;
const SERVER_STOP_MS = 10_000;

let log = '';

/** What the server started last wrote to stderr. */
export function serverLog() {
  return log;
}

/** Starts the server and resolves with it and its base URL once it has printed where it listens. */
export function startServer(dataDir) {
  log = '';
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, ['serve', '--data', dataDir, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    });
    const timer = setTimeout(
      () => reject(new Error(`server did not report its address in ${SERVER_START_MS} ms:\n${log}`)),
      SERVER_START_MS,
    );
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const found = log.match(/(http:\/\/127\.0\.0\.1:\d+)\//);
      if (found) {
        clearTimeout(timer);
        resolvePromise({ child, url: found[1] });
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (${code}):\n${log}`));
    });
  });
}

/** Stops the server: SIGTERM, then SIGKILL if it has not exited in time. */
export function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), SERVER_STOP_MS);
    child.removeAllListeners('exit');
    child.on('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    child.kill('SIGTERM');
  });
}
