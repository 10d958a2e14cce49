/** Waiting in tests: a plain delay, and polling for a condition with a deadline. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true; throws, naming `what`, after `timeout` ms. */
export async function until(check: () => boolean, what = 'the condition', timeout = 5000): Promise<void> {
  const end = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
