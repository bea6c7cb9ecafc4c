#!/usr/bin/env node
import { ConfigError, loadConfig } from './config.js';
import { serveRelay } from './serve.js';

// The only module with side effects: read the environment, start, and stop on a signal.
try {
  const config = loadConfig(process.env, process.cwd());
  const running = await serveRelay(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.relay.app.log.info({ signal }, 'stopping: draining requests, jobs stay resumable');
    // A client that stalls its request (a dripping upload) must not hold the shutdown forever;
    // stop before a supervisor's SIGKILL (Docker waits 10 s) so the store closes cleanly.
    setTimeout(() => {
      running.relay.app.log.warn(
        { afterMs: config.shutdownGraceMs },
        'stopping: requests still open after the grace period are cut',
      );
      running.relay.app.server.closeAllConnections();
    }, config.shutdownGraceMs).unref();
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
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
