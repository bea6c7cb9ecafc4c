#!/usr/bin/env node
import { runCli } from './commands.js';

// Entry of the `retalk-relay` bin.
const code = await runCli(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
process.exitCode = code;
