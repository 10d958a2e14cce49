import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { NowPlaying } from '../../../../lib/device/state';
import { DacpClient } from '../../../../lib/protocols/dmap/client';
import { DmapPushUpdater } from '../../../../lib/protocols/dmap/push';
import { closedPort, loginBody, pathOf, playstatusBody, query, replyDmap, startFakeDacp, startServer } from './servers';
import { sleep, until } from '../../../support/wait';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});



function updater(port: number, options: ConstructorParameters<typeof DmapPushUpdater>[1] = {}): { client: DacpClient; push: DmapPushUpdater } {
  const client = new DacpClient({ host: '127.0.0.1', port, credentials: '0x0123456789ABCDEF' });
  const push = new DmapPushUpdater(client, options);
  cleanups.push(async () => {
    await push.stop();
    await client.close();
  });
  return { client, push };
}

function nextEvent<T extends unknown[]>(emitter: DmapPushUpdater, event: 'update' | 'connectionLost' | 'pushError', ms = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, ((...args: T) => {
      clearTimeout(timer);
      resolve(args);
    }) as never);
  });
}

describe('DMAP push updates (playstatus long poll)', () => {
  it('starts at revision 0, then long-polls with the last cmsr, which really blocks until a change', async () => {
    const fake = await startFakeDacp({ revision: 7, title: 'First' });
    cleanups.push(() => fake.srv.close());
    const { push } = updater(fake.srv.port);
    const updates: NowPlaying[] = [];
    push.on('update', (s) => updates.push(s));
    push.start();
    push.start(); // idempotent
    while (fake.waiting() === 0) await sleep(5);
    assert.deepEqual(updates.map((u) => u.title), ['First']);
    await sleep(300);
    assert.equal(fake.waiting(), 1, 'the poll is still held open');
    assert.equal(updates.length, 1, 'nothing emitted while the device is quiet');

    const got = nextEvent<[NowPlaying]>(push, 'update');
    fake.change({ title: 'Second', caps: 3 });
    const [state] = await got;
    assert.equal(state.title, 'Second');
    assert.equal(state.deviceState, 'paused');
    const polls = fake.srv.requests.filter((r) => pathOf(r.url) === '/ctrl-int/1/playstatusupdate').map((r) => query(r.url).get('revision-number'));
    while (fake.waiting() === 0) await sleep(5);
    assert.deepEqual(fake.srv.requests.filter((r) => pathOf(r.url) === '/ctrl-int/1/playstatusupdate').map((r) => query(r.url).get('revision-number')), [...polls, '8']);
    assert.deepEqual(polls, ['0', '7']);

    await push.stop();
    assert.equal(push.active, false);
    await fake.srv.socketsClosed();
  });

  it('a server answering at once with the same revision does not make us spin', async () => {
    const fake = await startFakeDacp({ revision: 3 });
    fake.blocking = false;
    cleanups.push(() => fake.srv.close());
    const { push } = updater(fake.srv.port, { initialDelay: 100, maxDelay: 400 });
    let updates = 0;
    push.on('update', () => updates++);
    push.start();
    await sleep(1000);
    const polls = fake.srv.requests.filter((r) => pathOf(r.url) === '/ctrl-int/1/playstatusupdate').length;
    // 0, 100, +200, +400, +400 ms … at most ~5 in a second; a spinning loop makes thousands.
    assert.ok(polls >= 2 && polls <= 7, `${polls} polls in 1 s`);
    assert.equal(updates, 1, 'the unchanged state is emitted once');
    await push.stop();
    const after = fake.srv.requests.length;
    await sleep(500);
    assert.equal(fake.srv.requests.length, after, 'stop() leaves no timer behind');
  });

  it('back-off resets after a real change', async () => {
    const fake = await startFakeDacp({ revision: 3 });
    fake.blocking = false;
    cleanups.push(() => fake.srv.close());
    const { push } = updater(fake.srv.port, { initialDelay: 50, maxDelay: 2000 });
    push.start();
    await sleep(900); // delays grow: 50, 100, 200, 400, (800 pending)
    const got = nextEvent<[NowPlaying]>(push, 'update');
    fake.change({ title: 'Changed' });
    const started = Date.now();
    await got;
    const gotAfter = Date.now() - started;
    assert.ok(gotAfter < 1500, `change seen after ${gotAfter} ms`);
    const count = fake.srv.requests.length;
    await sleep(120);
    assert.ok(fake.srv.requests.length > count, 'polls again quickly after the change (delay reset)');
  });

  it('connection refused → connectionLost, and the updater stops', async () => {
    const { push } = updater(await closedPort());
    const lost = nextEvent<[Error]>(push, 'connectionLost');
    push.start();
    const [err] = await lost;
    assert.equal((err as { code?: string }).code, 'UNREACHABLE');
    await sleep(20);
    assert.equal(push.active, false);
  });

  it('a reset mid-poll → connectionLost', async () => {
    const srv = await startServer((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(1));
      if (query(req.url).get('revision-number') === '0') return replyDmap(res, playstatusBody({ revision: 2, caps: 4 }));
      setTimeout(() => res.socket?.destroy(), 30);
    });
    cleanups.push(() => srv.close());
    const { push } = updater(srv.port);
    const lost = nextEvent<[Error]>(push, 'connectionLost');
    push.start();
    const [err] = await lost;
    assert.equal((err as { code?: string }).code, 'CONNECTION_LOST');
  });

  it('other errors → pushError, revision reset to 0, retried with back-off', async () => {
    let polls = 0;
    const srv = await startServer((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(1));
      polls++;
      if (polls === 1) return replyDmap(res, playstatusBody({ revision: 5, caps: 4 }));
      if (polls === 2) return replyDmap(res, Buffer.from('cmst\0\0\0\x50garbage'));
      return replyDmap(res, playstatusBody({ revision: 6, caps: 3 }));
    });
    cleanups.push(() => srv.close());
    const { push } = updater(srv.port, { initialDelay: 50 });
    const errors: Error[] = [];
    push.on('pushError', (e) => errors.push(e));
    const states: string[] = [];
    push.on('update', (s) => states.push(s.deviceState));
    push.start();
    while (states.length < 2) await sleep(10);
    await push.stop();
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as { code?: string }).code, 'PROTOCOL');
    const revisions = srv.requests.filter((r) => pathOf(r.url) !== '/login').map((r) => query(r.url).get('revision-number'));
    assert.deepEqual(revisions.slice(0, 3), ['0', '5', '0']);
    assert.deepEqual(states, ['playing', 'paused']);
  });

  it("a throwing listener is logged and is no failed poll: the loop goes on from the last revision", async () => {
    let polls = 0;
    const srv = await startServer((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(1));
      polls++;
      if (polls === 1) return replyDmap(res, playstatusBody({ revision: 5, caps: 4 }));
      if (polls === 2) return replyDmap(res, playstatusBody({ revision: 6, caps: 3 }));
      if (polls === 3) return replyDmap(res, Buffer.from('cmst\0\0\0\x50garbage'));
      return replyDmap(res, playstatusBody({ revision: 7, caps: 4 }));
    });
    cleanups.push(() => srv.close());
    const warnings: string[] = [];
    const { push } = updater(srv.port, { initialDelay: 20, logger: { debug() {}, warn: (m) => warnings.push(m) } });
    push.on('update', () => {
      throw new Error('bug in an update listener');
    });
    const states: string[] = [];
    push.on('update', (s) => states.push(s.deviceState));
    push.on('pushError', () => {
      throw new Error('bug in a pushError listener');
    });
    const errors: Error[] = [];
    push.on('pushError', (e) => errors.push(e));
    push.start();
    await until(() => states.length >= 3);
    await push.stop();
    assert.deepEqual(states, ['playing', 'paused', 'playing']);
    assert.equal(errors.length, 1, 'only the garbage answer is a failed poll');
    assert.equal((errors[0] as { code?: string }).code, 'PROTOCOL');
    const revisions = srv.requests.filter((r) => pathOf(r.url) !== '/login').map((r) => query(r.url).get('revision-number'));
    assert.deepEqual(revisions.slice(0, 4), ['0', '5', '6', '0']);
    assert.deepEqual(warnings, [
      'a "update" listener threw: bug in an update listener',
      'a "update" listener threw: bug in an update listener',
      'a "pushError" listener threw: bug in a pushError listener',
      'a "update" listener threw: bug in an update listener',
    ]);
  });
});
