import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // After every test: the provider key appeared in no response and no log line.
    setupFiles: ['test/setup.ts'],
    // Caps, not waits: a test ends as soon as its state is reached. CI shares 2 cores with whatever
    // else runs, and a child-process CLI run or a media probe can take several times longer there.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The simulator returns the input video's bytes unless a test asks for the real result
    // (resultMode: 'mux'), which costs a transcode per task.
    env: { RETALK_SIM_RESULT_MODE: 'echo' },
    // The JSON report feeds the plain "N passed, N failed" line that .ci/run prints.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
