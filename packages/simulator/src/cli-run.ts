import { parseArgs } from 'node:util';
import { runSamples } from './cli-samples.js';
import { SIMULATOR_API_KEY } from './options.js';
import { RESULT_MODES, type ResultMode } from './result-media.js';
import { createSimulator, type Simulator } from './server.js';

export const CLI_USAGE = `retalk-sim: an offline fake of the EvoLink and DashScope VideoRetalk APIs

Usage: retalk-sim [--port 8790] [--host 127.0.0.1] [--job-ms 8000] [--result mux|echo]
                  [--no-fetch-inputs] [--quiet]
       retalk-sim samples [--out DIR]   write a sample 360p WebM and M4A voice to try Retalk with

  --port N           port to listen on (default 8790; 0 picks a free one)
  --host H           interface to bind (default 127.0.0.1)
  --job-ms N         time one task takes from create to finished, in ms (default 8000)
  --result M         what a finished task returns: mux (the video with the submitted audio,
                     at the documented length; default, or RETALK_SIM_RESULT_MODE) or echo
                     (the submitted video's bytes, no transcoding)
  --no-fetch-inputs  do not download input URLs; take metadata from sim_* URL params
  --quiet            do not print one line per request
`;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** Parses the arguments and starts the simulator; returns it, or an exit code on bad input/help. */
export async function runCli(argv: string[], io: CliIo): Promise<Simulator | number> {
  if (argv[0] === 'samples') return runSamples(argv.slice(1), io);
  const fail = (message: string) => {
    io.err(`retalk-sim: ${message}\n\n${CLI_USAGE}`);
    return 2;
  };
  let values: {
    port?: string | undefined;
    host?: string | undefined;
    'job-ms'?: string | undefined;
    result?: string | undefined;
    'no-fetch-inputs'?: boolean | undefined;
    quiet?: boolean | undefined;
    help?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'job-ms': { type: 'string' },
        result: { type: 'string' },
        'no-fetch-inputs': { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    io.out(CLI_USAGE);
    return 0;
  }
  const port = Number(values.port ?? 8790);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return fail(`--port must be an integer 0-65535, got ${values.port}`);
  }
  const jobMs = Number(values['job-ms'] ?? 8000);
  if (!Number.isFinite(jobMs) || jobMs <= 0) {
    return fail(`--job-ms must be a positive number of milliseconds, got ${values['job-ms']}`);
  }
  const result = values.result;
  if (result !== undefined && !RESULT_MODES.includes(result as ResultMode)) {
    return fail(`--result must be one of ${RESULT_MODES.join(', ')}, got ${result}`);
  }
  let sim: Simulator;
  try {
    sim = await createSimulator({
      host: values.host ?? '127.0.0.1',
      port,
      jobMs,
      fetchInputs: !values['no-fetch-inputs'],
      ...(result === undefined ? {} : { resultMode: result as ResultMode }),
      ...(values.quiet ? {} : { logger: (line: string) => io.out(`  ${line}\n`) }),
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE') {
      return fail(`port ${port} is already in use; pick another with --port`);
    }
    return fail(error instanceof Error ? error.message : String(error));
  }
  io.out(
    [
      'retalk-sim is running (fake EvoLink + DashScope VideoRetalk)',
      `  EvoLink base URL:    ${sim.url}   (POST /v1/videos/generations, GET /v1/tasks/{id}, files API /api/v1/files/...)`,
      `  DashScope base URL:  ${sim.dashscopeUrl}   (also ${sim.url}/qwen/api/v1 and ${sim.url}/alibailian/api/v1)`,
      `  API key:             ${SIMULATOR_API_KEY}`,
      `  Fixtures:            ${sim.fixtureUrl('talking-640x640-25fps-3s.mp4')}`,
      `  One task takes ${jobMs} ms. Scenarios: ?sim=<scenario> on video_url or header X-Sim-Scenario.`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  return sim;
}
