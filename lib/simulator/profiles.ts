/**
 * Which device the simulator plays: its model, board name, OS version and build, as every
 * protocol server reports them (DNS-SD TXT records, MRP's DeviceInfo, AirPlay's `/info`), so
 * all of them describe one device.
 *  - An Apple TV 4K on tvOS 14.7 when MRP is served on its own port without AirPlay: the
 *    last tvOS whose direct MRP discovery keeps enabled.
 *  - An Apple TV 4K (3rd gen) on tvOS 18 when AirPlay is served: its `_mediaremotetv` record
 *    (if MRP is served too) carries a tvOS 18 build, so discovery marks direct MRP unusable
 *    and clients take the AirPlay tunnel, as with a real tvOS 15+ device.
 *  - A HomePod mini (`--device homepod`): AirPlay only, transient pairing, no video.
 */
import { INTERNAL_MODEL_NAMES } from '../device/models';
import { InvalidArgumentError } from '../errors';
import { MrpDeviceClass } from '../protocols/mrp/proto-types';

export const SIMULATED_DEVICES = ['appletv', 'homepod'] as const;
export type SimulatedDevice = (typeof SIMULATED_DEVICES)[number];

export interface SimulatorDeviceProfile {
  readonly device: SimulatedDevice;
  /** Raw model identifier (AirPlay TXT `model`, MRP `modelID`). */
  readonly model: string;
  /** What `_device-info._tcp` says as `model`. */
  readonly board: string;
  readonly osVersion: string;
  readonly build: string;
  /** MRP DeviceInfo `localizedModelName`. */
  readonly localizedModelName: string;
  readonly deviceClass: MrpDeviceClass;
  /** Plays video (AirPlay URLs, video tracks). */
  readonly video: boolean;
}

function boardOf(model: string): string {
  const board = Object.keys(INTERNAL_MODEL_NAMES).find((name) => INTERNAL_MODEL_NAMES[name] === model);
  if (board === undefined) throw new Error(`discovery's board table lacks ${model}`);
  return board;
}

/** An Apple TV 4K on tvOS 14.7 (build 18M60): direct MRP. */
export const APPLE_TV_TVOS14: SimulatorDeviceProfile = {
  device: 'appletv',
  model: 'AppleTV6,2',
  board: boardOf('AppleTV6,2'),
  osVersion: '14.7',
  build: '18M60',
  localizedModelName: 'Apple TV',
  deviceClass: MrpDeviceClass.AppleTV,
  video: true,
};

/** An Apple TV 4K (3rd generation) on tvOS 18.1 (build 22J580): MRP only through AirPlay. */
export const APPLE_TV_TVOS18: SimulatorDeviceProfile = {
  device: 'appletv',
  model: 'AppleTV14,1',
  board: boardOf('AppleTV14,1'),
  osVersion: '18.1',
  build: '22J580',
  localizedModelName: 'Apple TV',
  deviceClass: MrpDeviceClass.AppleTV,
  video: true,
};

/** A HomePod mini on software 18.1: AirPlay with transient pairing, audio only. */
export const HOMEPOD_MINI: SimulatorDeviceProfile = {
  device: 'homepod',
  model: 'AudioAccessory5,1',
  // HomePods carry no board name; their `_device-info` record names the model itself.
  board: 'AudioAccessory5,1',
  osVersion: '18.1',
  build: '22J580',
  localizedModelName: 'HomePod',
  deviceClass: MrpDeviceClass.Accessory,
  video: false,
};

/** The protocols a HomePod serves: AirPlay (and Companion, once simulated); never DMAP or direct MRP. */
const HOMEPOD_PROTOCOLS: readonly string[] = ['airplay', 'companion'];

/** The profile for a device and the protocols served (see the header). */
export function simulatorProfile(device: SimulatedDevice, protocols: readonly string[]): SimulatorDeviceProfile {
  if (device === 'homepod') {
    const wrong = protocols.filter((p) => !HOMEPOD_PROTOCOLS.includes(p));
    if (wrong.length > 0) throw new InvalidArgumentError(`a HomePod does not serve ${wrong.join(', ')}: serve airplay`);
    return HOMEPOD_MINI;
  }
  return protocols.includes('airplay') ? APPLE_TV_TVOS18 : APPLE_TV_TVOS14;
}
