/**
 * `atvlink simulate`: the Simulator in the foreground, for trying the CLI, the library and
 * the Node-RED nodes without an Apple TV. It prints how to reach it, then reads stdin lines:
 * a 4-digit PIN plays the device side of pairing (as if typed on the TV), a command name acts
 * on the player. Ctrl-C, SIGTERM or the end of stdin stop it cleanly.
 */
import { COMMANDS, findCommand } from '../../device/commands';
import { PROPERTIES } from '../../device/properties';
import { DEMO_DMAP_CREDENTIALS, pairingRecordId, showsPairingPin, SIMULATED_DEVICES, SIMULATED_PROTOCOLS, Simulator, type SimulatedDevice, type SimulatedProtocol, type SimulatorOptions } from '../../simulator';
import { protocolDescriptor } from '../../protocols/table';
import { UsageError, type OptionSpec } from '../args';
import { aborted, readLines, type CliCommand, type CommandContext } from '../context';
import { EXIT } from '../exit-codes';
import { nowPlayingSummary } from '../format';

/** Credentials anyone may use with the simulator, printed in its banner (nothing secret). */
const DEMO_CREDENTIALS: Partial<Record<SimulatedProtocol, string>> = { dmap: DEMO_DMAP_CREDENTIALS };

/** What to try first once paired: Companion has no now-playing state, its apps show it works. */
const FIRST_COMMAND: Partial<Record<SimulatedProtocol, string>> = { companion: 'apps' };

/** A device's pairing record → the remote's pairing id, as text when it is printable (a UUID). */
function pairedRemoteId(record: string): string {
  const idHex = pairingRecordId(record) ?? '';
  const text = /^([0-9a-f]{2})+$/i.test(idHex) ? Buffer.from(idHex, 'hex').toString('latin1') : '';
  return /^[\x21-\x7e]+$/.test(text) ? text : idHex;
}

const portOption = (protocol: SimulatedProtocol): OptionSpec => ({
  name: `${protocol}-port`,
  type: 'integer',
  metavar: 'N',
  min: 0,
  max: 65535,
  help: `TCP port of the ${protocol.toUpperCase()} server (default 0: any free port, printed)`,
});

const simulatorOptions: readonly OptionSpec[] = [
  { name: 'protocols', type: 'list', metavar: 'P,Q', help: `protocols to serve (${SIMULATED_PROTOCOLS.join(', ')}; default ${SIMULATED_PROTOCOLS[0]})` },
  { name: 'name', type: 'string', metavar: 'NAME', help: 'device name (default "Simulated Apple TV")' },
  {
    name: 'device',
    type: 'string',
    metavar: 'D',
    help: `the device played: ${SIMULATED_DEVICES.join(' or ')} (default appletv: tvOS 18 with airplay, tvOS 14 without; homepod: AirPlay only, no pairing)`,
  },
  { name: 'host', type: 'string', metavar: 'ADDR', help: 'address to serve on (default 127.0.0.1; 0.0.0.0 = reachable from the network)' },
  ...SIMULATED_PROTOCOLS.map(portOption),
  { name: 'mdns-port', type: 'integer', metavar: 'N', min: 0, max: 65535, help: 'also answer unicast DNS-SD queries on this UDP port (0 = any free port)' },
  { name: 'multicast', type: 'boolean', negatable: true, help: 'advertise by multicast DNS (default on; --no-multicast turns it off)' },
  { name: 'interface', type: 'string', metavar: 'ADDR', help: 'IPv4 address of the interface to multicast on (default: all)' },
  { name: 'accept-credentials', type: 'string', metavar: 'C', repeatable: true, help: 'also accept this DMAP pairing GUID (0x + 16 hex digits)' },
  {
    name: 'pin',
    type: 'string',
    metavar: 'NNNN',
    help: 'MRP, AirPlay and Companion: the PIN the TV shows when a remote pairs (default: random, printed here when a remote starts pairing)',
  },
  { name: 'home-sharing', type: 'boolean', negatable: true, help: 'advertise the demo Home Sharing id, so no pairing is needed (default on)' },
  { name: 'track-seconds', type: 'number', metavar: 'S', min: 0.1, help: 'give every track this length' },
  { name: 'autoplay', type: 'boolean', help: 'start playing at once (default: first track loaded, paused)' },
];

