/**
 * Skips that CI must not take: outside CI a test whose prerequisite is missing skips with
 * the reason; under CI (`npm test` sets ATV_CI=1 when CI or ATV_CI is set) it runs and fails
 * on the missing prerequisite instead, so a green CI run never hides a skipped leg.
 */
export const IN_CI = process.env.ATV_CI === '1';

/** The `skip` option for a test whose prerequisite may be missing (`reason`, or false when present). */
export function skipOutsideCi(reason: string | false): string | false {
  return IN_CI ? false : reason;
}
