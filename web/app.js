// Lanspread web UI: renders the control API's games and peers and follows
// the Server-Sent Events stream; every change arrives as an event, so there
// is no polling loop. The API token travels in the HttpOnly cookie a one-time
// login link set (docs/API.md).
//
// Rendering rules: a card is rebuilt only when what it shows changed (its
// signature), and a progress event patches only its own card and download
// row, so focus and screen readers are left alone. Only #messages is a live
// region. View, sort, filters and search live in localStorage; the kept
// percentage of a stopped download comes from the daemon (GAME.kept), so
// every browser and the CLI show the same.
'use strict';

const STORE_KEY = 'lanspread.ui.v1';      // view, sort, filters, search
const SEEN_KEY = 'lanspread.seen.v1';     // game id -> when this browser first saw it
const SEEN_MAX = 20000;                   // first-seen stamps kept (oldest dropped)
const MESSAGES_MAX = 30;
const RATE_TAU_MS = 3000;                 // EWMA time constant of the shown rate
const CHART_POINTS = 120;                 // samples in the throughput chart (~30 s at 4/s)
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 10000;
const LOGIN_PROBE_MS = 5000;              // how often a logged-out page checks for a new cookie
const KNOWN_TICK_MS = 30000;              // "seen 3 min ago" is redrawn this often
const KNOWN_RECHECK_MS = [300, 1500];     // after add/forget: the runtime applies it soon after 202

const ui = {
  games: new Map(),
  peers: [],
  known: [],
  status: {},
  folders: [],
  refreshTimer: null,
  isRefreshing: false,
  isRefreshDue: false,
  transfers: new Map(), // game id -> {ewma, lastAt, samples, peers, from_seeders, from_downloaders}
  waiting: new Set(),   // downloads stopped for want of peers: resumed when one returns
  source: null,
  reconnectMs: RECONNECT_MIN_MS,
  reconnectTimer: null,
  isLoggedOut: false,
  prefs: { view: 'grid', sort: 'name', state: 'all', genre: '', search: '' },
  seen: {},
};

const ACTIONS = {
  remote: [['download', 'Download']],
  local: [],
  requested: [['cancel', 'Cancel', 'secondary']],
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

// The order of "sort by state": what needs attention first.
const STATE_ORDER = ['downloading', 'requested', 'installing', 'uninstalling', 'failed',
  'update-available', 'downloaded', 'installed', 'remote', 'local'];

const STATE_FILTERS = {
  all: () => true,
  installed: (g) => g.installed,
  downloaded: (g) => g.downloaded && !g.installed,
  network: (g) => g.peer_count > 0,
  downloading: (g) => ['requested', 'downloading', 'installing'].includes(g.state),
  update: (g) => g.state === 'update-available',
};

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
const $ = (id) => document.getElementById(id);

// --- small helpers -------------------------------------------------------

function load(key, fallback) {
  try { return Object.assign(fallback, JSON.parse(localStorage.getItem(key) || '{}')); }
  catch { return fallback; }
}
function save(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* private mode: fine */ }
}