const pairingOptions: readonly OptionSpec[] = [
  { name: 'pair-host', type: 'list', metavar: 'A,B', help: 'find the remote by unicast DNS-SD at these hosts (default: multicast, or 127.0.0.1 with --no-multicast)' },
  { name: 'pair-mdns-port', type: 'integer', metavar: 'N', min: 1, max: 65535, help: "UDP port of the remote's DNS-SD answers (`pair --announce-port`; default 5353)" },
  { name: 'pair-name', type: 'string', metavar: 'NAME', help: 'pair with the remote of this name (default: the first one found)' },
  { name: 'pair-timeout', type: 'number', metavar: 'S', min: 0.1, help: 'seconds to look for the remote, and again for its answer (default 10)' },
  { name: 'stdin', type: 'boolean', negatable: true, help: 'read PINs and commands from stdin (default on; --no-stdin runs until Ctrl-C)' },
];

function simulatedProtocols(values: string[]): SimulatedProtocol[] {
  const known = SIMULATED_PROTOCOLS as readonly string[];
  return values.map((v) => {
    const p = v.toLowerCase();
    if (!known.includes(p)) throw new UsageError(`the simulator cannot serve ${JSON.stringify(v)}`, 'simulate', `it serves ${SIMULATED_PROTOCOLS.join(', ')}`);
    return p as SimulatedProtocol;
  });
}

