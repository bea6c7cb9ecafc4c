#!/usr/bin/env node
import { ConfigError, loadConfig } from './config.js';
import { serveRelay, stopOnSignal } from './serve.js';
import { StoreUnavailableError } from './store/postgres.js';

// The only module with side effects: read the environment, start, and stop on a signal.
try {
  const config = loadConfig(process.env, process.cwd());
  const running = await serveRelay(config);
  // Not awaited: the relay's last handles may close before its close() settles, and an awaited
  // promise the loop outlives would end the process with code 13 instead of 0.
  void stopOnSignal(running, config).then((code) => process.exit(code));
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof StoreUnavailableError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  const code = (error as { code?: string }).code;
  if (code === 'EADDRINUSE') {
    process.stderr.write(
      'The relay port is already in use; set PORT to a free port or stop the other process.\n',
    );
    process.exit(1);
  }
  throw error;
}
