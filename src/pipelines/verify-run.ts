/**
 * `verify` as one library function, as the command has it: against merged file(s) (`against`,
 * src/pipelines/verify.ts) or a live server a replay wrote to (`target`,
 * src/pipelines/verify-target.ts).
 */
import { UsageError } from '../errors.js';
import { verifyAgainst, type VerifyOptions, type VerifyReport } from './verify.js';
import { verifyTarget, type VerifyTargetOptions, type VerifyTargetReport } from './verify-target.js';

/** Options of {@link verify}: those of verifyAgainst (with `against`) or of verifyTarget (with `target`). */
export type VerifyAnyOptions = (VerifyOptions & { target?: undefined }) | (VerifyTargetOptions & { against?: undefined });

/**
 * Verifies that merged file(s) or a live server hold exactly what merging / replaying
 * `inputArgs` with these options gives.
 * @returns the report; `ok` is false when anything differs (the CLI exits 10 then)
 * @throws UsageError unless exactly one of `against` and `target` is given; otherwise what
 *   verifyAgainst / verifyTarget throw (ConflictError, NetworkError, the codec's RdbError, ...)
 */
export function verify(inputArgs: readonly string[], opts: VerifyOptions): Promise<VerifyReport>;
export function verify(inputArgs: readonly string[], opts: VerifyTargetOptions): Promise<VerifyTargetReport>;
export function verify(inputArgs: readonly string[], opts: VerifyAnyOptions): Promise<VerifyReport | VerifyTargetReport> {
  const hasAgainst = 'against' in opts && opts.against !== undefined;
  const hasTarget = 'target' in opts && opts.target !== undefined;
  if (hasAgainst === hasTarget) return Promise.reject(new UsageError('verify: give `against` (merged files) or `target` (a server), one of them'));
  return hasTarget ? verifyTarget(inputArgs, opts as VerifyTargetOptions) : verifyAgainst(inputArgs, opts as VerifyOptions);
}
