/**
 * How long a connected device may show no sign of life before we call the connection lost,
 * for every protocol (one bound, so the status of a device node means the same whatever it
 * speaks), and `LivenessMonitor`, which enforces it with as little traffic as possible.
 *
 * A device that stops answering while its TCP connection stays open (hung, or gone behind a
 * NAT or Wi-Fi that keeps the socket half alive) sends no reset and no FIN; TCP keep-alive
 * probes are answered by its kernel, or take minutes to fail with Linux defaults. Only a
 * request the device must answer proves it is there. So: every byte the device sends counts
 * as a sign of life (`heard()`); only after `probeAfter` of silence is one probe request sent,
 * and if nothing at all arrives within `timeout` of the last sign of life, the connection is
 * lost. A busy device is never probed; an idle one gets one small request per `probeAfter`.
 * The probe must be a request that reads state (no command): it must not wake or turn on
 * the device.
 */

/** THE liveness bound, in ms: a device silent this long (probe unanswered) is lost. */
export const LIVENESS_TIMEOUT_MS = 30_000;
/** Silence after which the probe is sent: leaves 10 s for it to be answered. */
export const LIVENESS_PROBE_AFTER_MS = 20_000;

export interface LivenessOptions {
  /** Default `LIVENESS_TIMEOUT_MS`. */
  timeout?: number;
  /** Default `LIVENESS_PROBE_AFTER_MS`, at most `timeout`. */
  probeAfter?: number;
  /**
   * Sends one request the device answers at once. Its answer counts only through `heard()`
   * (called by the transport for every answer); its result and errors are ignored. The
   * signal aborts it when the connection is declared lost.
   */
  probe(signal: AbortSignal): Promise<unknown>;
  /** Called once, with how long the device has been silent (ms), when the bound is exceeded. */
  onLost(silentMs: number): void;
  /** Monotonic milliseconds (default `performance.now`; tests pass their own). */
  clock?: () => number;
}

export class LivenessMonitor {
  private readonly timeout: number;
  private readonly probeAfter: number;
  private lastHeard = 0;
  private timer: NodeJS.Timeout | null = null;
  private probing: AbortController | null = null;
  private running = false;
  private readonly now: () => number;

  constructor(private readonly options: LivenessOptions) {
    this.now = options.clock ?? (() => performance.now());
    this.timeout = options.timeout ?? LIVENESS_TIMEOUT_MS;
    this.probeAfter = Math.min(options.probeAfter ?? LIVENESS_PROBE_AFTER_MS, this.timeout);
  }

  /** Starts watching, counting from now. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastHeard = this.now();
    this.arm(this.probeAfter);
  }

  /** A sign of life: the device sent something. Cheap: called for every chunk received. */
  heard(): void {
    this.lastHeard = this.now();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.probing?.abort();
    this.probing = null;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.check(), Math.max(1, Math.ceil(ms)));
    // A watchdog must not keep a process alive on its own.
    this.timer.unref();
  }

  private check(): void {
    this.timer = null;
    if (!this.running) return;
    const silent = this.now() - this.lastHeard;
    if (silent >= this.timeout) {
      this.stop();
      this.options.onLost(silent);
      return;
    }
    if (silent < this.probeAfter) {
      this.arm(this.probeAfter - silent);
      return;
    }
    if (!this.probing) {
      const controller = new AbortController();
      this.probing = controller;
      this.options
        .probe(controller.signal)
        .catch(() => undefined)
        .finally(() => {
          if (this.probing === controller) this.probing = null;
        });
    }
    // Look again when the bound is reached, or sooner when a probe is due again anyway (an
    // idle device that answers gets one probe per `probeAfter`).
    this.arm(Math.min(this.timeout - silent, this.probeAfter));
  }
}
