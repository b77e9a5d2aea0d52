// The web UI in a real browser, as a user at a party would use it: a
// 200-game library sorted, filtered and searched (with a "no match" state),
// kept across a reload, in dark mode and on a phone; a download with its
// ETA, chart and per-peer rows while focus stays on another card's button;
// cancel -> "Resume (N% kept)" -> resume -> installed; adding a folder the
// scan skipped; the known peers (add, forget); and daemon restarts the page
// recovers from by itself (a new API token, the same session), unless the
// session key was deleted.
// Every wait is bounded.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require(path.join(process.env.NODE_PATH, 'playwright-core'));

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, all) => (i % 2 ? acc : [...acc, [v.slice(2), all[i + 1]]]), []));

function check(condition, what) {
  if (!condition) throw new Error('FAIL: ' + what);
  console.log('ok: ' + what);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns a truthy value; throws what after ms.
async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (let i = 0; i < 100000 && Date.now() < end; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(50);
  }
  throw new Error('FAIL: timed out: ' + what);
}

const cardSel = (id) => `#games article.game[data-game-id="${id}"]`;
const names = (page) => page.$$eval('#games article.game .name', (els) => els.map((e) => e.textContent));
const states = (page) => page.$$eval('#games article.game', (els) => els.map((e) => e.dataset.state));

async function libraryChecks(page, shot) {
  await until(async () => (await page.locator('#games article.game').count()) >= 200, 30000,
    '200 games listed');
  check(true, `${await page.locator('#games article.game').count()} games listed`);
  // a game with a cover shows it (fetched from the peer that has it); the
  // others keep their generated tile; covers load lazily
  const coverImg = page.locator(`${cardSel(args.cover)} .tile img.cover`);
  await coverImg.scrollIntoViewIfNeeded();
  await until(() => coverImg.evaluate((img) => img.complete && img.naturalWidth === 64), 20000,
    `the cover of ${args.cover} loads`);
  check(await coverImg.getAttribute('loading') === 'lazy', 'the cover image loads lazily');
  check((await coverImg.getAttribute('src')).includes(`/api/games/${args.cover}/cover?v=`),
    'the cover URL names the game and the cover\'s hash');
  check(await page.locator(`${cardSel(args.game)} .tile img`).count() === 0 &&
    (await page.locator(`${cardSel(args.game)} .tile .initials`).textContent()).length > 0,
    'a game without a cover keeps its generated tile');

  // natural order: "Demo Game 24" before "Demo Game 100"
  await page.selectOption('#sort', 'name');
  const byName = await names(page);
  check(byName.indexOf('Demo Game 24') >= 0 && byName.indexOf('Demo Game 24') < byName.indexOf('Demo Game 100'),
    'sorted by name in natural order: Demo Game 24 comes before Demo Game 100');
  await page.selectOption('#sort', 'size');
  const sizes = await page.$$eval('#games article.game', (els) => els.map((e) => e.querySelector('.size').textContent));
  check(sizes[0].includes('MiB') && sizes[0] !== sizes[sizes.length - 1],
    `sorted by size, largest first (${sizes[0]} … ${sizes[sizes.length - 1]})`);
  await page.selectOption('#sort', 'name');

  // filter by state
  await page.selectOption('#state-filter', 'installed');
  const installed = await states(page);
  check(installed.length > 0 && installed.every((s) => s === 'installed' || s === 'update-available'),
    `filter "installed" shows only installed games (${installed.length})`);
  await page.selectOption('#state-filter', 'network');
  const remote = await states(page);
  check(remote.length === 3 && remote.every((s) => s === 'remote'),
    `filter "on the network" shows the 3 games ${args.peer} has (${remote.join(',')})`);
  check((await page.locator('#shown-count').textContent()).startsWith('3 of '), 'the count says "3 of N games"');
  await page.selectOption('#state-filter', 'all');

  // search over description and genre, then a search with no match
  await page.fill('#filter', 'FPS');
  const strategy = await page.locator('#games article.game').count();
  check(strategy > 0 && strategy < 200, `searching a genre (FPS) finds games (${strategy})`);
  await page.fill('#filter', 'zzq-no-such-game');
  check(await page.locator('#games article.game').count() === 0 && await page.locator('#no-match').isVisible(),
    'a search with no match shows the "no match" message, not a blank pane');
  check((await page.locator('#no-match').textContent()).includes('zzq-no-such-game'), 'the message names the search');
  await page.click('#clear-filters');
  check(await page.locator('#games article.game').count() >= 200 && await page.inputValue('#filter') === '',
    '"Clear search and filters" brings every game back');

  // accessible names name the game; the grid is no live region
  const label = await page.locator(`${cardSel(args.game)} button[data-action="download"]`).getAttribute('aria-label');
  check(label && label.includes('Download') && label.length > 'Download'.length + 2,
    `the Download button's accessible name names the game (${label})`);
  check(await page.locator('#games').getAttribute('aria-live') === null &&
    await page.locator('#messages').getAttribute('aria-live') === 'polite',
    'only the messages are a live region, not the grid');

  // keyboard: "/" goes to the search, arrows move between the cards' buttons
  await page.locator('body').click({ position: { x: 5, y: 200 } });
  await page.keyboard.press('/');
  check(await page.evaluate(() => document.activeElement.id === 'filter'), '"/" focuses the search');
  const firstButton = page.locator('#games article.game button').first();
  await firstButton.focus();
  const before = await page.evaluate(() => document.activeElement.closest('article').dataset.gameId);
  await page.keyboard.press('ArrowDown');
  const after = await page.evaluate(() => document.activeElement.closest('article')?.dataset.gameId);
  check(after && after !== before, `ArrowDown moves focus to the next card (${before} -> ${after})`);

  await shot('01-library-200-games.png', false);
  // the table view: one dense line per game
  await page.selectOption('#view', 'table');
  const heights = await page.$$eval('#games article.game', (els) => els.slice(0, 50).map((e) => e.getBoundingClientRect().height));
  check(Math.max(...heights) < 50, `table rows are dense (tallest of 50: ${Math.max(...heights).toFixed(0)} px)`);
  await page.selectOption('#sort', 'state');
  await shot('02-table-view.png', false);

  // view and sort survive a reload
  await page.reload();
  await until(async () => (await page.locator('#games article.game').count()) >= 200, 15000, 'reloaded list');
  check(await page.inputValue('#view') === 'table' && await page.inputValue('#sort') === 'state' &&
    (await page.getAttribute('#games', 'class')).includes('table'),
  'view and sort are kept across a reload');
  await page.selectOption('#view', 'grid');
  await page.selectOption('#sort', 'name');

  // dark mode follows the system
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: 'light' });
  const light = await bg();
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await bg();
  const lum = (c) => c.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0);
  check(lum(dark) < 150 && lum(light) > 600, `dark mode follows prefers-color-scheme (${light} -> ${dark})`);
  await shot('03-dark-mode.png', false);
  await page.emulateMedia({ colorScheme: 'light' });
}

