/**
 * `atvlink play URL`: plays a media URL (or a local file, served for the device) over
 * AirPlay and stays until playback ends; Ctrl-C stops it (the device stops when we go).
 */
import { UsageError, type OptionSpec } from '../args';
import { CONNECTION_OPTIONS, withDevice } from '../connection';
import { type CliCommand } from '../context';
import { EXIT } from '../exit-codes';

const playOptions: readonly OptionSpec[] = [
  { name: 'position', type: 'number', metavar: 'S', min: 0, help: 'start this many seconds in (default 0)' },
  { name: 'json', type: 'boolean', help: 'machine output: {"url":…,"event":"playing"|"ended"} lines on stdout' },
];

export const playCommand: CliCommand = {
  name: 'play',
  summary: 'play a media URL or a local file on the device (AirPlay)',
  positionals: [{ name: 'URL', help: 'an http(s) URL, or the path of a local file' }],
  options: [
    { heading: 'Playback', specs: playOptions },
    { heading: 'Connection', specs: CONNECTION_OPTIONS },
  ],
  details: () => [
    'The device fetches the URL itself; a local file is served to it by a temporary web server on the address',
    'that reaches the device, for as long as it plays. The command returns when playback ends (or the device',
    'could not play it); Ctrl-C stops playback. Apple TVs on tvOS 15 and later need AirPlay credentials',
    '(`atvlink pair --protocol airplay`); older Apple TVs play without pairing.',
  ],
  examples: ['atvlink play https://example.com/movie.mp4 --host 192.168.1.20 --port 7000 --protocol airplay', 'atvlink play ./holiday.mp4 --id 00:11:22:33:44:55 --position 30'],
  async run(ctx) {
    const url = ctx.args.positionals[0];
    if (url === undefined || url.trim() === '') throw new UsageError('what to play? give a URL or a file', 'play', 'e.g. atvlink play https://example.com/movie.mp4 …');
    const position = ctx.args.number('position');
    ctx.failure.action = 'play';
    return withDevice(ctx, 'play', async (device) => {
      const report = (event: 'playing' | 'ended') => {
        if (ctx.out.json) ctx.out.result({ url, event });
        else ctx.out.line(event === 'playing' ? `playing ${url} (Ctrl-C stops it)` : 'playback ended');
      };
      report('playing');
      await device.playUrl(url, { ...(position !== undefined && { position }), signal: ctx.signal });
      report('ended');
      return EXIT.ok;
    });
  },
};
