/**
 * `atvlink pair`: runs one `PairingSession` and prints the credentials it yields — the only
 * place the CLI ever prints a credential. The flow follows the session's contract: where we
 * choose the PIN (DMAP) we show it and the user types it on the device; where the device shows
 * one, it is read from `--pin` or stdin.
 */
import type { PairingSession } from '../../device/interfaces';
import { pair, type PairOptions } from '../../core/pairing';
import { pairableProtocols, protocolDescriptor } from '../../protocols/table';
import { InvalidArgumentError, PairingError } from '../../errors';
import { DMAP_PAIRING_TIMEOUT, DmapPairing } from '../../protocols/dmap/pairing';
import { MRP_PAIRING_TIMEOUT } from '../../protocols/mrp/pairing';
import { UsageError, type OptionSpec } from '../args';
import { CONNECTION_OPTIONS, credentialsEnv, DEFAULT_PROTOCOL, endpointOf, protocolOption, resolveTarget, targetGiven } from '../connection';
import { CancelledError, readLines, unlessAborted, type CliCommand, type CommandContext } from '../context';
import { EXIT } from '../exit-codes';

/** The name a device lists us under unless `--name` says otherwise. */
export const CLI_REMOTE_NAME = 'atvlink';

const pairable = (): string => pairableProtocols().join(', ');

/** What to do on the device, per protocol where we show the PIN. */
const PIN_INSTRUCTIONS: Partial<Record<string, (name: string) => string[]>> = {
  dmap: (name) => [
    `  Apple TV 2/3: Settings → Remotes (General → Remotes), select "${name}"`,
    `  iTunes / Music: select "${name}" where the device list shows remotes`,
    `  OwnTone: web interface → Settings → Remotes & outputs, "${name}"`,
  ],
};

const deviceOptions = CONNECTION_OPTIONS.filter((o) => ['host', 'port', 'id', 'hosts', 'mdns-port'].includes(o.name));

const pairingOptions: readonly OptionSpec[] = [
  { name: 'protocol', type: 'string', metavar: 'P', help: `protocol to pair (${pairable()})` },
  {
    name: 'pin',
    type: 'string',
    metavar: 'NNNN',
    help: 'DMAP: the PIN you will type on the device (default: random). MRP, AirPlay, Companion: the PIN the TV shows (default: asked on stdin)',
  },
  { name: 'name', type: 'string', metavar: 'NAME', help: `the name the device lists us under (default "${CLI_REMOTE_NAME}")` },
  { name: 'interface', type: 'string', metavar: 'ADDR', help: 'IPv4 address to serve and announce on (DMAP; default: every address of this host but loopback and link-local)' },
  {
    name: 'timeout',
    type: 'number',
    metavar: 'S',
    min: 1,
    help: `seconds to wait for the device: DMAP for the whole pairing (default ${DMAP_PAIRING_TIMEOUT / 1000}), MRP, AirPlay and Companion for each answer (default ${MRP_PAIRING_TIMEOUT / 1000}; the wait for you to type the PIN has no limit)`,
  },
  {
    name: 'announce-port',
    type: 'integer',
    metavar: 'N',
    min: 0,
    max: 65535,
    help: 'DMAP: also answer unicast DNS-SD queries on this UDP port (0 = any free port, printed)',
  },
  { name: 'multicast', type: 'boolean', negatable: true, help: 'DMAP: announce by multicast DNS (default on; --no-multicast turns it off)' },
  { name: 'json', type: 'boolean', help: 'print {"protocol": …, "credentials": …} on stdout; instructions go to stderr' },
];

/** The PIN a session chose itself (DMAP's `pin` getter), if it has one. */
function chosenPin(session: PairingSession): string | null {
  const pin = (session as { pin?: unknown }).pin;
  return typeof pin === 'string' ? pin : null;
}

/**
 * Reads the PIN the device shows from stdin and hands it to the session; a line the session
 * refuses (not 4 digits) asks again, as the device keeps its dialog open meanwhile. The PIN
 * is never written anywhere: not echoed, not in an error.
 */
async function enterPin(ctx: CommandContext, session: PairingSession): Promise<void> {
  const stdin = ctx.io.stdin;
  if (!stdin) throw new UsageError('the device shows a PIN: give it with --pin NNNN', 'pair');
  ctx.out.info('Enter the PIN shown on the TV, then press Enter:');
  let accepted = false;
  let failure: unknown = null;
  const reader = readLines(stdin, ctx.signal, (line) => {
    if (accepted || failure !== null || line.trim() === '') return;
    try {
      session.setPin(line.trim());
      accepted = true;
      reader.stop();
    } catch (err) {
      if (err instanceof InvalidArgumentError) ctx.out.info(`${err.message}; enter it again:`);
      else {
        failure = err;
        reader.stop();
      }
    }
  });
  const why = await reader.done;
  if (why === 'aborted') throw new CancelledError();
  if (failure !== null) throw failure;
  if (!accepted) throw new PairingError('no PIN was entered (stdin ended); run again, or give --pin NNNN');
}

