/**
 * Human-readable renderings for the terminal. Labels come from the library's field and table
 * names (camelCase split into words), never retyped; `--json` output bypasses all of this.
 */
import type { DeviceConfig } from '../device/interfaces';
import { NOW_PLAYING_FIELDS, type NowPlaying, type NowPlayingField } from '../device/state';

/** `deviceState` → `Device state`. */
export function labelOf(name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Seconds as `m:ss` (or `h:mm:ss`). */
export function clock(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

function fieldText(state: NowPlaying, field: NowPlayingField): string | null {
  const value = state[field];
  if (value === null) return null;
  switch (field) {
    case 'position':
    case 'totalTime':
      return `${clock(value as number)} (${value} s)`;
    case 'app': {
      const app = state.app!;
      if (app.name === null && app.bundleId === null) return null;
      return app.bundleId === null ? String(app.name) : app.name === null ? app.bundleId : `${app.name} (${app.bundleId})`;
    }
    default:
      return String(value);
  }
}

/** The now-playing state as aligned `Label: value` lines (unknown fields left out). */
export function nowPlayingLines(state: NowPlaying): string[] {
  const rows = NOW_PLAYING_FIELDS.map((f) => [labelOf(f), fieldText(state, f)] as const).filter(
    (r): r is readonly [string, string] => r[1] !== null,
  );
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${value}`);
}

/** The now-playing state on one line, for `watch`. */
export function nowPlayingSummary(state: NowPlaying, at: Date = new Date()): string {
  const parts: string[] = [state.deviceState];
  const what = [state.title, state.artist, state.album].filter((v) => v !== null).join(' — ');
  if (what !== '') parts.push(what);
  if (state.position !== null) parts.push(state.totalTime !== null ? `${clock(state.position)}/${clock(state.totalTime)}` : clock(state.position));
  if (state.shuffle !== null) parts.push(`shuffle ${state.shuffle}`);
  if (state.repeat !== null) parts.push(`repeat ${state.repeat}`);
  if (state.app?.name) parts.push(`app ${state.app.name}`);
  return `${at.toTimeString().slice(0, 8)}  ${parts.join('  ·  ')}`;
}

/** Columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [render(header), ...rows.map(render)];
}

export function serviceText(config: DeviceConfig): string {
  const texts = config.services.map((s) => {
      const notes = [s.enabled ? null : `disabled: ${s.disabledReason ?? 'unusable'}`, s.pairing === 'not-needed' ? null : `pairing ${s.pairing}`].filter(
        (n) => n !== null,
      );
      return `${s.protocol}:${s.port}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
  });
  // A DMAP device advertises several service types on one port: list it once.
  return [...new Set(texts)].join(', ');
}

/** The scan result as a table. */
export function deviceTable(devices: readonly DeviceConfig[]): string[] {
  return table(
    ['NAME', 'ADDRESS', 'IDENTIFIER', 'MODEL', 'SERVICES'],
    devices.map((d) => [
      d.deepSleep ? `${d.name} (asleep)` : d.name,
      d.address,
      d.identifier ?? '-',
      d.deviceInfo.model ?? d.deviceInfo.rawModel ?? '-',
      serviceText(d),
    ]),
  );
}

/**
 * A device configuration fit to print: the credentials discovery found (Home Sharing ids)
 * become null, and TXT values carrying them are left out. Same shape as `DeviceConfig`.
 */
export function printableDevice(config: DeviceConfig): DeviceConfig {
  const secrets = new Set(config.services.map((s) => s.credentials).filter((c): c is string => c !== null));
  return {
    ...config,
    identifiers: [...config.identifiers],
    deviceInfo: { ...config.deviceInfo },
    services: config.services.map((s) => ({
      ...s,
      credentials: null,
      properties: Object.fromEntries(Object.entries(s.properties).filter(([, v]) => !secrets.has(v))),
    })),
  };
}
