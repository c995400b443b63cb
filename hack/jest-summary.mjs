// Prints the one line CI reads, "N passed, N failed[, N skipped]", from jest's --json result.
// Suites that crashed before running (syntax errors, failing hooks) count as failures.
import { readFileSync } from 'node:fs';

const result = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const skipped = result.numPendingTests + result.numTodoTests;
const failed = result.numFailedTests + result.numRuntimeErrorTestSuites;
console.log(`${result.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
