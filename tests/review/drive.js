// drive.js — drives Debian's Chromium (headless, through playwright-core)
// over lgspd's review page, as a reviewer would: a wrong password is
// refused, the right one lets in, the queue opens, the first pair is
// accepted and the next one rejected, then the queue is filtered by a
// commune and by a source. Prints one JSON object (what it saw and did) on
// stdout; any failure throws (exit 1). Called by test_review.py:
//   node drive.js PLAYWRIGHT_DIR CONFIG.json
'use strict';
const path = require('path');
const fs = require('fs');
const { chromium } = require(path.join(process.argv[2], 'node_modules', 'playwright-core'));
const cfg = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

async function submit(page, selector) {
  // A form post answered 303 -> the next page: wait for that navigation.
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
}

async function pairOnPage(page) {
  return [await page.inputValue('#decide input[name=a]'), await page.inputValue('#decide input[name=b]')];
}

(async () => {
  const out = {};
  const browser = await chromium.launch({
    executablePath: cfg.chromium,
    headless: true,
    // As root and on a closed network: no sandbox, no background traffic.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(30000);

    // Not logged in: the queue sends to the login page.
    await page.goto(cfg.base + '/queue');
    check(new URL(page.url()).pathname === '/login', 'not logged in -> /login, got ' + page.url());

    // A wrong password is refused.
    await page.fill('#name', cfg.user);
    await page.fill('#password', cfg.password + '-wrong');
    await submit(page, '#login-submit');
    check(new URL(page.url()).pathname === '/login', 'wrong password stays on /login');
    out.wrong_password = (await page.textContent('#login-error')).trim();
    const cookiesBefore = await page.context().cookies();
    out.session_before = cookiesBefore.some((c) => c.name === 'lgsp_review');

    // The right one lets in, to the queue.
    await page.fill('#name', cfg.user);
    await page.fill('#password', cfg.password);
    await submit(page, '#login-submit');
    check(new URL(page.url()).pathname === '/queue', 'logged in -> /queue, got ' + page.url());
    out.who = (await page.textContent('#who')).trim();
    const cookie = (await page.context().cookies()).find((c) => c.name === 'lgsp_review');
    check(cookie, 'a session cookie');
    out.cookie = { httpOnly: cookie.httpOnly, sameSite: cookie.sameSite };
    out.queue_count = (await page.textContent('#count')).trim();
    out.queue_rows = await page.$$eval('#queue tbody tr', (rows) => rows.length);

    // Open the first pair: records side by side, the waterfall.
    await submit(page, '#queue tbody tr a.open');
    check(new URL(page.url()).pathname === '/pair', 'a pair page, got ' + page.url());
    out.first = await pairOnPage(page);
    out.record_columns = await page.$$eval('#records thead th.record', (th) => th.length);
    out.field_rows = await page.$$eval('#records tbody tr.field', (tr) => tr.length);
    out.waterfall_rows = await page.$$eval('#waterfall tbody tr.comparison', (tr) => tr.length);
    out.waterfall_bars = await page.$$eval('#waterfall .bar', (b) => b.length);
    out.total = (await page.textContent('#total')).trim();
    out.diff_cells = await page.$$eval('#records td.diff', (td) => td.length);
    if (cfg.screenshot)
      await page.screenshot({ path: cfg.screenshot, fullPage: true });

    // Accept it: the next pending pair comes.
    await page.fill('#note', 'the same person (browser test)');
    await submit(page, '#accept');
    check(new URL(page.url()).pathname === '/pair', 'after accept: the next pair, got ' + page.url());
    out.second = await pairOnPage(page);
    check(out.second.join() !== out.first.join(), 'the next pair is another pair');

    // Reject that one.
    await page.fill('#note', 'different people (browser test)');
    await submit(page, '#reject');
    out.after_reject = new URL(page.url()).pathname;

    // The first pair now shows its decision.
    await page.goto(cfg.base + '/pair?a=' + encodeURIComponent(out.first[0]) + '&b=' +
                    encodeURIComponent(out.first[1]));
    out.first_decision = (await page.textContent('#decision')).trim();

    // The queue filtered by one commune, then by one source.
    await page.goto(cfg.base + '/queue');
    await page.selectOption('#filter-commune', cfg.commune);
    await submit(page, '#filter-submit');
    out.commune_url = page.url();
    out.commune_rows = await page.$$eval('#queue tbody tr', (rows) => rows.map((r) => {
      const a = r.querySelector('a.open');
      const cells = r.querySelectorAll('td');
      return { a: a.textContent.trim(), b: cells[3].textContent.trim(),
               commune: r.querySelector('td.commune').textContent.trim() };
    }));
    await page.goto(cfg.base + '/queue');
    await page.selectOption('#filter-source', cfg.source);
    await page.selectOption('#filter-status', 'all');
    await submit(page, '#filter-submit');
    out.source_rows = await page.$$eval('#queue tbody tr', (rows) => rows.map((r) => {
      const cells = r.querySelectorAll('td');
      return { a: cells[2].textContent.trim(), b: cells[3].textContent.trim(),
               status: r.querySelector('td.status').textContent.trim() };
    }));
    out.source_count = (await page.textContent('#count')).trim();

    // Log out: the queue is closed again.
    await submit(page, '#logout');
    await page.goto(cfg.base + '/queue');
    out.after_logout = new URL(page.url()).pathname;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stderr.write('drive.js: ' + (e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
