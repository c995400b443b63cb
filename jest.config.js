// ESM throughout: execa and @kubernetes/client-node ship only as ES modules, so jest runs under
// node --experimental-vm-modules (see hack/test.sh) and ts-jest emits ESM. Type checking is done
// once by `tsc --noEmit` rather than per test file, which keeps the suite fast.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  maxWorkers: 2,
};
