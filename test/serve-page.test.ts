// The page of `splade serve` in a real browser: Debian's chromium (headless), driven by
// puppeteer-core. Types a query, checks the results against GET /search and the query's bar chart
// against its terms, opens a result (its terms' chart and the explanation), and saves a screenshot
// (SPLADE_SCREENSHOT_DIR, default the system temp dir). Any script error on the page fails the test.
// CI installs chromium (.ci/run); elsewhere set SPLADE_CHROMIUM to a Chromium or Chrome binary.
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DocumentStore, InvertedIndex, createServer, type SpladeServer } from '../lib/index.js'; // the package root's exports
import { serveFixture, type ServeFixture } from './helpers/serve-fixture.js';

const CHROMIUM = process.env.SPLADE_CHROMIUM ?? '/usr/bin/chromium';

let fx: ServeFixture;
let index: InvertedIndex;
let server: SpladeServer;
let base: string;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; .ci/run does) or set SPLADE_CHROMIUM`);
  fx = await serveFixture();
  index = InvertedIndex.open(fx.indexPath);
  const docs = await DocumentStore.load({ corpus: fx.corpusPath, vectors: fx.vectorsPath });
  server = createServer({ index, model: fx.model, docs, log: () => {} });
  base = await server.listen(0);
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  index?.dispose();
  fx?.cleanup();
});

describe('splade serve: the page in chromium', () => {
  it('searches, lists the results with scores, draws the query and a result as bar charts, and saves a screenshot', async () => {
    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(base + '/', { waitUntil: 'load' });

    const query = 'glucose levels in fetal plasma';
    await page.type('#q', query);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#results li', { timeout: 20_000 });

    const want = await (await fetch(`${base}/search?q=${encodeURIComponent(query)}&k=10&terms=40`)).json();
    const shown = await page.$$eval('#results li', (lis) => lis.map((li) => ({ id: (li as HTMLElement).dataset.id, score: Number((li as HTMLElement).dataset.score), text: li.querySelector('.result-score')?.textContent })));
    expect(shown.map((r) => r.id)).toEqual(want.results.map((r: any) => r.id));
    expect(shown.length).toBe(10);
    shown.forEach((r, i) => {
      expect(r.score).toBe(want.results[i].score);
      expect(r.text).toBe(want.results[i].score.toFixed(3));
    });

    // the query's chart: one bar a term, heaviest first, widths in proportion, in-text terms marked
    const bars = await page.$$eval('#query-chart .bar-row', (rows) => rows.map((row) => ({
      token: (row as HTMLElement).dataset.token, inText: (row as HTMLElement).dataset.inText,
      width: (row.querySelector('.bar') as HTMLElement).getBoundingClientRect().width,
      kind: (row.querySelector('.bar') as HTMLElement).className,
    })));
    expect(bars.map((b) => b.token)).toEqual(want.query.terms.map((t: any) => t.token));
    expect(bars.length).toBeGreaterThan(0);
    expect(bars.find((b) => b.token === 'glucose')).toMatchObject({ inText: 'true', kind: 'bar in-text' });
    expect(bars[0].width).toBeGreaterThan(0);
    for (let i = 1; i < bars.length; i++) expect(bars[i].width).toBeLessThanOrEqual(bars[i - 1].width + 0.5);
    const weights = want.query.terms.map((t: any) => t.weight);
    expect(bars[bars.length - 1].width / bars[0].width).toBeCloseTo(weights[weights.length - 1] / weights[0], 1);

    // a result: its terms' chart and why it matched
    await page.click('#results li:first-child');
    await page.waitForSelector('#doc-chart .bar-row', { timeout: 20_000 });
    await page.waitForSelector('#explain tbody tr', { timeout: 20_000 });
    const doc = await (await fetch(`${base}/doc/${encodeURIComponent(want.results[0].id)}?terms=40`)).json();
    const docBars = await page.$$eval('#doc-chart .bar-row', (rows) => rows.map((r) => (r as HTMLElement).dataset.token));
    expect(docBars).toEqual(doc.terms.map((t: any) => t.token));
    const scoreRow = await page.$eval('#explain tbody tr:last-child', (tr) => tr.textContent);
    expect(scoreRow).toContain(want.results[0].score.toFixed(3));
    expect(await page.$eval('#doc-text', (e) => e.textContent)).toBe(doc.text);

    const dir = process.env.SPLADE_SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), 'splade-serve-page-'));
    const shot = join(dir, 'serve-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    console.log(`screenshot: ${shot}`);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows a bad request as an error on the page', async () => {
    const page = await browser!.newPage();
    await page.goto(base + '/', { waitUntil: 'load' });
    await page.type('#q', 'glucose');
    await page.$eval('#k', (e) => ((e as HTMLInputElement).value = '5000'));
    await page.keyboard.press('Enter');
    await page.waitForSelector('#status.error', { timeout: 20_000 });
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/out_of_range/);
    await page.close();
  });
});
