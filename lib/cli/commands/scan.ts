/** `atvlink scan`: find devices once, by multicast or unicast DNS-SD, and list them. */
import { DEFAULT_SCAN_TIMEOUT, scan } from '../../discovery/scan';
import { PROTOCOL_OPTION, SCAN_OPTIONS, protocolOption } from '../connection';
import { unlessAborted, type CliCommand } from '../context';
import { EXIT } from '../exit-codes';
import { deviceTable, printableDevice } from '../format';

export const scanCommand: CliCommand = {
  name: 'scan',
  summary: 'find Apple TVs, HomePods and music servers (multicast, or unicast to --hosts)',
  positionals: [],
  options: [
    {
      heading: 'Scan',
      specs: [
        ...SCAN_OPTIONS,
        { name: 'timeout', type: 'number', metavar: 'S', min: 0.1, help: `seconds to listen (default ${DEFAULT_SCAN_TIMEOUT / 1000})` },
        { ...PROTOCOL_OPTION, help: 'only list services of this protocol' },
        { name: 'id', type: 'string', metavar: 'ID', help: 'stop as soon as this device answered, and list only it' },
        { name: 'json', type: 'boolean', help: 'print a JSON array of device configurations' },
      ],
    },
  ],
  details: () => [
    'With --json each device is a DeviceConfig (name, address, identifier, identifiers, deviceInfo, services, deepSleep);',
    'credentials that discovery finds (Home Sharing ids) are not printed. Devices answer unicast scans only from their own subnet.',
  ],
  examples: ['atvlink scan', 'atvlink scan --hosts 192.168.1.20,192.168.1.21 --json', 'atvlink scan --hosts 127.0.0.1 --mdns-port 5454'],
  async run(ctx) {
    const { args } = ctx;
    const protocol = protocolOption(args, 'scan');
    const seconds = args.number('timeout');
    const hosts = args.strings('hosts');
    const port = args.number('mdns-port');
    const iface = args.string('interface');
    const id = args.string('id');
    const found = await unlessAborted(
      scan({
        ...(seconds !== undefined ? { timeout: Math.round(seconds * 1000) } : {}),
        ...(hosts.length > 0 ? { hosts } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(iface !== undefined ? { interface: iface } : {}),
        ...(id !== undefined ? { identifier: id } : {}),
        ...(protocol !== undefined ? { protocols: [protocol] } : {}),
        ...(ctx.logger ? { logger: ctx.logger } : {}),
      }),
      ctx.signal,
    );
    const devices = found.map(printableDevice);
    if (ctx.out.json) {
      ctx.out.result(devices);
      return EXIT.ok;
    }
    if (devices.length === 0) {
      ctx.out.line(`no devices found${hosts.length > 0 ? ` at ${hosts.join(', ')}` : ''}`);
      return EXIT.ok;
    }
    for (const line of deviceTable(devices)) ctx.out.line(line);
    const first = devices.find((d) => d.identifier !== null);
    if (first) {
      const where = hosts.length > 0 ? ` --hosts ${hosts.join(',')}${port !== undefined ? ` --mdns-port ${port}` : ''}` : '';
      ctx.out.line('');
      ctx.out.line(`connect with e.g.: atvlink state --id ${first.identifier}${where} --credentials …`);
    }
    return EXIT.ok;
  },
};
