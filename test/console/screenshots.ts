/**
 * `npm run screenshots`: drives the console in headless Chromium against a served local runtime and
 * writes docs/console-jobs.png (the jobs list) and docs/console-job.png (a job running, its graph
 * counting the batches in each state).
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumPath, jsonlFile, launchBrowser, promptLines, serveConsole, startJobFromFile } from './harness.js';

const DOCS = join(import.meta.dirname, '..', '..', 'docs');
const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'support-tickets.jsonl');

/** Waits until the graph shows at least `batches` batches running at once. */
const runningBatches = (page: Page, batches: number) =>
  page.waitForFunction(
    `[...document.querySelectorAll('.state-graph .badge-running')]
      .reduce((sum, badge) => sum + Number(badge.getAttribute('data-count')), 0) >= ${batches}`,
    undefined,
    { timeout: 60_000 },
  );

const executable = chromiumPath();
if (!executable) throw new Error('no Chromium found: apt-get install chromium, or set CHROMIUM_PATH');
const { runtime, url } = await serveConsole({
  timeScale: 5,
  mock: { permanentErrorRate: 0.03, latencyMs: 2500, seed: 7 },
});
const browser = await launchBrowser(executable);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1240 } });
  await startJobFromFile(page, url, EXAMPLE, { batchSize: 25, maxConcurrency: 12 });
  await page.waitForSelector('.summary .progress-text:text-is("100 %")', { timeout: 120_000 });

  await startJobFromFile(page, url, EXAMPLE, { batchSize: 10, maxConcurrency: 6 });
  await runningBatches(page, 5);
  await page.waitForSelector('.items tbody tr[data-item]', { timeout: 60_000 });
  await page.screenshot({ path: join(DOCS, 'console-job.png') });
  await page.waitForSelector('.summary .progress-text:text-is("100 %")', { timeout: 120_000 });

  await startJobFromFile(page, url, await jsonlFile('backlog.jsonl', promptLines(2000, 'backlog')), {
    batchSize: 50,
    maxConcurrency: 4,
  });
  await page.waitForFunction(
    `Number(document.querySelector('.summary [role=progressbar]')?.getAttribute('aria-valuenow')) >= 20`,
    undefined,
    { timeout: 120_000 },
  );
  await page.goto(`${url}/#/`);
  await page.setViewportSize({ width: 1560, height: 300 });
  await page.waitForSelector('tr[data-job-id]:nth-child(3)');
  await page.waitForTimeout(1600); // one more poll, so the running job shows progress
  await page.screenshot({ path: join(DOCS, 'console-jobs.png') });
  console.log(`wrote ${join(DOCS, 'console-job.png')} and ${join(DOCS, 'console-jobs.png')}`);
} finally {
  await browser.close();
  await runtime.stop();
}
