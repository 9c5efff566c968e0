// Native ESM (middy 7 and openai 7 ship ESM only): run with --experimental-vm-modules on the
// pinned Node 24; @swc/jest strips types without type-checking (tsc --noEmit does that first).
export default {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'es6' } },
    ],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 30_000,
  // Most suites wait on (scaled) timers and sockets, not the CPU: two workers on two cores nearly
  // halve the run (jest's default is one fewer than the cores).
  maxWorkers: 2,
};
