import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root (tests run from dist/test/..., sources live at the root). */
export const REPO_ROOT = process.env.ATV_REPO_ROOT ?? resolve(__dirname, '..', '..', '..');

/**
 * Where the recorded fixtures live: a copy is kept in test/fixtures so `npm test` works on
 * any clone; `../shared/fixtures` (the originals) wins when it is present beside the repo.
 */
export const FIXTURES = [join(REPO_ROOT, '..', 'shared', 'fixtures'), join(REPO_ROOT, 'test', 'fixtures')].find((p) =>
  existsSync(join(p, 'owntone-29.3')),
) ?? join(REPO_ROOT, 'test', 'fixtures');

export const fixture = (...parts: string[]): string => join(FIXTURES, ...parts);