function formatSize(bytes) {
  if (bytes == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + ' ' + units[i];
}

function formatDuration(seconds) {
  if (!isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
}

function message(text, isError) {
  const list = $('messages');
  const li = document.createElement('li');
  li.textContent = new Date().toLocaleTimeString() + ' ' + text;
  if (isError) li.className = 'error';
  list.prepend(li);
  while (list.children.length > MESSAGES_MAX) list.lastChild.remove();
}

class AuthError extends Error {}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const doc = await resp.json().catch(() => ({ error: resp.statusText }));
  if (resp.status === 401 || resp.status === 403) {
    showLoggedOut(true);
    throw new AuthError('log in again: run `lanspread open`');
  }
  if (!resp.ok) throw new Error(doc.error || ('HTTP ' + resp.status));
  return doc;
}

function gameName(id) {
  const g = ui.games.get(id);
  return g ? g.name || id : id;
}

function peerName(peerId) {
  const p = ui.peers.find((x) => x.peer_id === peerId);
  return p ? p.name : (peerId || '').slice(0, 8);
}

// A stable hue from the id (FNV-1a, then mixed so ids that differ in one
// last character, demo-024 and demo-025, get far-apart colours).
function hueOf(id) {
  let h = 0x811c9dc5;
  for (const c of id) h = Math.imul(h ^ c.codePointAt(0), 0x01000193) >>> 0;
  h ^= h >>> 15; h = Math.imul(h, 0x2c1b3c6d) >>> 0; h ^= h >>> 12;
  return (h >>> 0) % 360;
}

// "Demo Game 100" -> "D100", "Age of Empires II" -> "AO", "Xonotic" -> "XO".
function initials(name) {
  const words = (name || '?').split(/[\s_\-.:]+/).filter(Boolean);
  const last = words[words.length - 1] || '';
  if (words.length > 1 && /^\d{1,3}$/.test(last)) return (words[0][0] + last).toUpperCase();
  return (words.length > 1 ? words[0][0] + words[1][0] : (words[0] || '?').slice(0, 2)).toUpperCase();
}

// --- progress and kept percentages ---------------------------------------

// download-progress: {bytes_done, bytes_total, rate_bps};
// install-progress: {done, total} (archive bytes).
function progressOf(p) {
  if (!p) return null;
  const done = p.bytes_done ?? p.done ?? 0;
  const total = p.bytes_total ?? p.total ?? 0;
  const pct = total > 0 ? (100 * done) / total : 0;
  return { done, total, pct: Math.max(0, Math.min(100, pct)) };
}

// GAME.kept: {bytes_done, bytes_total} of a download that is not running
// (the daemon reads its resume record); null when nothing is kept.
function keptPercent(id) {
  const g = ui.games.get(id);
  const k = g && !g.downloaded && g.kept;
  return k && k.bytes_total > 0 && k.bytes_done > 0 ? Math.floor((100 * k.bytes_done) / k.bytes_total) : null;
}

// The smoothed rate: an exponentially weighted mean over RATE_TAU_MS, so the
// number shown does not jump between 86 and 226 MiB/s.
function noteTransfer(data) {
  const id = data.game_id;
  const now = performance.now();
  let t = ui.transfers.get(id);
  if (!t) {
    t = { ewma: data.rate_bps || 0, lastAt: now, samples: [] };
    ui.transfers.set(id, t);
  } else {
    const a = 1 - Math.exp(-(now - t.lastAt) / RATE_TAU_MS);
    t.ewma += a * ((data.rate_bps || 0) - t.ewma);
    t.lastAt = now;
  }
  t.done = data.bytes_done; t.total = data.bytes_total;
  t.peers = data.peers || [];
  t.from_seeders = data.from_seeders; t.from_downloaders = data.from_downloaders;
  // Per peer: the event's rate_bps (bytes over the daemon's sample window,
  // like the total), smoothed the same way.
  t.perPeer = t.perPeer || {};
  const per = {};
  for (const p of t.peers) {
    const prev = t.perPeer[p.peer_id];
    const rate = p.rate_bps || 0;
    const ewma = prev ? prev.ewma + (1 - Math.exp(-(now - prev.at) / RATE_TAU_MS)) * (rate - prev.ewma) : rate;
    t.perPeer[p.peer_id] = { at: now, ewma };
    per[p.peer_id] = ewma;
  }
  t.samples.push({ rate: data.rate_bps || 0, ewma: t.ewma, per });
  if (t.samples.length > CHART_POINTS) t.samples.shift();
  return t;
}

function etaOf(t) {
  if (!t || !t.ewma || !t.total) return null;
  return Math.max(0, t.total - t.done) / t.ewma;
}

// --- library -------------------------------------------------------------

function matchesSearch(game, terms) {
  if (!terms.length) return true;
  const text = [game.name, game.id, game.description, game.genre].join(' ').toLowerCase();
  return terms.every((t) => text.includes(t));
}

function firstSeen(id) {
  return ui.seen[id] || 0;
}

function noteSeen(games) {
  let isChanged = false;
  const now = Date.now();
  for (const g of games) if (!ui.seen[g.id]) { ui.seen[g.id] = now; isChanged = true; }
  if (!isChanged) return;
  const ids = Object.keys(ui.seen);
  if (ids.length > SEEN_MAX) {
    ids.sort((a, b) => ui.seen[a] - ui.seen[b]);
    for (const id of ids.slice(0, ids.length - SEEN_MAX)) delete ui.seen[id];
  }
  save(SEEN_KEY, ui.seen);
}

const SORTS = {
  name: (a, b) => collator.compare(a.name || a.id, b.name || b.id),
  size: (a, b) => (b.size || 0) - (a.size || 0) || SORTS.name(a, b),
  state: (a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || SORTS.name(a, b),
  added: (a, b) => firstSeen(b.id) - firstSeen(a.id) || SORTS.name(a, b),
};

function visibleGames() {
  const p = ui.prefs;
  const terms = p.search.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const byState = STATE_FILTERS[p.state] || STATE_FILTERS.all;
  return [...ui.games.values()]
    .filter((g) => byState(g) && (!p.genre || g.genre === p.genre) && matchesSearch(g, terms))
    .sort(SORTS[p.sort] || SORTS.name);
}

function where(game) {
  if (!game.peer_count) return game.downloaded ? 'this PC only' : '—';
  const names = (game.peers || []).join(', ');
  return game.peer_count + (game.peer_count === 1 ? ' peer' : ' peers') + (names ? ': ' + names : '');
}

function isBusy(game) {
  return ['downloading', 'installing', 'uninstalling', 'requested'].includes(game.state);
}

// "waiting for peers, N% kept": a download whose seeders all left.
function isWaiting(game) {
  return (game.state === 'downloading' || game.state === 'failed' || ui.waiting.has(game.id)) &&
    !game.downloaded && !game.peer_count && keptOrLive(game) != null;
}

function keptOrLive(game) {
  const prog = progressOf(game.operation && game.operation.progress);
  if (game.state === 'downloading' && prog && prog.total) return Math.floor(prog.pct);
  return keptPercent(game.id);
}

function progressText(game) {
  const prog = progressOf(game.operation && game.operation.progress);
  if (isWaiting(game)) return `waiting for peers, ${keptOrLive(game)}% kept`;
  if (game.state === 'downloading') {
    const t = ui.transfers.get(game.id);
    let text = (prog ? prog.pct : 0).toFixed(0) + '%';
    if (prog && prog.total) text += ' of ' + formatSize(prog.total);
    if (t && t.ewma) text += ' · ' + formatSize(t.ewma) + '/s';
    const eta = etaOf(t);
    if (eta != null) text += ' · ETA ' + formatDuration(eta);
    return text;
  }
  if (game.state === 'installing' || game.state === 'uninstalling') {
    return STATE_LABELS[game.state] + (prog && prog.total ? ' ' + prog.pct.toFixed(0) + '%' : '…');
  }
  return STATE_LABELS[game.state] + '…';
}

function renderProgress(card, game) {
  const box = card.querySelector('.progress');
  const isShown = isBusy(game) || isWaiting(game);
  box.hidden = !isShown;
  if (!isShown) return;
  const prog = progressOf(game.operation && game.operation.progress);
  const pct = isWaiting(game) ? keptOrLive(game) : prog && prog.total ? prog.pct : keptPercent(game.id) || 0;
  box.querySelector('.bar').style.width = pct.toFixed(1) + '%';
  box.dataset.percent = pct.toFixed(1);
  box.querySelector('.progress-text').textContent = progressText(game);
}

function actionsOf(game) {
  // A failed install is retried by installing again, a failed download by
  // downloading (it resumes from the verified chunks).
  if (game.state === 'failed' && game.downloaded) return [['install', 'Retry install']];
  const kept = keptPercent(game.id);
  return (ACTIONS[game.state] || []).map(([action, label, style]) =>
    action === 'download' && kept != null ? [action, `Resume (${kept}% kept)`, style] : [action, label, style])
    .filter(([action]) => action !== 'download' || game.peer_count > 0);
}

function renderActions(card, game) {
  const actions = actionsOf(game);
  const signature = JSON.stringify([game.name, actions]);
  const box = card.querySelector('.actions');
  if (box.dataset.signature === signature) return; // keeps the buttons, and focus on them
  box.dataset.signature = signature;
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  box.replaceChildren();
  for (const [action, label, style] of actions) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.dataset.action = action;
    // the accessible name says which game: 200 buttons are not all "Download"
    button.setAttribute('aria-label', `${label}: ${game.name || game.id}`);
    if (style) button.className = style;
    button.addEventListener('click', () => act(game.id, action, button));
    box.append(button);
    if (action === focused) button.focus();
  }
}

// The generated tile (initials on a hue from the id), with the game's cover
// over it when it has one. The URL names the cover's hash, so the browser
// keeps it for good and a new cover is a new URL; loading="lazy" fetches only
// the covers near the viewport (a 200-game library is not 200 requests at
// once). A cover that fails to load leaves the generated tile.
function coverUrl(game) {
  return game.cover ? `/api/games/${encodeURIComponent(game.id)}/cover?v=${game.cover}` : '';
}

function renderTile(card, game) {
  const tile = card.querySelector('.tile');
  tile.style.setProperty('--tile-hue', String(hueOf(game.id)));
  let label = tile.querySelector('.initials');
  if (!label) {
    tile.textContent = '';
    label = document.createElement('span');
    label.className = 'initials';
    tile.append(label);
  }
  label.textContent = initials(game.name || game.id);
  const src = coverUrl(game);
  let img = tile.querySelector('img.cover');
  if (img && img.getAttribute('src') !== src) {
    img.remove();
    img = null;
  }
  if (src && !img) {
    img = document.createElement('img');
    img.className = 'cover';
    img.alt = '';
    img.loading = 'lazy';
    img.decoding = 'async';
    img.addEventListener('error', () => img.remove());
    img.src = src;
    tile.append(img);
  }
}

function cardSignature(game) {
  const { operation, ...rest } = game;
  return JSON.stringify([rest, operation && operation.op, operation && operation.phase,
    keptPercent(game.id), ui.waiting.has(game.id)]);
}

function renderCard(card, game) {
  const signature = cardSignature(game);
  if (card.dataset.signature !== signature) {
    card.dataset.signature = signature;
    card.dataset.gameId = game.id;
    card.dataset.state = game.state;
    card.setAttribute('aria-label', game.name || game.id);
    renderTile(card, game);
    card.querySelector('.name').textContent = game.name || game.id;
    const badge = card.querySelector('.state');
    badge.textContent = isWaiting(game) ? 'waiting for peers' : STATE_LABELS[game.state] || game.state;
    badge.dataset.state = game.state;
    card.querySelector('.description').textContent =
      [game.genre, game.description].filter(Boolean).join(' · ');
    card.querySelector('.size').textContent = game.size ? formatSize(game.size) : '—';
    const version = game.version || game.latest_version || '—';
    card.querySelector('.version').textContent =
      game.state === 'update-available' ? version + ' → ' + game.latest_version : version;
    card.querySelector('.where').textContent = where(game);
    const reason = card.querySelector('.reason');
    reason.hidden = game.state !== 'failed' || isWaiting(game);
    reason.textContent = game.reason ? 'Failed: ' + game.reason : 'Failed';
    renderActions(card, game);
  }
  renderProgress(card, game);
}

function cardOf(id) {
  return $('games').querySelector(`article[data-game-id="${CSS.escape(id)}"]`);
}

// Reconciles the grid with the sorted, filtered list: cards are reused,
// and moved only when out of place (moving a focused card would blur it).
function renderGames() {
  const box = $('games');
  const template = $('game-card');
  const games = visibleGames();
  const existing = new Map([...box.children].map((c) => [c.dataset.gameId, c]));
  let at = box.firstElementChild;
  for (const game of games) {
    let card = existing.get(game.id);
    if (!card) card = template.content.firstElementChild.cloneNode(true);
    existing.delete(game.id);
    renderCard(card, game);
    if (card !== at) box.insertBefore(card, at);
    else at = at.nextElementSibling;
  }
  for (const card of existing.values()) card.remove();
  const p = ui.prefs;
  const isFiltered = p.search.trim() || p.state !== 'all' || p.genre;
  $('empty').hidden = ui.games.size > 0;
  $('no-match').hidden = !(ui.games.size > 0 && games.length === 0);
  $('no-match-what').textContent = [p.search.trim() && `“${p.search.trim()}”`,
    p.state !== 'all' && $('state-filter').selectedOptions[0].textContent.toLowerCase(),
    p.genre && `genre ${p.genre}`].filter(Boolean).join(', ');
  $('shown-count').textContent = isFiltered
    ? `${games.length} of ${ui.games.size} games` : `${ui.games.size} games`;
  renderGenres();
}

function renderGenres() {
  const select = $('genre-filter');
  const genres = [...new Set([...ui.games.values()].map((g) => g.genre).filter(Boolean))]
    .sort(collator.compare);
  if (ui.prefs.genre && !genres.includes(ui.prefs.genre)) genres.push(ui.prefs.genre);
  const signature = genres.join('\n');
  if (select.dataset.signature === signature) return;
  select.dataset.signature = signature;
  const all = select.firstElementChild;
  select.replaceChildren(all, ...genres.map((g) => new Option(g, g)));
  select.value = ui.prefs.genre;
}

// --- downloads panel -------------------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';
const CHART_W = 240, CHART_H = 48;

function polyline(values, max, cls) {
  const line = document.createElementNS(SVG_NS, 'polyline');
  // fills the width as samples arrive, then scrolls (CHART_POINTS at most)
  const step = CHART_W / (Math.max(values.length, 10) - 1);
  const x0 = CHART_W - (values.length - 1) * step;
  line.setAttribute('points', values.map((v, i) =>
    `${(x0 + i * step).toFixed(1)},${(CHART_H - (CHART_H - 2) * (v / max)).toFixed(1)}`).join(' '));
  line.setAttribute('class', cls);
  return line;
}

// Throughput over the last CHART_POINTS samples: the smoothed total, the
// raw total faintly, and one thin line per peer.
function renderChart(svg, t) {
  const samples = t ? t.samples : [];
  const max = Math.max(1, ...samples.map((s) => Math.max(s.rate, s.ewma)));
  const peers = [...new Set(samples.flatMap((s) => Object.keys(s.per)))];
  const lines = [polyline(samples.map((s) => s.rate), max, 'raw')];
  for (const id of peers) {
    const line = polyline(samples.map((s) => s.per[id] || 0), max, 'peer');
    line.style.stroke = `hsl(${hueOf(id)} 60% 50%)`;
    line.dataset.peer = peerName(id);
    lines.push(line);
  }
  lines.push(polyline(samples.map((s) => s.ewma), max, 'ewma'));
  svg.replaceChildren(...lines);
  svg.dataset.points = String(samples.length);
  svg.setAttribute('aria-label', `throughput, peak ${formatSize(max)}/s`);
}

function downloadRowTemplate() {
  const li = document.createElement('li');
  li.className = 'dl';
  li.innerHTML = '<div class="dl-head"><span class="dl-name"></span><span class="dl-text"></span></div>' +
    '<div class="progress"><div class="bar"></div></div>' +
    '<svg class="chart" role="img" viewBox="0 0 240 48" preserveAspectRatio="none"></svg>' +
    '<p class="dl-sources"></p><table class="dl-peers"><tbody></tbody></table><div class="actions"></div>';
  return li;
}

function renderDownloadRow(li, game) {
  const t = ui.transfers.get(game.id);
  const prog = progressOf(game.operation && game.operation.progress);
  const isDownload = game.state === 'downloading' || game.state === 'requested';
  li.dataset.gameId = game.id;
  li.dataset.state = game.state;
  li.querySelector('.dl-name').textContent = game.name || game.id;
  const pct = isWaiting(game) || !isBusy(game) ? keptOrLive(game) || 0 : prog ? prog.pct : 0;
  li.querySelector('.bar').style.width = pct.toFixed(1) + '%';
  li.querySelector('.progress').dataset.percent = pct.toFixed(1);
  const text = isBusy(game) || isWaiting(game) ? progressText(game) : `paused, ${keptPercent(game.id)}% kept`;
  li.querySelector('.dl-text').textContent = text;
  const eta = isDownload ? etaOf(t) : null;
  li.dataset.eta = eta == null ? '' : formatDuration(eta);
  const chart = li.querySelector('.chart');
  chart.hidden = !isDownload;
  if (isDownload) renderChart(chart, t);
  const sources = li.querySelector('.dl-sources');
  sources.hidden = !(t && isDownload);
  if (t) sources.textContent = `${formatSize(t.from_seeders || 0)} from seeders · ` +
    `${formatSize(t.from_downloaders || 0)} from other downloaders`;
  const body = li.querySelector('.dl-peers tbody');
  const rows = isDownload && t ? t.peers : [];
  body.replaceChildren(...rows.map((p) => {
    const tr = document.createElement('tr');
    const state = !p.active ? 'idle' : p.partial ? 'partial copy' : 'seeding';
    const rate = t.perPeer && t.perPeer[p.peer_id] ? t.perPeer[p.peer_id].ewma : 0;
    for (const v of [peerName(p.peer_id), formatSize(p.bytes || 0), formatSize(rate) + '/s', state]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    tr.dataset.peer = peerName(p.peer_id);
    return tr;
  }));
  renderActions(li, game);
}

function downloadList() {
  return [...ui.games.values()].filter((g) =>
    ['requested', 'downloading', 'installing'].includes(g.state) ||
    (!g.downloaded && keptPercent(g.id) != null));
}

function renderDownloads() {
  const list = $('downloads');
  const games = downloadList();
  const existing = new Map([...list.children].map((li) => [li.dataset.gameId, li]));
  for (const game of games) {
    let li = existing.get(game.id);
    if (!li) { li = downloadRowTemplate(); list.append(li); }
    existing.delete(game.id);
    renderDownloadRow(li, game);
  }
  for (const li of existing.values()) li.remove();
  $('download-count').textContent = games.length;
  $('no-downloads').hidden = games.length > 0;
}

function patchDownload(game) {
  const li = $('downloads').querySelector(`li[data-game-id="${CSS.escape(game.id)}"]`);
  if (li) renderDownloadRow(li, game);
  else renderDownloads();
}

// upload-progress: {rate_bps, games: [{game_id, bytes, rate_bps, peers}]}
function renderUploads(up) {
  const list = $('uploads');
  const games = ((up && up.games) || []).filter((g) => g.peers > 0 || g.rate_bps > 0);
  list.replaceChildren(...games.map((g) => {
    const li = document.createElement('li');
    li.dataset.gameId = g.game_id;
    li.textContent = `${gameName(g.game_id)} → ${g.peers} ${g.peers === 1 ? 'peer' : 'peers'} · ` +
      `${formatSize(g.rate_bps || 0)}/s · ${formatSize(g.bytes || 0)} sent`;
    return li;
  }));
  $('no-uploads').hidden = games.length > 0;
}

// --- peers, status, folders ------------------------------------------------

function renderPeers() {
  const list = $('peers');
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
  $('peer-count').textContent = ui.peers.length;
}

// "just now", "5 min ago", "3 h ago", "2 days ago" from Unix seconds.
function ago(unixS) {
  if (unixS == null) return 'never reached';
  const s = Math.max(0, Date.now() / 1000 - unixS);
  if (s < 60) return 'seen just now';
  if (s < 3600) return `seen ${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `seen ${Math.floor(s / 3600)} h ago`;
  const d = Math.floor(s / 86400);
  return `seen ${d} ${d === 1 ? 'day' : 'days'} ago`;
}

// GET /api/known-peers: {count, peers: [{peer_id, name, address, last_seen, connected, added}]}
function renderKnownPeers() {
  const list = $('known-peers');
  list.replaceChildren(...ui.known.map((k) => {
    const li = document.createElement('li');
    li.dataset.address = k.address;
    li.dataset.connected = String(!!k.connected);
    const text = document.createElement('div');
    const name = document.createElement('strong');
    name.textContent = k.name || k.address;
    const state = document.createElement('span');
    state.className = k.connected ? 'online' : 'muted';
    state.textContent = k.connected ? ' · connected' : ' · not connected';
    const addr = document.createElement('span');
    addr.className = 'addr';
    const when = document.createElement('time');
    if (k.last_seen != null) when.dateTime = new Date(k.last_seen * 1000).toISOString();
    when.textContent = ago(k.last_seen);
    addr.append([k.address, k.peer_id ? 'id ' + k.peer_id.slice(0, 12) : 'id unknown',
      k.added ? 'added by hand' : 'remembered'].join(' · ') + ' · ', when);
    text.append(name, state, addr);
    const forget = document.createElement('button');
    forget.type = 'button';
    forget.className = 'secondary';
    forget.textContent = 'Forget';
    forget.setAttribute('aria-label', `Forget peer ${k.name ? k.name + ' (' + k.address + ')' : k.address}`);
    forget.addEventListener('click', () => forgetPeer(k, forget));
    li.append(text, forget);
    return li;
  }));
  $('known-count').textContent = ui.known.length;
  $('no-known').hidden = ui.known.length > 0;
}

async function refreshKnown() {
  try {
    ui.known = (await api('GET', '/api/known-peers')).peers || [];
    renderKnownPeers();
  } catch (err) {
    if (!(err instanceof AuthError)) message('known peers: ' + err.message, true);
  }
}

function recheckKnown() {
  for (const ms of KNOWN_RECHECK_MS) setTimeout(refreshKnown, ms);
}

async function forgetPeer(k, button) {
  button.disabled = true;
  try {
    await api('POST', '/api/known-peers/forget', { peer: k.address });
    message(`peer ${k.name || k.address} forgotten: no longer dialled at start`);
    recheckKnown();
  } catch (err) {
    message('forget peer: ' + err.message, true);
    button.disabled = false;
  }
}

async function addKnownPeer(e) {
  e.preventDefault();
  const input = $('known-add');
  const address = input.value.trim();
  try {
    const doc = await api('POST', '/api/known-peers/add', { address });
    message(`peer ${doc.address} added (saved in ${doc.config || 'the config'}): dialling…`);
    input.value = '';
    recheckKnown();
  } catch (err) {
    message('add peer: ' + err.message, true);
  }
}

function renderStatus(isConnected) {
  const el = $('status');
  el.dataset.connected = String(isConnected);
  const s = ui.status;
  el.textContent = isConnected
    ? `peer ${(s.peer_id || '').slice(0, 12)} · ${s.local_games ?? 0} local games · ${ui.peers.length} peers`
    : ui.isLoggedOut ? 'logged out: run `lanspread open`' : 'disconnected from the daemon, reconnecting…';
  const dir = $('game-dir');
  if (document.activeElement !== dir && s.game_dir) dir.value = s.game_dir;
}

function renderFolders() {
  const list = $('folders');
  list.replaceChildren(...ui.folders.map((f) => {
    const li = document.createElement('li');
    li.dataset.folder = f.name;
    const name = document.createElement('strong');
    name.textContent = f.name;
    const why = document.createElement('span');
    why.className = 'reason-text';
    why.textContent = f.reason;
    li.append(name, why);
    if (f.kind !== 'symlink') {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary';
      button.textContent = 'Add';
      button.setAttribute('aria-label', `Add folder ${f.name} to the library`);
      button.addEventListener('click', () => openAddForm(f.name));
      li.append(button);
    }
    return li;
  }));
  $('no-folders').hidden = ui.folders.length > 0;
  const select = $('add-folder');
  const current = select.value;
  select.replaceChildren(...ui.folders.filter((f) => f.kind !== 'symlink').map((f) => new Option(f.name, f.name)));
  if (current) select.value = current;
}

function openAddForm(folderName) {
  const form = $('add-form');
  form.hidden = false;
  if (folderName) $('add-folder').value = folderName;
  fillAddForm();
  $('add-name').focus();
}

function fillAddForm() {
  const f = ui.folders.find((x) => x.name === $('add-folder').value);
  if (!f) return;
  $('add-id').value = f.suggested_id || '';
  $('add-name').value = f.name;
  $('add-version').value = f.version || '';
  $('add-version').required = !f.version;
  $('add-version').placeholder = f.version ? 'from version.ini' : 'required: no version.ini';
}

async function submitAddForm(e) {
  e.preventDefault();
  const body = { folder: $('add-folder').value, id: $('add-id').value.trim(),
    name: $('add-name').value.trim() };
  const version = $('add-version').value.trim();
  const genre = $('add-genre').value.trim();
  if (version) body.version = version;
  if (genre) body.genre = genre;
  try {
    const doc = await api('POST', '/api/catalog', body);
    message(`${body.name} added to the library as ${doc.game_id}: scanning…`);
    $('add-form').hidden = true;
    $('add-form').reset();
    scheduleRefresh();
  } catch (err) {
    message('add a game: ' + err.message, true);
  }
}

// --- documents and events ----------------------------------------------------

function applyGames(games) {
  noteSeen(games);
  ui.games = new Map(games.map((g) => [g.id, g]));
  for (const g of games) {
    // a returning seeder resumes a download that stopped for want of peers
    if (ui.waiting.has(g.id) && g.peer_count > 0 && (g.state === 'remote' || g.state === 'failed')) {
      ui.waiting.delete(g.id);
      message(`a peer with ${g.name || g.id} is back: resuming`);
      act(g.id, 'download', null);
    }
  }
}

function applySnapshot(doc) {
  applyGames(doc.games);
  ui.peers = doc.peers;
  ui.status = doc.status;
  renderAll();
  renderStatus(true);
  renderUploads(doc.status && doc.status.uploads);
  renderLimits(doc.status && doc.status.limits);
}

function renderAll() {
  renderGames();
  renderDownloads();
  renderPeers();
}

async function refresh() {
  ui.refreshTimer = null;
  ui.isRefreshing = true;
  try {
    const [games, peers, status, folders] = await Promise.all([api('GET', '/api/games'),
      api('GET', '/api/peers'), api('GET', '/api/status'),
      api('GET', '/api/folders').catch((err) => ({ folders: ui.folders, err }))]);
    refreshKnown(); // its own answer: a slow or failing one holds nothing up
    ui.folders = folders.folders || [];
    renderFolders();
    applySnapshot({ games: games.games, peers: peers.peers, status });
  } catch (err) {
    if (!(err instanceof AuthError)) message('refresh: ' + err.message, true);
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

// A progress event patches its own card and download row, nothing else.
function onProgress(data) {
  const game = ui.games.get(data.game_id);
  if (!game) return scheduleRefresh();
  const isNew = game.state !== 'downloading';
  game.state = 'downloading';
  game.operation = Object.assign({}, game.operation, { op: 'download', phase: 'running', progress: data });
  noteTransfer(data);
  const card = cardOf(game.id);
  if (card) renderCard(card, game);
  if (isNew) renderDownloads();
  else patchDownload(game);
}

// download-begin: {bytes_done, bytes_total, peers (a count)}. A resume
// starts at the kept bytes: show them before the first progress event.
function onBegin(data) {
  const game = ui.games.get(data.game_id);
  ui.transfers.delete(data.game_id); // a new transfer: a new chart
  if (!game) return;
  game.state = 'downloading';
  game.operation = Object.assign({}, game.operation, { op: 'download', phase: 'running',
    progress: { game_id: data.game_id, bytes_done: data.bytes_done, bytes_total: data.bytes_total } });
  const card = cardOf(game.id);
  if (card) renderCard(card, game);
  renderDownloads();
}

function onInstallProgress(data) {
  const game = ui.games.get(data.game_id);
  if (!game) return;
  game.state = data.op === 'uninstall' ? 'uninstalling' : 'installing';
  game.operation = Object.assign({}, game.operation, { op: data.op || 'install', phase: 'running', progress: data });
  const card = cardOf(game.id);
  if (card) renderCard(card, game);
  patchDownload(game);
}

function onDownloadStopped(data) {
  const id = data.game_id;
  const t = ui.transfers.get(id);
  const game = ui.games.get(id);
  const prog = progressOf(game && game.operation && game.operation.progress);
  const pct = t && t.total ? (100 * t.done) / t.total : prog && prog.total ? prog.pct : null;
  // the verified chunks stay on disk: the next download resumes from them.
  // Shown at once; the refresh this event causes brings the daemon's count.
  if (game && pct != null && pct > 0) {
    game.kept = { bytes_done: t && t.total ? t.done : prog.done, bytes_total: t && t.total ? t.total : prog.total };
  }
  if (!data.canceled && game && !game.peer_count && pct != null) ui.waiting.add(id);
  ui.transfers.delete(id);
}

const NOTABLE = {
  'peer-discovered': (d) => `peer ${d.name} joined (${d.address}${d.relayed ? ', relayed' : ''})`,
  'peer-lost': (d) => `peer ${d.name} left: ${d.reason}`,
  'download-finished': (d) => `download of ${gameName(d.game_id)} finished`,
  'download-failed': (d) => d.canceled
    ? `download of ${gameName(d.game_id)} stopped${keptPercent(d.game_id) != null ? ', ' + keptPercent(d.game_id) + '% kept for a resume' : ''}`
    : `download of ${gameName(d.game_id)} failed: ${d.reason || ''}`,
  'install-finished': (d) => `${gameName(d.game_id)} installed`,
  'install-failed': (d) => `install of ${gameName(d.game_id)} failed: ${d.reason || ''}`,
  'uninstall-finished': (d) => `${gameName(d.game_id)} uninstalled`,
  'runtime-failure': (d) => `${d.what}: ${d.reason}`,
  'game-dir-changed': (d) => `game directory is now ${d.game_dir}`,
};

const OTHER_EVENTS = ['games-changed', 'peer-discovered', 'peer-lost', 'peer-count',
  'got-game-files', 'download-begin', 'download-finished', 'download-failed',
  'install-begin', 'install-finished', 'install-failed', 'uninstall-begin',
  'uninstall-finished', 'uninstall-failed', 'runtime-failure', 'ready', 'request',
  'game-dir-changed'];

function onEvent(name, data) {
  if (name === 'download-failed') onDownloadStopped(data);
  if (name === 'download-begin') onBegin(data);
  if (name === 'download-begin' || name === 'download-finished') ui.waiting.delete(data.game_id);
  if (NOTABLE[name]) message(NOTABLE[name](data), /fail/.test(name) && !data.canceled);
  scheduleRefresh();
}

function showLoggedOut(isLoggedOut) {
  if (ui.isLoggedOut === isLoggedOut) return;
  ui.isLoggedOut = isLoggedOut;
  $('login').hidden = !isLoggedOut;
  if (isLoggedOut) renderStatus(false);
}

// The stream ended for good (EventSource gives up on an HTTP error): ask
// why. 401/403: the token changed (a restarted daemon) — say how to log in
// and look again every LOGIN_PROBE_MS, so a new login in another tab is
// picked up. No answer: the daemon is down — try again, backing off.
async function probe() {
  ui.reconnectTimer = null;
  let delay;
  try {
    const resp = await fetch('/api/status', { credentials: 'same-origin' });
    if (resp.status === 401 || resp.status === 403) {
      showLoggedOut(true);
      delay = LOGIN_PROBE_MS;
    } else {
      showLoggedOut(false);
      ui.reconnectMs = RECONNECT_MIN_MS;
      return connect();
    }
  } catch {
    delay = ui.reconnectMs;
    ui.reconnectMs = Math.min(RECONNECT_MAX_MS, ui.reconnectMs * 2);
  }
  ui.reconnectTimer = setTimeout(probe, delay);
}

function connect() {
  if (ui.source) ui.source.close();
  const source = new EventSource('/api/events');
  ui.source = source;
  source.addEventListener('snapshot', (e) => applySnapshot(JSON.parse(e.data)));
  source.addEventListener('resync', scheduleRefresh);
  source.addEventListener('download-progress', (e) => onProgress(JSON.parse(e.data)));
  source.addEventListener('install-progress', (e) => onInstallProgress(JSON.parse(e.data)));
  source.addEventListener('upload-progress', (e) => renderUploads(JSON.parse(e.data)));
  source.addEventListener('limits', (e) => renderLimits(JSON.parse(e.data)));
  // Game lists are not streamed: games-changed says to read them again.
  for (const name of OTHER_EVENTS) source.addEventListener(name, (e) => onEvent(name, JSON.parse(e.data)));
  source.onopen = () => {
    showLoggedOut(false);
    renderStatus(true);
    scheduleRefresh(); // the folders list is not in the snapshot
  };
  source.onerror = () => {
    renderStatus(false);
    // CONNECTING: the browser retries by itself (a restarting daemon);
    // CLOSED: it gave up (an HTTP error such as 401) — find out why
    if (source.readyState === EventSource.CLOSED && !ui.reconnectTimer) {
      ui.reconnectTimer = setTimeout(probe, RECONNECT_MIN_MS);
    }
  };
}

async function act(id, action, button) {
  if (button) button.disabled = true;
  try {
    await api('POST', '/api/games/' + encodeURIComponent(id) + '/' + action);
    message(`${action} ${gameName(id)}: requested`);
  } catch (err) {
    message(`${action} ${gameName(id)}: ${err.message}`, true);
    if (button) button.disabled = false;
  }
}

// --- preferences and keyboard ------------------------------------------------

function applyPrefs() {
  const p = ui.prefs;
  if (!['grid', 'table'].includes(p.view)) p.view = 'grid'; // 'list' of earlier versions
  $('filter').value = p.search;
  $('state-filter').value = p.state;
  $('sort').value = p.sort;
  $('view').value = p.view;
  $('games').className = 'games ' + p.view;
  $('table-head').hidden = p.view !== 'table';
}

function bindPref(id, key, event) {
  $(id).addEventListener(event || 'change', (e) => {
    ui.prefs[key] = e.target.value;
    save(STORE_KEY, ui.prefs);
    applyPrefs();
    renderGames();
  });
}

// Arrow keys move between cards (to the same button, or the first one);
// "/" goes to the search, Escape clears it.
function onKey(e) {
  const inField = /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName);
  if (e.key === '/' && !inField) { e.preventDefault(); $('filter').focus(); return; }
  if (e.key === 'Escape' && e.target.id === 'filter') {
    e.target.value = ''; ui.prefs.search = ''; save(STORE_KEY, ui.prefs); renderGames(); return;
  }
  const card = e.target.closest && e.target.closest('#games article');
  if (!card || inField) return;
  const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[e.key];
  if (!step) return;
  let next = step > 0 ? card.nextElementSibling : card.previousElementSibling;
  while (next && !next.querySelector('button')) next = step > 0 ? next.nextElementSibling : next.previousElementSibling;
  if (!next) return;
  e.preventDefault();
  const action = e.target.dataset.action;
  (next.querySelector(`button[data-action="${action}"]`) || next.querySelector('button')).focus();
}

function setup() {
  ui.prefs = load(STORE_KEY, ui.prefs);
  try { localStorage.removeItem('lanspread.kept.v1'); } catch { /* kept lived here before */ }
  ui.seen = load(SEEN_KEY, {});
  applyPrefs();
  bindPref('filter', 'search', 'input');
  bindPref('state-filter', 'state');
  bindPref('genre-filter', 'genre');
  bindPref('sort', 'sort');
  bindPref('view', 'view');
  $('clear-filters').addEventListener('click', () => {
    Object.assign(ui.prefs, { search: '', state: 'all', genre: '' });
    save(STORE_KEY, ui.prefs);
    applyPrefs();
    $('genre-filter').value = '';
    renderGames();
    $('filter').focus();
  });
  document.addEventListener('keydown', onKey);
  $('rescan').addEventListener('click', async () => {
    try { await api('POST', '/api/rescan', {}); message('rescan requested'); scheduleRefresh(); }
    catch (err) { message('rescan: ' + err.message, true); }
  });
  $('add-game').addEventListener('click', () => openAddForm(null));
  $('add-folder').addEventListener('change', fillAddForm);
  $('add-cancel').addEventListener('click', () => { $('add-form').hidden = true; $('add-game').focus(); });
  $('add-form').addEventListener('submit', submitAddForm);
  $('known-add-form').addEventListener('submit', addKnownPeer);
  setInterval(renderKnownPeers, KNOWN_TICK_MS);
  $('game-dir-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const path = $('game-dir').value.trim();
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