async function phoneChecks(browser) {
  const phone = await browser.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(args.base);
  await until(async () => (await phone.locator('#games article.game').count()) >= 200, 15000, 'phone list');
  const peersTop = await phone.locator('#peers').evaluate((e) => e.getBoundingClientRect().top);
  const firstCard = await phone.locator('#games article.game').first().evaluate((e) => e.getBoundingClientRect().top);
  check(peersTop < firstCard, `on a phone the peers come before the cards (${peersTop} < ${firstCard})`);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the phone layout does not scroll sideways (${overflow} px)`);
  await phone.screenshot({ path: path.join(args.shots, '04-phone.png') });
  await phone.close();
}

// What the page shows of one download, read in one round trip.
function observe(id) {
  const card = document.querySelector(`#games article.game[data-game-id="${id}"]`);
  const row = document.querySelector(`#downloads li[data-game-id="${id}"]`);
  const ewma = row && row.querySelector('svg.chart polyline.ewma');
  return {
    state: card && card.dataset.state,
    pct: card && card.querySelector('.progress').dataset.percent,
    focus: !!(document.activeElement && document.activeElement.dataset.focusProbe === 'yes'),
    text: row ? row.querySelector('.dl-text').textContent : '',
    eta: row ? row.dataset.eta : '',
    points: ewma ? ewma.getAttribute('points').split(' ').filter(Boolean).length : 0,
    peers: row ? [...row.querySelectorAll('.dl-peers tr')].map((tr) => tr.textContent).join(' | ') : '',
    sources: row ? row.querySelector('.dl-sources').textContent : '',
    peerRate: row && row.querySelector('.dl-peers tr td:nth-child(3)')
      ? row.querySelector('.dl-peers tr td:nth-child(3)').textContent : '',
  };
}

