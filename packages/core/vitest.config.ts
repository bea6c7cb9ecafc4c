import { defineConfig } from 'vitest/config';

// Tests that encode real media (conform-*) saturate a 2-core machine for a minute; they run as
// their own group after the others, so timing-sensitive child-process tests never share the CPU
// with an H.264 encoder.
const MEDIA_TESTS = ['test/conform-media.test.ts', 'test/cli-conform.test.ts'];

export default defineConfig({
  test: {
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
    projects: [
      {
        extends: true,
        test: { name: 'core', include: ['test/**/*.test.ts'], exclude: MEDIA_TESTS },
      },
      {
        extends: true,
        test: { name: 'media', include: MEDIA_TESTS, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
