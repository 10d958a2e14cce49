/**
 * The pairing routes in a real Node-RED with adminAuth: a user who may only read cannot
 * pair; an admin pairs MRP with the simulator through the routes as the dialog does, saves,
 * and the deployed device uses the credentials the routes stored, which no answer, flow or
 * log line ever showed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Simulator } from '../../lib/simulator';
import { startNodeRed, type NodeRedRuntime } from './runtime';
import { mrpStats, startMrpSimulator, until, type FlowNode } from './support';
import { credentialFlags } from '../support/node-types';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require('bcryptjs') as { hashSync(text: string, rounds: number): string };

describe('pairing routes: write permission, credentials stored server-side', () => {
  let sim: Simulator;
  let red: NodeRedRuntime;
  const answers: string[] = [];
  const tokens: Record<string, string> = {};

  async function call(user: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await red.request(path, {
      method,
      headers: { Authorization: `Bearer ${tokens[user]}`, 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    answers.push(text);
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      json = { text };
    }
    return { status: res.status, json };
  }

  before(async () => {
    sim = await startMrpSimulator({ name: 'Route TV' });
    const hash = bcrypt.hashSync('secret-password', 4);
    red = await startNodeRed({
      settings: {
        adminAuth: {
          type: 'credentials',
          users: [
            { username: 'admin', password: hash, permissions: '*' },
            { username: 'viewer', password: hash, permissions: 'read' },
          ],
        },
      },
    });
    for (const user of ['admin', 'viewer']) {
      const res = await red.request('auth/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: user === 'admin' ? '*' : 'read', username: user, password: 'secret-password' }),
      });
      tokens[user] = ((await res.json()) as { access_token: string }).access_token;
    }
  });

  after(async () => {
    await red?.stop();
    await sim?.stop();
  });

  const form = () => ({ node: 'route-dev', protocol: 'mrp', host: '127.0.0.1', mrpPort: String(sim.mrpPort) });

  it('refuses a user who may only read, and anyone without a token', async () => {
    // Node-RED answers 401 for a missing permission as for a missing token.
    assert.equal((await call('viewer', 'POST', 'atvlink/pairings', form())).status, 401);
    assert.equal((await call('viewer', 'GET', 'atvlink/commands')).status, 200, 'while reading is allowed');
    assert.equal((await red.request('atvlink/pairings', { method: 'POST' })).status, 401);
    assert.equal((await call('viewer', 'POST', 'atvlink/pairings/commit', { node: 'route-dev', ids: [] })).status, 401);
    assert.equal(mrpStats(sim).pairings, 0);
  });

  it('pairs, commits into the config node credentials, and the deployed device uses them', async () => {
    const started = await call('admin', 'POST', 'atvlink/pairings', form());
    assert.equal(started.status, 201, JSON.stringify(started.json));
    const id = String(started.json.id);
    let phase = '';
    for (let i = 0; i < 50 && phase !== 'waiting-for-pin'; i++) {
      phase = String((await call('admin', 'GET', `atvlink/pairings/${id}?node=route-dev`)).json.phase);
      if (phase !== 'waiting-for-pin') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(phase, 'waiting-for-pin');
    assert.equal((await call('admin', 'POST', `atvlink/pairings/${id}/pin`, { node: 'route-dev', pin: sim.pin })).status, 200);
    for (let i = 0; i < 100 && phase !== 'paired'; i++) {
      phase = String((await call('admin', 'GET', `atvlink/pairings/${id}?node=route-dev`)).json.phase);
      if (phase !== 'paired') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(phase, 'paired');
    assert.equal(mrpStats(sim).pairings, 1);
    const committed = await call('admin', 'POST', 'atvlink/pairings/commit', { node: 'route-dev', ids: [id] });
    assert.deepEqual(committed.json, { committed: ['mrp'] });

    // The dialog's Deploy sends the device without its credentials: the stored ones count.
    const flows: FlowNode[] = [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'route-dev', type: 'atvlink-device', name: 'Route TV', host: '127.0.0.1', mrpPort: String(sim.mrpPort), paired: { mrp: new Date().toISOString() } },
      { id: 'route-cmd', type: 'atvlink-command', z: 't1', device: 'route-dev', command: 'next', wires: [] },
    ];
    const deployed = await red.request('flows', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokens.admin}`, 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows }),
    });
    assert.equal(deployed.status, 200, await deployed.text());
    await until(() => mrpStats(sim).verifiedSessions === 1, 'the deployed device to verify with the stored credentials', 10_000);
    assert.deepEqual((await call('admin', 'GET', 'credentials/atvlink-device/route-dev')).json, credentialFlags('mrp'));
  });

  it('never answers, stores in the flow or logs a credential', async () => {
    await call('admin', 'GET', 'flows');
    // (A flows "rev" is a SHA-256 of the flows, not a key.)
    const everything = [...answers, red.output.join('')].join('\n').replace(/"rev":"[0-9a-f]{64}"/g, '');
    assert.doesNotMatch(everything, /[0-9a-f]{64}/i, 'no HAP key (64 hex digits) anywhere');
  });
});
