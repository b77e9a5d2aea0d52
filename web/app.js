// Lanspread web UI: renders the control API's games and peers and follows
// the Server-Sent Events stream; every change arrives as an event, so there
// is no polling loop. The API token travels in the HttpOnly cookie a one-time
// login link set (docs/API.md).
'use strict';

const ui = {
  games: new Map(),
  peers: [],
  status: {},
  refreshTimer: null,
  isRefreshing: false,
  isRefreshDue: false,
};

const ACTIONS = {
  remote: [['download', 'Download']],
  local: [],
  requested: [],
  downloading: [['cancel', 'Cancel', 'secondary']],
  downloaded: [['install', 'Install']],
  installing: [],
  uninstalling: [],
  installed: [['uninstall', 'Uninstall', 'danger']],
  'update-available': [['update', 'Update'], ['uninstall', 'Uninstall', 'danger']],
  failed: [['download', 'Retry']],
};

const STATE_LABELS = {
  remote: 'on the network', local: 'local', requested: 'requested',
  downloading: 'downloading', downloaded: 'downloaded', installing: 'installing',
  uninstalling: 'uninstalling', installed: 'installed',
  'update-available': 'update available', failed: 'failed',
};

function formatSize(bytes) {
  if (bytes == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + ' ' + units[i];
}

function message(text, isError) {
  const list = document.getElementById('messages');
  const li = document.createElement('li');
  li.textContent = new Date().toLocaleTimeString() + ' ' + text;
  if (isError) li.className = 'error';
  list.prepend(li);
  while (list.children.length > 30) list.lastChild.remove();
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const doc = await resp.json().catch(() => ({ error: resp.statusText }));
  if (!resp.ok) throw new Error(doc.error || ('HTTP ' + resp.status));
  return doc;
}

// download-progress: {bytes_done, bytes_total, rate_bps};
// install-progress: {done, total} (archive bytes).
function progressOf(p) {
  if (!p) return null;
  const done = p.bytes_done ?? p.done ?? 0;
  const total = p.bytes_total ?? p.total ?? 0;
  const rate = p.rate_bps ?? null;
  const pct = total > 0 ? (100 * done) / total : 0;
  return { done, total, rate, pct: Math.max(0, Math.min(100, pct)) };
}

function renderProgress(card, game) {
  const box = card.querySelector('.progress');
  const prog = progressOf(game.operation && game.operation.progress);
  const isBusy = ['downloading', 'installing', 'uninstalling', 'requested'].includes(game.state);
  box.hidden = !isBusy;
  if (!isBusy) return;
  const pct = prog ? prog.pct : 0;
  box.querySelector('.bar').style.width = pct.toFixed(1) + '%';
  box.dataset.percent = pct.toFixed(1);
  let text = game.state === 'downloading' ? pct.toFixed(0) + '%' : STATE_LABELS[game.state] + '…';
  if (prog && prog.total) text += ' of ' + formatSize(prog.total);
  if (prog && prog.rate) text += ' · ' + formatSize(prog.rate) + '/s';
  const p = game.operation && game.operation.progress;
  if (p && p.from_downloaders > 0) {
    // swarm: how much came from other downloaders, not from complete seeders
    text += ' · ' + formatSize(p.from_downloaders) + ' from downloaders';
  }
  box.querySelector('.progress-text').textContent = text;
}

function where(game) {
  if (!game.peer_count) return game.downloaded ? 'this peer only' : '—';
  const names = (game.peers || []).join(', ');
  return game.peer_count + (game.peer_count === 1 ? ' peer' : ' peers') + (names ? ': ' + names : '');
}

function renderCard(card, game) {
  card.dataset.gameId = game.id;
  card.dataset.state = game.state;
  card.querySelector('.name').textContent = game.name;
  const badge = card.querySelector('.state');
  badge.textContent = STATE_LABELS[game.state] || game.state;
  badge.dataset.state = game.state;
  card.querySelector('.description').textContent = game.description || '';
  card.querySelector('.size').textContent = formatSize(game.size);
  const version = game.version || game.latest_version || '—';
  card.querySelector('.version').textContent =
    game.state === 'update-available' ? version + ' → ' + game.latest_version : version;
  card.querySelector('.where').textContent = where(game);
  const reason = card.querySelector('.reason');
  reason.hidden = game.state !== 'failed';
  reason.textContent = game.reason ? 'Failed: ' + game.reason : 'Failed';
  renderProgress(card, game);
  const box = card.querySelector('.actions');
  box.replaceChildren();
  // A failed install is retried by installing again, a failed download by
  // downloading (it resumes from the verified chunks).
  const actions = game.state === 'failed' && game.downloaded
    ? [['install', 'Retry install']] : ACTIONS[game.state] || [];
  for (const [action, label, style] of actions) {
    if (action === 'download' && !game.peer_count) continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.dataset.action = action;
    if (style) button.className = style;
    button.addEventListener('click', () => act(game.id, action, button));
    box.append(button);
  }
}

async function act(id, action, button) {
  button.disabled = true;
  try {
    await api('POST', '/api/games/' + encodeURIComponent(id) + '/' + action);
    message(action + ' ' + id + ': requested');
  } catch (err) {
    message(action + ' ' + id + ': ' + err.message, true);
    button.disabled = false;
  }
}

function renderGames() {
  const box = document.getElementById('games');
  const filter = document.getElementById('filter').value.trim().toLowerCase();
  const template = document.getElementById('game-card');
  const games = [...ui.games.values()].sort((a, b) => a.name.localeCompare(b.name));
  const shown = new Set();
  for (const game of games) {
    if (filter && !(game.name + ' ' + game.id).toLowerCase().includes(filter)) continue;
    shown.add(game.id);
    let card = box.querySelector(`[data-game-id="${CSS.escape(game.id)}"]`);
    if (!card) card = template.content.firstElementChild.cloneNode(true);
    renderCard(card, game);
    box.append(card); // keeps the sorted order
  }
  for (const card of [...box.children])
    if (!shown.has(card.dataset.gameId)) card.remove();
  document.getElementById('empty').hidden = ui.games.size > 0;
}

function renderPeers() {
  const list = document.getElementById('peers');
  list.replaceChildren();
  for (const peer of ui.peers) {
    const li = document.createElement('li');
    li.dataset.peerId = peer.peer_id;
    li.textContent = peer.name;
    const addr = document.createElement('span');
    addr.className = 'addr';
    addr.textContent = peer.address + (peer.game_count != null ? ' · ' + peer.game_count + ' games' : '');
    li.append(addr);
    list.append(li);
  }
  document.getElementById('peer-count').textContent = ui.peers.length;
}

// upload-progress: {rate_bps, games: [{game_id, bytes, rate_bps, peers}]}
function renderUploads(up) {
  const el = document.getElementById('uploads');
  const games = (up && up.games) || [];
  el.hidden = !up || (!up.rate_bps && games.length === 0);
  el.textContent = 'Uploading ' + formatSize(up ? up.rate_bps || 0 : 0) + '/s' +
    games.map((g) => ` · ${g.game_id} to ${g.peers} ${g.peers === 1 ? 'peer' : 'peers'}`).join('');
}

function renderStatus(isConnected) {
  const el = document.getElementById('status');
  el.dataset.connected = String(isConnected);
  const s = ui.status;
  el.textContent = isConnected
    ? `peer ${(s.peer_id || '').slice(0, 12)} · ${s.local_games ?? 0} local games · ${ui.peers.length} peers`
    : 'disconnected from the daemon, reconnecting…';
  const dir = document.getElementById('game-dir');
  if (document.activeElement !== dir && s.game_dir) dir.value = s.game_dir;
}

function applySnapshot(doc) {
  ui.games = new Map(doc.games.map((g) => [g.id, g]));
  ui.peers = doc.peers;
  ui.status = doc.status;
  renderGames();
  renderPeers();
  renderStatus(true);
  renderUploads(doc.status && doc.status.uploads);
  renderLimits(doc.status && doc.status.limits);
}

async function refresh() {
  ui.refreshTimer = null;
  ui.isRefreshing = true;
  try {
    const [games, peers, status] = await Promise.all(
      [api('GET', '/api/games'), api('GET', '/api/peers'), api('GET', '/api/status')]);
    applySnapshot({ games: games.games, peers: peers.peers, status });
  } catch (err) {
    message('refresh: ' + err.message, true);
  }
  ui.isRefreshing = false;
  if (ui.isRefreshDue) {
    ui.isRefreshDue = false;
    scheduleRefresh();
  }
}

// Several events often come together (a peer brings a whole library): one
// refresh answers them all, and one runs at a time (a list of 10,000 games
// is read once per change, not once per event).
function scheduleRefresh() {
  if (ui.isRefreshing) ui.isRefreshDue = true;
  else if (!ui.refreshTimer) ui.refreshTimer = setTimeout(refresh, 100);
}

function onProgress(data) {
  const game = ui.games.get(data.game_id || data.id);
  if (!game) return scheduleRefresh();
  game.state = 'downloading';
  game.operation = Object.assign({}, game.operation, { op: 'download', phase: 'running', progress: data });
  renderGames();
}

const NOTABLE = {
  'peer-discovered': (d) => `peer ${d.name} joined (${d.address})`,
  'peer-lost': (d) => `peer ${d.name} left: ${d.reason}`,
  'download-finished': (d) => `download of ${d.game_id || d.id} finished`,
  'download-failed': (d) => `download of ${d.game_id || d.id} failed: ${d.reason || d.error || ''}`,
  'install-finished': (d) => `${d.game_id || d.id} installed`,
  'install-failed': (d) => `install of ${d.game_id || d.id} failed: ${d.reason || d.error || ''}`,
  'uninstall-finished': (d) => `${d.game_id || d.id} uninstalled`,
  'runtime-failure': (d) => `${d.what}: ${d.reason}`,
  'game-dir-changed': (d) => `game directory is now ${d.game_dir}`,
};

function connect() {
  const source = new EventSource('/api/events');
  source.addEventListener('snapshot', (e) => applySnapshot(JSON.parse(e.data)));
  source.addEventListener('resync', scheduleRefresh);
  source.addEventListener('download-progress', (e) => onProgress(JSON.parse(e.data)));
  source.addEventListener('upload-progress', (e) => renderUploads(JSON.parse(e.data)));
  source.addEventListener('limits', (e) => renderLimits(JSON.parse(e.data)));
  // Game lists are not streamed: games-changed says to read them again.
  const others = ['games-changed', 'peer-discovered', 'peer-lost', 'peer-count',
    'got-game-files', 'download-begin', 'download-finished', 'download-failed',
    'install-begin', 'install-finished', 'install-failed', 'uninstall-begin',
    'uninstall-finished', 'uninstall-failed', 'runtime-failure', 'ready', 'request',
    'game-dir-changed'];
  for (const name of others) {
    source.addEventListener(name, (e) => {
      const data = JSON.parse(e.data);
      if (NOTABLE[name]) message(NOTABLE[name](data), /fail/.test(name));
      scheduleRefresh();
    });
  }
  source.onopen = () => renderStatus(true);
  source.onerror = () => renderStatus(false); // EventSource reconnects by itself
}

function setup() {
  document.getElementById('filter').addEventListener('input', renderGames);
  document.getElementById('view').addEventListener('change', (e) => {
    document.getElementById('games').className = 'games ' + e.target.value;
  });
  document.getElementById('rescan').addEventListener('click', async () => {
    try { await api('POST', '/api/rescan', {}); message('rescan requested'); }
    catch (err) { message('rescan: ' + err.message, true); }
  });
  document.getElementById('game-dir-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const path = document.getElementById('game-dir').value.trim();
    try {
      const doc = await api('POST', '/api/game-dir', { path });
      message('game directory ' + doc.game_dir + ': checking…');
    } catch (err) {
      message('game directory: ' + err.message, true);
    }
  });
  connect();
}

