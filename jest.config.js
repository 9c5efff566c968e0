// Native ESM (middy 7 and openai 7 ship ESM only): run with --experimental-vm-modules on the
// pinned Node 24; @swc/jest strips types without type-checking (tsc --noEmit does that first).
const project = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'es6' } },
    ],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
};

/**
 * The tests of the store's semantics (the task, rate-limit and API tests on a test table, and the
 * table's own): they run once more on the local runtime's embedded store, as they run first on
 * dynalite (test/support/dynamo.ts reads LLM_BATCH_TEST_STORE).
 */
const STORE_TESTS = [
  '<rootDir>/test/tasks/**/*.test.ts',
  '<rootDir>/test/rate-limit/**/*.test.ts',
  '<rootDir>/test/api/**/*.test.ts',
  '<rootDir>/test/store/table-semantics.test.ts',
  '<rootDir>/test/local/resume-takeover.test.ts',
];

export default {
  projects: [
    { ...project, testMatch: ['<rootDir>/test/**/*.test.ts'] },
    {
      ...project,
      displayName: 'embedded store',
      testMatch: STORE_TESTS,
      setupFiles: ['<rootDir>/test/support/embedded-store-env.ts'],
    },
  ],
  // Most suites wait on (scaled) timers and sockets, not the CPU: two workers on two cores nearly
  // halve the run (jest's default is one fewer than the cores).
  maxWorkers: 2,
  // A global option: jest ignores it inside a project.
  testTimeout: 30_000,
};
