// The web UI in a real browser: the remote game and the peer appear, a
// click on Download moves the progress bar (with a rate shown) and the game
// ends installed. Every wait is bounded.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require(path.join(process.env.NODE_PATH, 'playwright-core'));

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, all) => (i % 2 ? acc : [...acc, [v.slice(2), all[i + 1]]]), []));

function check(condition, what) {
  if (!condition) throw new Error('FAIL: ' + what);
  console.log('ok: ' + what);
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
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    // args.url is a one-time login link: it sets the cookie and leads to /.
    await page.goto(args.url);
    check(new URL(page.url()).pathname === '/' && !page.url().includes('once='),
      'the login link leads to the page, without its secret in the address');
    const again = await browser.newPage();
    const refused = await again.goto(args.url);
    check(refused.status() === 403, `the login link does not work twice (${refused.status()} ${refused.url()})`);
    await again.close();
    const shot = (name) => page.screenshot({ path: path.join(args.shots, name), fullPage: true });

    // The remote game appears with the peer that has it, and the peers panel
    // lists that peer: both came over the event stream.
    const card = page.locator(`article.game[data-game-id="${args.game}"]`);
    await card.waitFor({ timeout: 15000 });
    await page.waitForFunction((id) =>
      document.querySelector(`[data-game-id="${id}"]`)?.dataset.state === 'remote', args.game,
      { timeout: 15000 });
    check(true, `remote game ${args.game} shows as "remote"`);
    check((await card.locator('.where').textContent()).includes(args.peer),
      `the card says the game is on ${args.peer}`);
    check(await card.locator('button[data-action="download"]').isVisible(),
      'a remote game offers Download');
    await page.locator('#peers li', { hasText: args.peer }).waitFor({ timeout: 15000 });
    check((await page.locator('#peer-count').textContent()) === '1', 'the peers panel counts 1 peer');
    check((await page.locator('#status').getAttribute('data-connected')) === 'true',
      'the status bar shows the event stream connected');
    await shot('01-games-and-peers.png');
    await page.selectOption('#view', 'list');
    await shot('02-list-view.png');
    await page.selectOption('#view', 'grid');

    // Download: click, watch the bar, expect "installed".
    const started = Date.now();
    await card.locator('button[data-action="download"]').click();
    const percents = new Set();
    let rateText = '';
    let shotMidway = false;
    let state = '';
    for (let i = 0; i < 2400 && Date.now() - started < 120000; i++) {
      state = await card.getAttribute('data-state');
      const pct = await card.locator('.progress').getAttribute('data-percent');
      if (state === 'downloading' && pct !== null) {
        const isNew = !percents.has(pct);
        percents.add(pct);
        const text = await card.locator('.progress-text').textContent();
        if (/\/s/.test(text)) rateText = text;
        // one screenshot mid-way, bar and rate visible
        if (isNew && Number(pct) > 0 && Number(pct) < 100 && !shotMidway) {
          shotMidway = true;
          await shot('03-downloading.png');
        }
      }
      if (state === 'installed' || state === 'failed') break;
      await page.waitForTimeout(50);
    }
    const reason = state === 'failed' ? await card.locator('.reason').textContent() : '';
    check(state === 'installed', `the game ends "installed" (last state: ${state} ${reason})`);
    const moving = [...percents].map(Number).filter((p) => p > 0 && p < 100);
    check(percents.size >= 2 && moving.length >= 1,
      `the progress bar moved (${[...percents].join(', ')})`);
    check(rateText !== '', `the progress shows a rate (${rateText})`);
    check(await card.locator('button[data-action="uninstall"]').isVisible(),
      'an installed game offers Uninstall');
    console.log(`download to installed: ${Date.now() - started} ms`);
    await shot('04-installed.png');
  } finally {
    check(errors.length === 0, 'no script errors in the page' + (errors.length ? ': ' + errors.join('; ') : ''));
    await browser.close();
  }
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