// "4.8 MiB/s" -> bytes per second
function rateOf(text) {
  const m = /([\d.]+) (B|KiB|MiB|GiB)\/s/.exec(text || '');
  return m ? Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(m[2]) : null;
}

// Starts the download with focus on another card's button, watches the
// card and the downloads panel in one loop (the download may be quick),
// and cancels once everything was seen.
async function downloadChecks(page, shot) {
  const card = page.locator(cardSel(args.game));
  const other = page.locator('#games article.game[data-state="installed"] button[data-action="uninstall"]').first();
  await other.focus();
  await other.evaluate((b) => { b.dataset.focusProbe = 'yes'; });
  await card.locator('button[data-action="download"]').evaluate((b) => b.click());
  const percents = new Set();
  const seen = { eta: '', points: 0, peers: '', sources: '', peerRates: [] };
  let isFocusKept = true, isShot = false, isCanceled = false, last = {};
  const started = Date.now();
  for (let i = 0; i < 4000 && Date.now() - started < 120000; i++) {
    const o = await page.evaluate(observe, args.game);
    last = o;
    if (o.state === 'downloading') {
      if (o.pct) percents.add(o.pct);
      isFocusKept = isFocusKept && o.focus;
      if (/ETA \d+:\d\d/.test(o.text) && /\/s/.test(o.text)) seen.eta = o.text;
      seen.points = Math.max(seen.points, o.points);
      if (o.peers.includes(args.peer)) seen.peers = o.peers;
      if (o.sources.includes('from seeders')) seen.sources = o.sources;
      // one seeder: its rate is the download's rate (the event's per-peer
      // rate_bps, which once read ~100x the link)
      const peerRate = rateOf(o.peerRate), total = rateOf(o.text);
      if (peerRate && total && /ETA/.test(o.text)) seen.peerRates.push(peerRate / total);
    }
    const isAllSeen = seen.eta && seen.points >= 4 && seen.peers && seen.sources && percents.size >= 3;
    if (isAllSeen && !isShot) { isShot = true; await shot('05-downloads-panel.png', true); }
    if (isAllSeen && o.state === 'downloading' && Number(o.pct) >= 5) {
      // a DOM click: the card's progress patches may move it under Playwright's
      // stability wait, which a person's click does not have
      await card.locator('button[data-action="cancel"]').evaluate((b) => b.click());
      isCanceled = true;
      break;
    }
    if (percents.size && o.state !== 'downloading' && o.state !== 'requested') break;
    await sleep(30);
  }
  check(percents.size >= 3, `the bar moved while focus sat elsewhere (${[...percents].join(', ')})`);
  check(isFocusKept, 'focus stayed on the other card\'s button while the download progressed');
  check(seen.eta !== '', `the downloads panel shows rate and ETA (${seen.eta || last.text})`);
  check(seen.points >= 4, `the throughput chart draws the smoothed rate (${seen.points} points)`);
  check(seen.peers !== '', `a per-peer row shows ${args.peer}'s bytes, rate and state (${seen.peers})`);
  check(seen.sources !== '', `the sources line splits seeders/downloaders (${seen.sources})`);
  const ratios = seen.peerRates.slice(-10);
  check(ratios.length > 0 && ratios.every((r) => r > 0.33 && r < 3),
    `the only seeder's rate matches the download's rate (ratios ${ratios.map((r) => r.toFixed(2)).join(', ')})`);
  check(isCanceled, `Cancel was clicked while downloading (last state ${last.state} at ${last.pct}%)`);
  const row = page.locator(`#downloads li[data-game-id="${args.game}"]`);

  // cancel: the percentage is kept and the card offers to resume
  const resume = card.locator('button[data-action="download"]');
  await until(async () => (await resume.count()) === 1, 15000, 'a resume button after cancel');
  const resumeText = await resume.textContent();
  const kept = Number((resumeText.match(/\((\d+)% kept\)/) || [])[1]);
  check(kept > 0, `after Cancel the card offers "${resumeText}"`);
  check(/paused, \d+% kept/.test(await row.locator('.dl-text').textContent()),
    'the downloads panel keeps the stopped download with its kept percentage');
  // the daemon reports it (from the resume record), so any browser or the CLI sees it
  const fromApi = await until(() => page.evaluate(async (id) => {
    const g = await (await fetch('/api/games/' + id)).json();
    return g.kept && g.kept.bytes_done > 0 ? Math.floor((100 * g.kept.bytes_done) / g.kept.bytes_total) : null;
  }, args.game), 10000, 'the kept bytes in the API');
  check(fromApi === kept, `GET /api/games/ID reports the kept ${fromApi}% the button shows (${kept}%)`);
  check(await page.evaluate(() => localStorage.getItem('lanspread.kept.v1') === null),
    'the kept percentage is not the browser\'s own (nothing in localStorage)');
  await page.reload(); // the kept percentage survives a reload
  await until(async () => (await page.locator(`${cardSel(args.game)} button[data-action="download"]`).count()) === 1, 15000, 'reloaded');
  check((await page.locator(`${cardSel(args.game)} button[data-action="download"]`).textContent()) === resumeText,
    'the Resume label survives a reload');

  // resume: it starts from the kept bytes and ends installed
  const first = [];
  const onFirst = page.locator(cardSel(args.game));
  await onFirst.locator('button[data-action="download"]').click();
  let state = '';
  const resumedAt = Date.now();
  for (let i = 0; i < 4000 && Date.now() - resumedAt < 180000; i++) {
    state = await onFirst.getAttribute('data-state');
    const pct = await onFirst.locator('.progress').getAttribute('data-percent');
    if (state === 'downloading' && pct && first.length < 3) first.push(Number(pct));
    if (state === 'installing' && pct) first.push('i' + pct);
    if (state === 'installed' || state === 'failed') break;
    await sleep(50);
  }
  check(first.length > 0 && first[0] >= kept - 1, `the resumed download starts at the kept ${kept}% (${first.slice(0, 3).join(', ')})`);
  check(state === 'installed', `the game ends "installed" (last state: ${state})`);
  check(await onFirst.locator('button[data-action="uninstall"]').isVisible(), 'an installed game offers Uninstall');
  check(await page.locator(`#downloads li[data-game-id="${args.game}"]`).count() === 0,
    'a finished download leaves the downloads panel');
}

