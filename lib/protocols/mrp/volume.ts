/**
 * MRP volume (pyatv: MrpAudio in protocols/mrp/__init__.py): what the device lets us control (availability and
 * relative/absolute capability, for our output device), the level it reports, and setting
 * it. The device never answers SET_VOLUME; it pushes VOLUME_DID_CHANGE when the level moved,
 * so a change is confirmed by waiting for that push.
 *
 * "Our" output device is the one DEVICE_INFO names: clusterID when the device is part of a
 * cluster (HomePod pairs), else deviceUID.
 */
import { InvalidArgumentError, NotSupportedError, TimeoutError } from '../../errors';
import { createMrpMessage, type MrpDecodedMessage } from './messages';
import { MrpMessageType, MrpVolumeCapabilities, type MrpDeviceInfoMessage, type MrpVolumeControlAvailabilityMessage } from './proto-types';

/** How long a volume change may take to be confirmed (pyatv's 5 s). */
export const MRP_VOLUME_CONFIRM_TIMEOUT = 5000;
/** Step of volumeUp/volumeDown when only absolute volume is possible (pyatv's MrpAudio). */
export const MRP_VOLUME_STEP = 5;

export interface MrpVolumeHost {
  /** Sends a message that gets no reply. */
  send(message: ReturnType<typeof createMrpMessage>): void;
  /** Presses a volume key (HID, no flush). */
  pressVolumeKey(key: 'volumeUp' | 'volumeDown'): Promise<void>;
}

/** Level as pyatv reports it: percent with one decimal. */
function percent(volume: number): number {
  return Math.round(Math.min(1, Math.max(0, volume)) * 1000) / 10;
}

export class MrpVolume {
  private available = false;
  private capabilities: number = MrpVolumeCapabilities.None;
  private current: number | null = null;
  private outputDevice: string | null = null;
  private readonly waiters = new Set<{ level: (level: number) => void; cancel: (error: Error) => void }>();

  constructor(
    private readonly host: MrpVolumeHost,
    private readonly onLevel: (level: number) => void,
    private readonly confirmTimeout = MRP_VOLUME_CONFIRM_TIMEOUT,
  ) {}

  /** The output device UID volume messages are about (null until DEVICE_INFO). */
  get deviceUid(): string | null {
    return this.outputDevice;
  }

  /** The last level the device reported for our output device, 0–100. */
  get level(): number | null {
    return this.current;
  }

  /** Volume control is possible at all: the device says so and we know our output device. */
  get controllable(): boolean {
    return this.available && this.outputDevice !== null;
  }

  get absolute(): boolean {
    return (this.capabilities & MrpVolumeCapabilities.Absolute) !== 0;
  }

  get relative(): boolean {
    return (this.capabilities & MrpVolumeCapabilities.Relative) !== 0;
  }

  learnDeviceInfo(info: MrpDeviceInfoMessage): void {
    const uid = info.clusterID || info.deviceUID;
    if (uid) this.outputDevice = uid;
  }

  /** Feeds a pushed message; true when it was about volume. */
  handle(message: MrpDecodedMessage): boolean {
    switch (message.type) {
      case MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE:
        if (message.payload) this.learnCapabilities(message.payload);
        return true;
      case MrpMessageType.VOLUME_CONTROL_CAPABILITIES_DID_CHANGE_MESSAGE: {
        const change = message.payload;
        // Only our output device's capabilities matter (a group reports each member).
        if (change?.capabilities && change.outputDeviceUID === this.outputDevice) this.learnCapabilities(change.capabilities);
        return true;
      }
      case MrpMessageType.VOLUME_DID_CHANGE_MESSAGE: {
        const change = message.payload;
        if (change?.volume === undefined || !Number.isFinite(change.volume) || change.outputDeviceUID !== this.outputDevice) return true;
        const level = percent(change.volume);
        this.current = level;
        for (const waiter of [...this.waiters]) waiter.level(level);
        this.onLevel(level);
        return true;
      }
      default:
        return false;
    }
  }

  private learnCapabilities(availability: MrpVolumeControlAvailabilityMessage): void {
    this.available = availability.volumeControlAvailable === true;
    this.capabilities = availability.volumeCapabilities ?? MrpVolumeCapabilities.None;
  }

  /** Sets the absolute level (0–100); resolves with the level the device then reports. */
  async set(level: number): Promise<number> {
    if (!Number.isFinite(level) || level < 0 || level > 100) throw new InvalidArgumentError(`volume must be between 0 and 100, got ${level}`);
    const uid = this.requireAbsolute();
    if (this.current !== null && Math.abs(this.current - level) < 0.05) return this.current;
    const confirmed = this.nextLevel();
    // Like pyatv: SET_VOLUME expects no reply; VOLUME_DID_CHANGE confirms it.
    this.host.send(createMrpMessage(MrpMessageType.SET_VOLUME_MESSAGE, { outputDeviceUID: uid, volume: level / 100 }));
    const reported = await confirmed.promise;
    if (reported === null) {
      throw new TimeoutError(`the device did not confirm the volume change within ${this.confirmTimeout} ms`);
    }
    return reported;
  }

  /** One step up or down: the volume key when the device takes relative changes, else ±5. */
  async step(direction: 1 | -1): Promise<void> {
    if (!this.controllable) throw new NotSupportedError(this.unavailableReason());
    if (this.absolute && this.current !== null && (direction > 0 ? this.current >= 100 : this.current <= 0)) return;
    if (this.relative) {
      const confirmed = this.absolute ? this.nextLevel() : null;
      await this.host.pressVolumeKey(direction > 0 ? 'volumeUp' : 'volumeDown');
      // With absolute volume too the device reports the new level; waiting for it makes
      // back-to-back steps land one after the other. No report is no error: the key press
      // itself has no answer.
      if (confirmed) await confirmed.promise;
      return;
    }
    const base = this.current ?? 0;
    await this.set(Math.min(100, Math.max(0, base + direction * MRP_VOLUME_STEP)));
  }

  private requireAbsolute(): string {
    if (!this.controllable) throw new NotSupportedError(this.unavailableReason());
    if (!this.absolute) {
      throw new NotSupportedError('this device only takes relative volume changes (volumeUp/volumeDown), not an absolute level');
    }
    return this.outputDevice!;
  }

  private unavailableReason(): string {
    if (this.outputDevice === null) return 'the device did not name its output device, so its volume cannot be controlled';
    return 'volume control is not available on this device right now (e.g. audio goes to an output that controls its own volume)';
  }

  /** The next reported level, or null after the confirmation timeout. */
  private nextLevel(): { promise: Promise<number | null> } {
    const promise = new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(null);
      }, this.confirmTimeout);
      timer.unref();
      const waiter = {
        level: (level: number) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(level);
        },
        cancel: (error: Error) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
    // Awaited by the caller when it gets that far; a send that fails first leaves it unwatched.
    promise.catch(() => undefined);
    return { promise };
  }

  /** Fails everyone waiting for a confirmation (the connection ended). */
  cancel(error: Error): void {
    for (const waiter of [...this.waiters]) waiter.cancel(error);
  }
}
