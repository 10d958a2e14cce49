/**
 * `SharedAttempt`: one attempt at a time, and everyone who asks meanwhile gets its outcome.
 * Connecting goes through one: a second `connect()` while a connection is being made waits
 * for that connection, instead of starting another or returning early (which would let its
 * caller's next command find the session not yet connected).
 */
export class SharedAttempt {
  private current: Promise<void> | null = null;

  /** Starts `attempt` unless one is under way; either way resolves or rejects as that one does. */
  run(attempt: () => Promise<void>): Promise<void> {
    this.current ??= attempt().finally(() => {
      this.current = null;
    });
    return this.current;
  }
}