async function addGameChecks(page) {
  const folder = page.locator('#folders li[data-folder="My Game"]');
  await until(async () => (await folder.count()) === 1, 15000, 'the skipped folder is listed');
  check((await folder.textContent()).includes('not a valid game id'), `the skipped folder says why (${await folder.textContent()})`);
  await folder.locator('button').click();
  check(await page.inputValue('#add-id') === 'my-game', 'the form proposes the id "my-game"');
  await page.fill('#add-name', 'My Own Game');
  await page.fill('#add-version', '1.0');
  await page.fill('#add-genre', 'Homebrew');
  await page.click('#add-form button[type="submit"]');
  const card = page.locator(cardSel('my-game'));
  await until(async () => (await card.count()) === 1 && (await card.getAttribute('data-state')) === 'downloaded',
    20000, 'the added game appears as downloaded');
  check((await card.locator('.name').textContent()) === 'My Own Game', 'the added game shows with its name');
  await until(async () => (await folder.count()) === 0, 10000, 'the folder leaves the skipped list');
  check(true, 'the folder is no longer listed as skipped');
  await page.fill('#filter', 'homebrew');
  check(await page.locator('#games article.game').count() === 1, 'a search finds it by genre');
  await page.fill('#filter', '');
  await page.locator('#filter').dispatchEvent('input');
}

// Known peers (#17): each with its address, id, last-seen time and whether
// it is connected; add an address and forget it again.
async function knownPeerChecks(page) {
  const known = page.locator('#known-peers li[data-connected="true"]', { hasText: args.peer });
  await until(async () => (await known.count()) === 1, 15000, `${args.peer} listed as a connected known peer`);
  const text = await known.textContent();
  check(/id [0-9a-f]{12}/.test(text) && /seen (just now|\d+ min ago)/.test(text) && text.includes('connected'),
    `the known peer ${args.peer} shows its id, last-seen time and "connected" (${text})`);
  const address = await known.getAttribute('data-address');
  check(/:\d+$/.test(address) && text.includes(address), `... and its address (${address})`);
  const added = '198.18.99.7:7400';
  await page.getByLabel('Add peer address').fill(added);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  const row = page.locator(`#known-peers li[data-address="${added}"]`);
  await until(async () => (await row.count()) === 1, 10000, 'the added address listed');
  check(await row.getAttribute('data-connected') === 'false' && (await row.textContent()).includes('never reached'),
    `an added address nobody answers shows "not connected", "never reached" (${await row.textContent()})`);
  await page.getByRole('button', { name: `Forget peer ${added}` }).click();
  await until(async () => (await row.count()) === 0, 10000, 'the forgotten address gone');
  check(true, 'Forget removes the address from the known peers');
  check(await known.count() === 1, `${args.peer} is still known`);
}

