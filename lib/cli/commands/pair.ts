/**
 * `atvlink pair`: runs one `PairingSession` and prints the credentials it yields — the only
 * place the CLI ever prints a credential. The flow follows the session's contract: where we
 * choose the PIN (DMAP) we show it and the user types it on the device; where the device shows
 * one, it is read from `--pin` or stdin.
 */
import type { PairingSession } from '../../device/interfaces';
import { PAIRING_FACTORIES, pair, type PairOptions } from '../../device/pairing';
import { PairingError } from '../../errors';
import { DMAP_PAIRING_TIMEOUT, DmapPairing } from '../../protocols/dmap/pairing';
import { UsageError, type OptionSpec } from '../args';
import { CONNECTION_OPTIONS, credentialsEnv, DEFAULT_PROTOCOL, protocolOption, resolveTarget, targetGiven } from '../connection';
import { CancelledError, readLines, unlessAborted, type CliCommand, type CommandContext } from '../context';
import { EXIT } from '../exit-codes';

/** The name a device lists us under unless `--name` says otherwise. */
export const CLI_REMOTE_NAME = 'atvlink';

const pairable = (): string => Object.keys(PAIRING_FACTORIES).join(', ');

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
    help: 'DMAP: the PIN you will type on the device (default: random). Where the device shows the PIN: that PIN (default: asked on stdin)',
  },
  { name: 'name', type: 'string', metavar: 'NAME', help: `the name the device lists us under (default "${CLI_REMOTE_NAME}")` },
  { name: 'interface', type: 'string', metavar: 'ADDR', help: 'IPv4 address to serve and announce on (DMAP; default: every private address)' },
  { name: 'timeout', type: 'number', metavar: 'S', min: 1, help: `seconds to wait for the device (DMAP default ${DMAP_PAIRING_TIMEOUT / 1000})` },
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

async function askPin(ctx: CommandContext): Promise<string> {
  const stdin = ctx.io.stdin;
  if (!stdin) throw new UsageError('the device shows a PIN: give it with --pin NNNN', 'pair');
  ctx.out.info('Type the PIN the device shows, then Enter:');
  let pin: string | null = null;
  const reader = readLines(stdin, ctx.signal, (line) => {
    if (pin === null && line.trim() !== '') {
      pin = line.trim();
      reader.stop();
    }
  });
  const why = await reader.done;
  if (why === 'aborted') throw new CancelledError();
  if (pin === null) throw new PairingError('no PIN was typed (stdin ended); run again, or give --pin NNNN');
  return pin;
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
    'Where the device shows the PIN instead (MRP), name the device (--host/--port or --id) and type the PIN it',
    'shows when asked (or pass --pin).',
    `Exit code ${EXIT.pairing} when pairing fails or times out, ${EXIT.cancelled} when cancelled with Ctrl-C.`,
  ],
  examples: ['atvlink pair --protocol dmap', 'atvlink pair --protocol dmap --pin 1234 --name "Living room remote" --interface 192.168.1.10'],
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
    const config = targetGiven(args) ? (await resolveTarget(ctx, 'pair')).config : undefined;
    const name = args.string('name') ?? CLI_REMOTE_NAME;
    const pinOption = args.string('pin');
    const iface = args.string('interface');
    const seconds = args.number('timeout');
    const timeout = seconds === undefined ? undefined : Math.round(seconds * 1000);
    const options: PairOptions = {
      name,
      ...(config ? { config } : {}),
      ...(pinOption !== undefined ? { pin: pinOption } : {}),
      ...(iface !== undefined ? { interface: iface } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
      ...(ctx.logger ? { logger: ctx.logger } : {}),
    };
    // pair() has no say in how DMAP announces; these two options need the class itself.
    const session: PairingSession = announce
      ? new DmapPairing({
          ...options,
          advertiser: {
            multicast: multicast ?? true,
            ...(announcePort !== undefined ? { unicast: { host: iface ?? '0.0.0.0', port: announcePort } } : {}),
          },
        })
      : pair(protocol, options);
    try {
      await unlessAborted(session.begin(), ctx.signal);
      const waitMs = timeout ?? (protocol === 'dmap' ? DMAP_PAIRING_TIMEOUT : undefined);
      const wait = waitMs === undefined ? '' : `waiting up to ${Math.round(waitMs / 1000)} s; `;
      out.info(`Pairing over ${protocol.toUpperCase()} as "${name}" (${wait}Ctrl-C cancels).`);
      if (session instanceof DmapPairing) {
        const unicast = session.serviceAdvertiser?.unicastPort;
        if (unicast != null) out.info(`Answering DNS-SD queries on udp ${iface ?? '0.0.0.0'}:${unicast}`);
      }
      if (session.deviceProvidesPin) {
        session.setPin(pinOption ?? (await askPin(ctx)));
      } else {
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