// --- bandwidth limits: the `limits` event, GET/POST /api/limits ---------------

// 8388608 -> "8M": what the daemon's options and `lanspread limits` take.
function rateText(bps) {
  if (!bps) return '0';
  if (bps % 1048576 === 0) return bps / 1048576 + 'M';
  return bps % 1024 === 0 ? bps / 1024 + 'K' : String(bps);
}

const LIMIT_INPUTS = [['max-upload', 'max_upload'], ['max-download', 'max_download']];

// limits: {max_upload, max_download, peer_upload_share, playing_upload, upload, playing}
function renderLimits(l) {
  if (!l) return;
  const rate = (bps) => (bps ? formatSize(bps) + '/s' : 'unlimited');
  const playing = document.getElementById('playing');
  playing.hidden = !l.playing;
  playing.textContent = l.playing ? `Playing ${l.playing}: uploads slowed to ${rate(l.upload)}` : '';
  document.getElementById('limits-now').textContent =
    `upload ${rate(l.upload)} · download ${rate(l.max_download)}`;
  for (const [id, key] of LIMIT_INPUTS) {
    const input = document.getElementById(id);
    if (document.activeElement !== input) input.value = rateText(l[key]);
  }
}

function setupLimits() {
  document.getElementById('limits-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {};
    for (const [id, key] of LIMIT_INPUTS) {
      const value = document.getElementById(id).value.trim();
      if (value) body[key] = value;
    }
    try {
      await api('POST', '/api/limits', body);
      message('bandwidth limits set (saved in the config)');
    } catch (err) {
      message('bandwidth limits: ' + err.message, true);
    }
  });
}

document.addEventListener('DOMContentLoaded', setup);
document.addEventListener('DOMContentLoaded', setupLimits);