/** Ready-to-paste command lines that reach the running simulator. */
function connectLines(sim: Simulator, multicast: boolean): string[] {
  const config = sim.config();
  const lines: string[] = [];
  const toPair: string[] = [];
  const seen = new Set<string>();
  for (const service of config.services) {
    // A DMAP device advertises several service types on one port.
    const key = `${service.protocol}:${service.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const at = `--host ${config.address} --port ${service.port} --protocol ${service.protocol}`;
    const demo = DEMO_CREDENTIALS[service.protocol as SimulatedProtocol];
    if (demo) lines.push(`  atvlink state ${at} --credentials ${demo}`);
    else if (!service.enabled) continue;
    else if (service.protocol === 'airplay' && sim.pin === null) {
      // A HomePod pairs transiently on every connection: nothing to pair, nothing to pass.
      lines.push(`  atvlink state ${at}`);
    } else {
      // No credentials anyone may use: the remote pairs first, and this terminal shows the PIN.
      toPair.push(
        `${service.protocol.toUpperCase()}: pair first (the PIN appears here), then add --credentials ${service.protocol}=C with what pair printed:`,
        `  atvlink pair --protocol ${service.protocol} --host ${config.address} --port ${service.port}`,
        `  atvlink ${FIRST_COMMAND[service.protocol as SimulatedProtocol] ?? 'state'} ${at}`,
      );
    }
  }
  // By id the device may be reached over several protocols: say whose credentials these are.
  const credentials = config.services
    .map((s) => s.protocol)
    .filter((p, i, all) => all.indexOf(p) === i && DEMO_CREDENTIALS[p as SimulatedProtocol] !== undefined)
    .map((p) => ` --credentials ${p}=${DEMO_CREDENTIALS[p as SimulatedProtocol]}`)
    .join('');
  if (sim.mdnsPort !== null) lines.push(`  atvlink state --id ${config.identifier} --hosts ${config.address} --mdns-port ${sim.mdnsPort}${credentials}`);
  if (multicast) lines.push(`  atvlink state --id ${config.identifier}${credentials}`);
  return [...lines, ...toPair];
}

function stdinHelp(sim: Simulator): string[] {
  const lines = [
    'Type here, then Enter:',
    '  a 4-digit PIN      pair with the DMAP remote showing it (run `atvlink pair --protocol dmap` elsewhere)',
    `  a command name     act on the player as if pressed on the device (${COMMANDS.slice(0, 6).map((c) => c.name).join(', ')}, ...)`,
    `  PROPERTY VALUE     set ${Object.keys(PROPERTIES).join(', ')} (e.g. "volume 30")`,
    '  state              print what is playing',
    '  focus [TEXT]       put the focus on a text field holding TEXT (unfocus takes it away)',
    '  launch ID_OR_URL   launch an app, or open a URL, as if chosen on the device',
    'Ctrl-C (or the end of input) stops the simulator.',
  ];
  if (!sim.protocols.includes('dmap')) lines.splice(1, 1);
  return lines;
}

function handleLine(ctx: CommandContext, sim: Simulator, line: string, pairing: (pin: string) => void): void {
  const text = line.trim();
  if (text === '') return;
  const { out } = ctx;
  if (/^\d{4}$/.test(text)) {
    // A PIN typed here is the DMAP flow (the TV side types it); MRP's, AirPlay's and Companion's are entered at the remote.
    if (sim.protocols.includes('dmap')) pairing(text);
    else out.error('MRP, AirPlay and Companion pairing: enter the PIN in the terminal running `atvlink pair`, not here');
    return;
  }
  const focus = /^focus(?:\s+(.*))?$/.exec(text);
  if (focus) {
    sim.state.focusTextField(focus[1] ?? '');
    out.line(`text field focused: ${JSON.stringify(sim.state.text)}`);
    return;
  }
  if (text === 'unfocus') {
    sim.state.unfocusTextField();
    out.line('text field unfocused');
    return;
  }
  const launch = /^launch\s+(\S+)$/.exec(text);
  if (launch) {
    try {
      sim.state.launchApp(launch[1]!);
      out.line(sim.state.openedUrl === launch[1] ? `opened ${launch[1]}` : `app: ${sim.state.app?.name ?? '?'}`);
    } catch (err) {
      out.error((err as Error).message);
    }
    return;
  }
  if (text === 'state' || text === 'status') {
    out.line(nowPlayingSummary(sim.state.nowPlaying()));
    return;
  }
  if (text === 'help' || text === '?') {
    for (const l of stdinHelp(sim)) out.line(l);
    return;
  }
  const [word, value, ...rest] = text.split(/\s+/);
  try {
    if (value !== undefined && rest.length === 0 && Object.prototype.hasOwnProperty.call(PROPERTIES, word!)) {
      const name = word as keyof typeof PROPERTIES;
      sim.state.setProperty(name, PROPERTIES[name].parse(value));
      out.line(`${name}: ${String(sim.state.getProperty(name))}`);
      return;
    }
    const spec = value === undefined ? findCommand(word!) : undefined;
    if (spec) {
      sim.state.command(spec.name);
      out.line(nowPlayingSummary(sim.state.nowPlaying()));
      return;
    }
    out.error(`not understood: ${JSON.stringify(text.slice(0, 40))} (type "help")`);
  } catch (err) {
    out.error(`${(err as Error).message}`);
  }
}

export const simulateCommand: CliCommand = {
  name: 'simulate',
  summary: 'run a simulated Apple TV (for trying things without a device)',
  positionals: [],
  options: [
    { heading: 'Simulator', specs: simulatorOptions },
    { heading: 'Pairing and input', specs: pairingOptions },
  ],
  details: () => [
    'Multicast DNS is on by default so other programs on the network find it; use --no-multicast and',
    '--mdns-port N to keep it to unicast. DMAP pairing: start `atvlink pair --protocol dmap` in a second',
    'terminal, then type the PIN it shows here; the accepted credentials are printed on both sides.',
    'MRP and Companion pairing (--protocols dmap,mrp,companion): run `atvlink pair --protocol mrp` (or companion)',
    'with --host … --port N in a second terminal; this terminal plays the TV screen and prints the PIN',
    '(--pin fixes it), which you enter there. pyatv pairs with it the same way (`atvremote --protocol companion pair`).',
    'With airplay (--protocols airplay) it plays a tvOS 18 Apple TV: pair with `atvlink pair --protocol airplay`, then',
    'MRP travels through the AirPlay tunnel (its direct MRP service, if served, is advertised as unusable, as on tvOS 15+).',
    '--device homepod plays a HomePod: AirPlay only, no pairing (transient), music only.',
  ],
  examples: [
    'atvlink simulate',
    'atvlink simulate --no-multicast --mdns-port 5454 --dmap-port 3689',
    'atvlink simulate --protocols dmap,mrp --mrp-port 49152 --pin 1234',
    'atvlink simulate --protocols airplay --airplay-port 7000 --pin 1234',
    'atvlink simulate --protocols airplay --device homepod',
    'atvlink simulate --protocols mrp,companion --companion-port 49153 --pin 1234',
    'atvlink simulate --host 0.0.0.0 --name "Den TV" --autoplay',
  ],
  async run(ctx) {
    const { args, out } = ctx;
    const multicast = args.boolean('multicast') ?? true;
    const protocols = args.has('protocols') ? simulatedProtocols(args.strings('protocols')) : undefined;
    const options: SimulatorOptions & Record<string, unknown> = {
      multicast,
      ...(protocols ? { protocols } : {}),
      ...(ctx.logger ? { logger: ctx.logger } : {}),
    };
    const set = (key: string, value: unknown): void => {
      if (value !== undefined) options[key] = value;
    };
    set('name', args.string('name'));
    const device = args.string('device');
    if (device !== undefined) {
      if (!(SIMULATED_DEVICES as readonly string[]).includes(device.toLowerCase())) {
        throw new UsageError(`the simulator cannot play ${JSON.stringify(device)}`, 'simulate', `it plays ${SIMULATED_DEVICES.join(' or ')}`);
      }
      set('device', device.toLowerCase() as SimulatedDevice);
    }
    set('host', args.string('host'));
    for (const p of SIMULATED_PROTOCOLS) set(`${p}Port`, args.number(`${p}-port`));
    set('mdnsPort', args.number('mdns-port'));
    set('interface', args.string('interface'));
    if (args.has('accept-credentials')) set('credentials', args.strings('accept-credentials'));
    const pin = args.string('pin');
    if (pin !== undefined) {
      if (!showsPairingPin(protocols ?? [], device?.toLowerCase() === 'homepod' ? 'homepod' : 'appletv')) {
        throw new UsageError('--pin is the MRP, AirPlay and Companion pairing PIN of an Apple TV: serve one of them, e.g. --protocols airplay,companion', 'simulate');
      }
      set('pin', pin);
    }
    set('homeSharing', args.boolean('home-sharing'));
    set('trackSeconds', args.number('track-seconds'));
    set('autoplay', args.boolean('autoplay'));
    const pairHosts = args.strings('pair-host');
    const pairPort = args.number('pair-mdns-port');
    const pairName = args.string('pair-name');
    const pairSeconds = args.number('pair-timeout');

    const sim = new Simulator(options);
    // This terminal is the TV's screen: a real TV shows the PIN when a remote starts pairing.
    sim.on('pin', (p) =>
      out.line(`${p.protocol.toUpperCase()} pairing PIN shown on the TV: ${p.pin}${p.remoteName ? ` (remote "${p.remoteName}" is pairing)` : ''}`),
    );
    sim.on('credentials', (c) => {
      const from = c.remoteName ? ` "${c.remoteName}"` : '';
      // The 'credentials' event of a protocol paired with a PIN the TV shows (HAP: MRP,
      // AirPlay, Companion) carries only the device's record of the remote (its pairing id and
      // public key): the usable credentials hold the remote's secret key and exist on its side
      // alone, so this line must not look like something to paste. DMAP's is the GUID the
      // remote logs in with.
      if (protocolDescriptor(c.protocol).pairing === 'device-shows-pin') {
        out.line(`paired remote${from} ${pairedRemoteId(c.credentials)} (${c.protocol.toUpperCase()}; its credentials are what \`atvlink pair\` printed)`);
      } else out.line(`accepted ${c.protocol} credentials ${c.credentials}${from ? ` from${from}` : ''}`);
    });
    let pairing: Promise<void> | null = null;
    const startPairing = (pin: string): void => {
      if (pairing) {
        out.error('a pairing is already running; wait for it to end');
        return;
      }
      out.line('looking for the remote ...');
      pairing = sim
        .pairWithRemote(pin, {
          ...(pairHosts.length > 0 ? { hosts: pairHosts } : {}),
          ...(pairPort !== undefined ? { mdnsPort: pairPort } : {}),
          ...(pairName !== undefined ? { remoteName: pairName } : {}),
          ...(pairSeconds !== undefined ? { timeout: Math.round(pairSeconds * 1000) } : {}),
        })
        .then(
          () => undefined,
          (err: Error) => {
            if (!ctx.signal.aborted) out.error(`pairing failed: ${err.message}`);
          },
        )
        .finally(() => {
          pairing = null;
        });
    };

    try {
      await sim.start();
      for (const line of sim.describe()) out.line(line);
      out.line('Connect with:');
      for (const line of connectLines(sim, multicast)) out.line(line);
      const reading = args.boolean('stdin') !== false && ctx.io.stdin ? ctx.io.stdin : null;
      if (reading) for (const line of stdinHelp(sim)) out.line(line);
      else out.line('Ctrl-C stops the simulator.');
      out.line('ready');
      if (reading) {
        const lines = readLines(reading, ctx.signal, (line) => handleLine(ctx, sim, line, startPairing));
        const why = await Promise.race([lines.done, aborted(ctx.signal).then(() => 'aborted' as const)]);
        lines.stop();
        // `echo 1234 | atvlink simulate …` pairs once, then ends: let that pairing finish.
        if (why === 'eof' && pairing) await Promise.race([pairing, aborted(ctx.signal)]);
      } else {
        await aborted(ctx.signal);
      }
    } finally {
      await sim.stop();
      await (pairing as Promise<void> | null);
    }
    out.line('simulator stopped');
    return EXIT.ok;
  },
};
