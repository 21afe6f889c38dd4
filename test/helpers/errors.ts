import assert from "node:assert/strict";
import { QgaError } from "../../src/qga/errors.js";

/** The QgaError a call fails with; fails the test if it succeeds or throws anything else. */
export async function qgaErrorOf(promise: Promise<unknown>): Promise<QgaError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof QgaError, `expected a QgaError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}