// Asks run.sh to restart the daemon; waits for its answer.
async function restartDaemon(how) {
  const dir = args.restart;
  fs.rmSync(path.join(dir, 'done'), { force: true });
  fs.writeFileSync(path.join(dir, 'request'), how);
  await until(() => fs.existsSync(path.join(dir, 'done')), 30000, 'the daemon restart');
  return fs.readFileSync(path.join(dir, 'done'), 'utf8');
}

async function restartChecks(page) {
  await page.evaluate(() => { window.notReloaded = true; });
  // Twice: the session must survive more than the first restart.
  for (const n of [1, 2]) {
    const done = await restartDaemon('normal');
    check(done.includes('token-changed'), `restart ${n}: the daemon came back with a new API token`);
    await until(() => page.evaluate(() => document.getElementById('status').dataset.connected === 'true' &&
      document.querySelectorAll('#games article.game').length >= 200), 30000, 'the page reconnects');
    check(await page.evaluate(() => window.notReloaded === true && document.getElementById('login').hidden),
      `restart ${n}: the page reconnected by itself, without a reload or a login`);
    // and works: a request goes through
    await page.click('#rescan');
    await until(async () => (await page.locator('#messages li', { hasText: 'rescan requested' }).count()) >= n, 10000,
      'a rescan after restart');
    check(true, `restart ${n}: an action after the restart is accepted`);
  }

  await restartDaemon('logout');
  await until(() => page.locator('#login').isVisible(), 30000, 'the log-in-again message');
  check((await page.locator('#login').textContent()).includes('lanspread open'),
    'a daemon whose session key was deleted: the page says "log in again: run `lanspread open`"');
}

async function main() {
  // a fresh profile directory: the persistent context's user data dir
  const browser = await chromium.launchPersistentContext(args.profile, {
    executablePath: args.chromium,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // a restarted daemon makes the browser log failed requests: expected
      if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|EventSource/.test(m.text())) errors.push(m.text());
    });
    // args.url is a one-time login link: it sets the cookie and leads to /.
    await page.goto(args.url);
    check(new URL(page.url()).pathname === '/' && !page.url().includes('once='),
      'the login link leads to the page, without its secret in the address');
    args.base = page.url();
    const again = await browser.newPage();
    const refused = await again.goto(args.url);
    check(refused.status() === 403, `the login link does not work twice (${refused.status()} ${refused.url()})`);
    await again.close();
    const shot = (name, isPanel) => (isPanel ? page.locator('#downloads-panel') : page)
      .screenshot({ path: path.join(args.shots, name), ...(isPanel ? {} : { fullPage: false }) });

    const card = page.locator(cardSel(args.game));
    await card.waitFor({ timeout: 15000 });
    await page.waitForFunction((id) =>
      document.querySelector(`[data-game-id="${id}"]`)?.dataset.state === 'remote', args.game,
    { timeout: 15000 });
    check(true, `remote game ${args.game} shows as "remote"`);
    check((await card.locator('.where').textContent()).includes(args.peer),
      `the card says the game is on ${args.peer}`);
    await page.locator('#peers li', { hasText: args.peer }).waitFor({ timeout: 15000 });
    check((await page.locator('#peer-count').textContent()) === '1', 'the peers panel counts 1 peer');
    check((await page.locator('#status').getAttribute('data-connected')) === 'true',
      'the status bar shows the event stream connected');

    await libraryChecks(page, shot);
    await phoneChecks(browser);
    const t0 = Date.now();
    await downloadChecks(page, shot);
    console.log(`download, cancel, resume to installed: ${Date.now() - t0} ms`);
    await shot('06-installed.png', false);
    await addGameChecks(page);
    await knownPeerChecks(page);
    if (args.restart) await restartChecks(page);
    else console.log('skipped: daemon restart (loopback mode: the daemons are on port 0)');
  } finally {
    check(errors.length === 0, 'no script errors in the page' + (errors.length ? ': ' + errors.join('; ') : ''));
    await browser.close();
  }
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
