/**
 * The tool's own typed errors (the codec's RdbError family lives in native-free-parser/errors.ts)
 * and the one table that maps every error to its exit code (../shared/docs/CLI.md "Exit codes").
 * Library code throws these; only src/cli.ts turns them into a message and an exit status.
 */
import { isRdbError, type RdbErrorKind } from '../native-free-parser/errors.js';

/** Exit codes of CLI.md, by name. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  corrupt: 3,
  truncated: 4,
  checksum: 5,
  unsupported: 6,
  limit: 7,
  network: 8,
  conflict: 9,
  verifyDiff: 10,
  partial: 11,
  interrupted: 130,
} as const;

const RDB_EXIT: Readonly<Record<RdbErrorKind, number>> = {
  corrupt: EXIT.corrupt,
  truncated: EXIT.truncated,
  checksum: EXIT.checksum,
  unsupported: EXIT.unsupported,
  limit: EXIT.limit,
};

/** Base of the tool's errors: a `kind` word for the message and the exit code it stands for. */
export abstract class ToolError extends Error {
  abstract readonly kind: string;
  abstract readonly exitCode: number;
  /** A next step for the user, printed as `hint: ...` on a second line. */
  readonly hint: string | undefined;

  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

/** Unknown option, bad value, missing argument, missing input file: exit 2. */
export class UsageError extends ToolError {
  readonly kind = 'usage';
  readonly exitCode = EXIT.usage;
  override name = 'UsageError';
}

/** Connect, auth, TLS, or a server error reply that stops the run: exit 8. */
export class NetworkError extends ToolError {
  readonly kind = 'network';
  readonly exitCode = EXIT.network;
  override name = 'NetworkError';
}

/** Key conflicts under `--on-conflict error` / `--on-busykey error` (nothing written): exit 9. */
export class ConflictError extends ToolError {
  readonly kind = 'conflict';
  readonly exitCode = EXIT.conflict;
  override name = 'ConflictError';
}

/** `verify` found differences: exit 10. */
export class VerifyDiffError extends ToolError {
  readonly kind = 'verify';
  readonly exitCode = EXIT.verifyDiff;
  override name = 'VerifyDiffError';
}

/** Some sources or keys failed, the rest succeeded: exit 11. */
export class PartialFailureError extends ToolError {
  readonly kind = 'partial';
  readonly exitCode = EXIT.partial;
  override name = 'PartialFailureError';
}

/** SIGINT/SIGTERM (or an aborted AbortSignal) stopped the run: exit 130. */
export class InterruptedError extends ToolError {
  readonly kind = 'interrupted';
  readonly exitCode = EXIT.interrupted;
  override name = 'InterruptedError';

  constructor(message = 'interrupted') {
    super(message);
  }
}

/** The exit code an error stands for: codec kinds, tool kinds, else 1 (a bug). */
export function exitCodeFor(e: unknown): number {
  if (isRdbError(e)) return RDB_EXIT[e.kind] ?? EXIT.internal;
  if (e instanceof ToolError) return e.exitCode;
  return EXIT.internal;
}