export const pairCommand: CliCommand = {
  name: 'pair',
  summary: 'pair with a device and print its credentials',
  positionals: [],
  options: [
    { heading: 'Pairing', specs: pairingOptions },
    { heading: 'Device (not needed for DMAP)', specs: deviceOptions },
  ],
  details: () => [
    'DMAP: we announce ourselves as a remote and show a PIN; on the device, pick the remote and type the PIN.',
    'The device then calls us back and the credentials are printed (keep them like a password). Use them with',
    `--credentials, or put them in ${credentialsEnv('dmap')} (per protocol: ATVLINK_<PROTOCOL>_CREDENTIALS).`,
    'MRP (Apple TV 4/4K up to tvOS 14): name the device (--host/--port or --id); it shows a PIN on the TV,',
    'which you enter here (or pass --pin). The credentials are pyatv\'s ltpk:ltsk:atv_id:client_id format.',
    'AirPlay (Apple TV on tvOS 15 or later, controlled through AirPlay): the same with --protocol airplay and the',
    'AirPlay port (usually 7000); the credentials also work as pyatv --airplay-credentials. HomePods need no pairing.',
    'Companion (power, apps, accounts, keyboard on Apple TV 4/4K): the same, with --protocol companion; its',
    'credentials work with pyatv too (--companion-credentials) and pyatv\'s work here.',
    `Exit code ${EXIT.pairing} when pairing fails (wrong PIN, refused, timed out) or the device asks to wait,`,
    `${EXIT.cancelled} when cancelled with Ctrl-C.`,
  ],
  examples: [
    'atvlink pair --protocol dmap',
    'atvlink pair --protocol dmap --pin 1234 --name "Living room remote" --interface 192.168.1.10',
    'atvlink pair --protocol mrp --host 192.168.1.20 --port 49152',
    'atvlink pair --protocol mrp --id 00:11:22:33:44:55 --json',
    'atvlink pair --protocol airplay --host 192.168.1.20 --port 7000',
    'atvlink pair --protocol companion --id 00:11:22:33:44:55',
  ],
  async run(ctx) {
    const { args, out } = ctx;
    const protocol = protocolOption(args, 'pair');
    if (protocol === undefined) throw new UsageError('which protocol? give --protocol', 'pair', `pairing works over ${pairable()}`);
    ctx.failure.protocol = protocol;
    const announcePort = args.number('announce-port');
    const multicast = args.boolean('multicast');
    const announce = announcePort !== undefined || multicast !== undefined;
    if (announce && protocol !== 'dmap') {
      throw new UsageError('--announce-port and --no-multicast are for DMAP pairing only', 'pair');
    }
    // Only a protocol where we show the PIN pairs without naming the device (it calls us);
    // an unpairable protocol is pair()'s to refuse.
    if (protocolDescriptor(protocol).pairing === 'device-shows-pin' && protocolDescriptor(protocol).createPairing && !targetGiven(args)) {
      throw new UsageError(
        `${protocol.toUpperCase()} pairing needs the device: give --host ADDR --port N, or --id ID`,
        'pair',
        'find it with `atvlink scan`',
      );
    }
    const target = targetGiven(args) ? await resolveTarget(ctx, 'pair') : undefined;
    if (target) ctx.failure.endpoint = endpointOf(target.config, protocol);
    const name = args.string('name') ?? CLI_REMOTE_NAME;
    const pinOption = args.string('pin');
    const iface = args.string('interface');
    const seconds = args.number('timeout');
    const timeout = seconds === undefined ? undefined : Math.round(seconds * 1000);
    const options: PairOptions = {
      name,
      ...(target ? { config: target.config } : {}),
      ...(pinOption !== undefined ? { pin: pinOption } : {}),
      ...(iface !== undefined ? { interface: iface } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
      ...(announce
        ? {
            advertiser: {
              multicast: multicast ?? true,
              ...(announcePort !== undefined ? { unicast: { host: iface ?? '0.0.0.0', port: announcePort } } : {}),
            },
          }
        : {}),
      ...(ctx.logger ? { logger: ctx.logger } : {}),
    };
    const session = pair(protocol, options);
    try {
      await unlessAborted(session.begin(), ctx.signal);
      if (session.deviceProvidesPin) {
        const endpoint = target ? endpointOf(target.config, protocol) : null;
        const device = !target ? '' : target.config.name === target.config.address ? ` with ${endpoint}` : ` with ${target.config.name} (${endpoint})`;
        out.info(`Pairing over ${protocol.toUpperCase()}${device} as "${name}" (Ctrl-C cancels).`);
        if (pinOption === undefined) await enterPin(ctx, session);
        else out.info('Using the PIN given with --pin.');
      } else {
        const waitMs = timeout ?? (protocol === 'dmap' ? DMAP_PAIRING_TIMEOUT : undefined);
        const wait = waitMs === undefined ? '' : `waiting up to ${Math.round(waitMs / 1000)} s; `;
        out.info(`Pairing over ${protocol.toUpperCase()} as "${name}" (${wait}Ctrl-C cancels).`);
        if (session instanceof DmapPairing) {
          const unicast = session.serviceAdvertiser?.unicastPort;
          if (unicast != null) out.info(`Answering DNS-SD queries on udp ${iface ?? '0.0.0.0'}:${unicast}`);
        }
        const pin = chosenPin(session) ?? pinOption;
        if (pin === undefined) throw new UsageError(`${protocol} pairing needs the PIN you will type on the device: give --pin NNNN`, 'pair');
        out.info(`On the device, choose the remote "${name}" and type the PIN:  ${pin}`);
        for (const line of PIN_INSTRUCTIONS[protocol]?.(name) ?? []) out.info(line);
      }
      const credentials = await unlessAborted(session.finish(), ctx.signal);
      out.secret(credentials);
      if (out.json) out.result({ protocol, credentials });
      else {
        out.line('Paired. Keep these credentials like a password:');
        out.line(`${protocol} credentials: ${credentials}`);
        const option = protocol === DEFAULT_PROTOCOL ? '--credentials' : `--credentials ${protocol}=…`;
        out.line(`Use them with ${option}, or set ${credentialsEnv(protocol)}.`);
      }
      return EXIT.ok;
    } catch (err) {
      if (err instanceof CancelledError) {
        out.error('pairing cancelled');
        return EXIT.cancelled;
      }
      throw err;
    } finally {
      await session.close();
    }
  },
};
