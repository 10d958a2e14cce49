// The demo's simulated TV screen: what a person would see on and do with the TV that
// `npm start` simulates, in a browser tab beside the editor. It shows what plays, the app
// in front, the volume and power, a search box to type into (Companion's keyboard), and the pairing PIN the TV shows when a remote (the editor's Pair
// button) asks for one; its Settings → Remotes form types a PIN on the "TV" for DMAP
// pairing, as on an Apple TV 3. Demo only: it is served by scripts/start.mjs, never by the
// package.

/** How long a PIN stays "on screen" after a remote asked (a TV closes the dialog too). */
const PIN_SHOWN_MS = 120_000;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Simulated TV</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { margin: 0; font: 15px system-ui, sans-serif; background: #111; color: #eee; }
  main { max-width: 760px; margin: 0 auto; padding: 24px; }
  .screen { display: flex; gap: 20px; align-items: center; background: #222; border-radius: 12px; padding: 20px; }
  .screen img { width: 160px; height: 160px; border-radius: 8px; background: #333; }
  h1 { font-size: 20px; margin: 0 0 12px; color: #aaa; font-weight: 400; }
  #title { font-size: 22px; font-weight: 600; }
  #artist, #album, #state, #app, #logins { color: #aaa; margin-top: 4px; }
  .pin { margin-top: 20px; background: #0a84ff; color: #fff; border-radius: 12px; padding: 16px 20px; font-size: 18px; }
  .pin b { font-size: 40px; letter-spacing: 10px; display: block; margin-top: 6px; }
  section { margin-top: 20px; background: #1b1b1b; border-radius: 12px; padding: 16px 20px; }
  label { display: block; color: #aaa; margin-bottom: 6px; }
  input[type=text] { font-size: 20px; width: 90px; letter-spacing: 6px; padding: 4px 8px; }
  button { font-size: 15px; padding: 6px 14px; margin-left: 6px; }
  #remote-result { margin-top: 8px; color: #9f9; } #remote-result.error { color: #f99; }
</style></head>
<body><main>
  <h1 id="name">Simulated TV</h1>
  <div class="screen">
    <img id="cover" alt="cover" src="">
    <div><div id="title">—</div><div id="artist"></div><div id="album"></div><div id="state"></div><div id="app"></div><div id="logins"></div></div>
  </div>
  <div class="pin" id="pin" hidden>Pairing with <span id="pin-remote">a remote</span> (<span id="pin-protocol"></span>). Type this PIN on the remote:<b id="pin-code"></b></div>
  <section>
    <label for="volume">Volume <span id="volume-value"></span> (the TV's own remote)</label>
    <input type="range" id="volume" min="0" max="100" step="1" style="width: 100%">
    <div style="margin-top: 10px"><button id="power-toggle">Power</button><button id="next">Next track</button><button id="search">Open a search box</button></div>
    <div id="search-field" hidden>Search: <b id="search-text"></b></div>
  </section>
  <section>
    <label for="remote-pin">Settings → Remotes (DMAP pairing): type the PIN the remote shows</label>
    <input type="text" id="remote-pin" maxlength="4" inputmode="numeric" autocomplete="off"><button id="remote-pair">OK</button>
    <div id="remote-result"></div>
  </section>
</main>
<script>
  const $ = (id) => document.getElementById(id);
  let dragging = false;
  let cover = '';
  async function post(path, body) {
    const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}) });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.error || res.statusText);
    return answer;
  }
  async function refresh() {
    try {
      const s = await (await fetch('state')).json();
      $('name').textContent = s.name + ' (simulated ' + s.model + ')';
      const np = s.nowPlaying;
      $('title').textContent = s.power === 'off' ? '(the TV is off)' : np.title || '—';
      $('artist').textContent = np.artist || '';
      $('album').textContent = np.album || '';
      $('state').textContent = np.deviceState + ' · power ' + s.power;
      $('app').textContent = s.app ? 'App: ' + s.app.name : '';
      const seen = Object.entries(s.logins).map(([p, n]) => p.toUpperCase() + ' ' + n);
      $('logins').textContent = seen.length ? 'Remotes logged in: ' + seen.join(' · ') : '';
      const art = 'artwork?track=' + encodeURIComponent(np.contentIdentifier || '');
      if (art !== cover) { cover = art; $('cover').src = art; }
      if (!dragging) $('volume').value = String(s.volume);
      $('volume-value').textContent = String(Math.round(s.volume));
      $('pin').hidden = !s.pin;
      if (s.pin) {
        $('pin-code').textContent = s.pin.pin;
        $('pin-protocol').textContent = s.pin.protocol.toUpperCase();
        $('pin-remote').textContent = s.pin.remoteName || 'a remote';
      }
      $('power-toggle').textContent = s.power === 'off' ? 'Turn on' : 'Turn off';
      $('search').textContent = s.search === null ? 'Open a search box' : 'Close the search box';
      $('search-field').hidden = s.search === null;
      $('search-text').textContent = s.search || '(empty: type into it from the keyboard node)';
    } catch (err) { /* the demo is stopping */ }
  }
  $('volume').addEventListener('input', () => { dragging = true; $('volume-value').textContent = $('volume').value; });
  $('volume').addEventListener('change', async () => { dragging = false; await post('volume', { level: Number($('volume').value) }); refresh(); });
  $('power-toggle').addEventListener('click', async () => { await post('power', {}); refresh(); });
  $('next').addEventListener('click', async () => { await post('next', {}); refresh(); });
  $('search').addEventListener('click', async () => { await post('search', {}); refresh(); });
  $('remote-pair').addEventListener('click', async () => {
    const result = $('remote-result');
    result.className = ''; result.textContent = 'Calling the remote…';
    try {
      const answer = await post('remote-pin', { pin: $('remote-pin').value });
      result.textContent = 'Paired with ' + (answer.remoteName || 'the remote') + '.';
    } catch (err) {
      result.className = 'error'; result.textContent = err.message;
    }
  });
  refresh();
  setInterval(refresh, 1000);
</script></body></html>`;

/**
 * Mounts the simulated TV on `app` (express) under /simulator. `announce` is where the
 * editor's DMAP pairing answers DNS-SD (the demo sets it in settings.js), so the "TV" finds
 * the remote to call, as an Apple TV finds it by multicast.
 */
export function mountSimulatedTv(app, express, sim, announce, { trackArtwork }) {
  let shown = null;
  // How often a remote logged in, per protocol (what the TV knows of who controls it).
  const logins = {};
  sim.on('login', (login) => (logins[login.protocol] = (logins[login.protocol] ?? 0) + 1));
  sim.on('pin', (request) => {
    shown = { protocol: request.protocol, pin: request.pin, remoteName: request.remoteName ?? null, at: Date.now() };
  });
  // A pairing that ended (paired, or refused) takes the PIN off the screen.
  sim.on('credentials', () => (shown = null));
  const router = express.Router();
  router.use(express.json({ limit: '4kb' }));
  // The page asks relative addresses (state, volume, ...): it must be at /simulator/.
  router.get('/', (req, res) => (req.originalUrl.split('?')[0].endsWith('/') ? res.type('html').send(PAGE) : res.redirect('/simulator/')));
  router.get('/state', (_req, res) => {
    if (shown && Date.now() - shown.at > PIN_SHOWN_MS) shown = null;
    res.json({
      name: sim.name,
      model: sim.model,
      nowPlaying: sim.state.nowPlaying(),
      volume: sim.state.volume,
      power: sim.state.power,
      // The app in front (Companion launches it; MRP reports it with what plays).
      app: sim.state.app,
      // The text in the search box that has the focus (Companion's keyboard types there), or null.
      search: sim.state.textFocused ? sim.state.text : null,
      logins,
      pin: shown && { protocol: shown.protocol, pin: shown.pin, remoteName: shown.remoteName },
    });
  });
  router.get('/artwork', (_req, res) => {
    const track = sim.state.track;
    const png = track && trackArtwork(track, { width: 320 });
    if (!png) res.status(204).end();
    else res.type('png').send(png);
  });
  router.post('/volume', (req, res) => {
    const level = Number(req.body?.level);
    if (!Number.isFinite(level) || level < 0 || level > 100) {
      res.status(400).json({ error: 'the volume is 0 to 100' });
      return;
    }
    sim.state.setVolume(level);
    res.json({ volume: sim.state.volume });
  });
  router.post('/power', (_req, res) => {
    if (sim.state.power === 'off') sim.state.turnOn();
    else sim.state.turnOff();
    res.json({ power: sim.state.power });
  });
  // Opens a search box (a text field with the focus), or closes the one open.
  router.post('/search', (_req, res) => {
    if (sim.state.textFocused) sim.state.unfocusTextField();
    else sim.state.focusTextField('');
    res.json({ search: sim.state.textFocused ? sim.state.text : null });
  });
  router.post('/next', (_req, res) => {
    sim.state.next();
    res.json({ title: sim.state.nowPlaying().title });
  });
  router.post('/remote-pin', (req, res) => {
    const pin = String(req.body?.pin ?? '').trim();
    if (!/^\d{4}$/.test(pin)) {
      res.status(400).json({ error: 'type the 4 digits the remote shows' });
      return;
    }
    sim
      .pairWithRemote(pin, { hosts: ['127.0.0.1'], mdnsPort: announce.port, timeout: 5_000 })
      .then(
        (result) => res.json({ remoteName: result.remoteName }),
        (err) =>
          res.status(400).json({
            error: /no remote|not found|answered/i.test(err.message)
              ? 'no remote is asking to pair: press Pair for DMAP in the device dialog first'
              : err.message,
          }),
      );
  });
  app.use('/simulator', router);
}
