import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { LocalRuntime } from '../../local/local-stack.js';
import {
  chromiumPath,
  jsonlFile,
  launchBrowser,
  promptLines,
  serveConsole,
  startJobFromFile,
  stateCounts,
} from './harness.js';

/**
 * The console in a real browser (headless Chromium): start a job from a file, watch it finish, read the
 * graph's batch counts and a failed item's error, see bad input refused with line numbers, cancel a job.
 */

const executable = chromiumPath();
const inCi = process.env.CI === 'true';
if (!executable && !inCi)
  console.warn('test/console skipped: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)');
const describeWithBrowser = executable || inCi ? describe : describe.skip;

describeWithBrowser('the local console', () => {
  let runtime: LocalRuntime;
  let url: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!executable)
      throw new Error('CI=true but no Chromium was found: .ci/run installs it (apt-get install chromium)');
    // 10 % of requests fail for good; time runs 50 times faster than the wall clock.
    ({ runtime, url } = await serveConsole({
      timeScale: 50,
      mock: { permanentErrorRate: 0.1, latencyMs: 1500, seed: 3 },
    }));
    browser = await launchBrowser(executable);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await runtime?.stop();
  });

  test('GIVEN no jobs WHEN the console opens THEN the jobs page says so', async () => {
    await page.goto(`${url}/`);
    await expect(page.textContent('main')).resolves.toContain('No jobs yet');
  });

  test('GIVEN a JSONL file WHEN a job is started from it THEN progress reaches 100 %, the graph counts the batches and a failed item shows its error', async () => {
    const file = await jsonlFile('tickets.jsonl', promptLines(60));

    const jobId = await startJobFromFile(page, url, file, { batchSize: 10, maxConcurrency: 3 });

    await page.waitForSelector('.summary .progress-text:text-is("100 %")', { timeout: 60_000 });
    await page.waitForSelector('[data-map-run="SUCCEEDED"]', { timeout: 30_000 });
    const counts = await stateCounts(page);
    // 6 children of 10 items each, every one ended in Batch done; none is left in another state.
    expect(counts['Batch done']).toBe(6);
    expect(counts['Batch failed']).toBe(0);
    expect(counts['Submit batch']).toBe(0);
    await page.waitForSelector('[data-state="Job finished"].phase-done');
    await expect(page.getAttribute('[data-state="Finalize job"]', 'class')).resolves.toContain('phase-done');
    await expect(page.getAttribute('[data-state="Job failed"]', 'class')).resolves.not.toContain('phase-');
    const failed = Number(await page.textContent('[data-stat="failed"] b'));
    expect(failed).toBeGreaterThan(0);
    const row = page.locator('.items tbody tr[data-item]').first();
    await row.waitFor({ timeout: 10_000 });
    await expect(row.textContent()).resolves.toMatch(/FAILED.*invalid_value.*rejects this request permanently/);
    await expect(page.textContent('.events')).resolves.toContain('MapRunSucceeded');
    await expect(page.textContent('ol.log')).resolves.toContain('job created with 60 items');

    await page.goto(`${url}/#/`);
    const listed = page.locator(`tr[data-job-id="${jobId}"]`);
    await listed.waitFor();
    await expect(listed.textContent()).resolves.toMatch(/COMPLETED_WITH_ERRORS.*100 %/);
  }, 120_000);

  test("GIVEN an unknown job WHEN its page opens THEN the API's 404 is shown", async () => {
    await page.goto(`${url}/#/jobs/job-nobody`);

    await page.waitForSelector('#error:has-text("404 JobNotFound")');
    await expect(page.textContent('#error')).resolves.toContain('job job-nobody does not exist');
  });

  test('GIVEN a file with a broken line or a duplicate id WHEN submitted THEN the errors name the lines and no job starts', async () => {
    const broken = await jsonlFile('broken.jsonl', [...promptLines(1), '{"id": "x", "prompt":']);
    await page.goto(`${url}/#/new`);
    await page.setInputFiles('input[name=file]', broken);
    await page.click('button[type=submit]');
    await page.waitForSelector('.problems:has-text("broken.jsonl: line 2: not valid JSON")');

    // The API refuses the duplicate; its items[2] is the file's line 3.
    const duplicate = await jsonlFile('dup.jsonl', [...promptLines(2), promptLines(1)[0] ?? '']);
    await page.setInputFiles('input[name=file]', duplicate);
    await page.click('button[type=submit]');
    await page.waitForSelector('.problems:has-text("line 3")');
    await expect(page.locator('.problems').textContent()).resolves.toContain(
      'dup.jsonl: line 3: duplicate id "ticket-0000" (first seen at items[0])',
    );
    expect(page.url()).toContain('#/new');
  });

  test('GIVEN a long job running one batch at a time WHEN Cancel is clicked THEN the graph showed it live and the job ends CANCELLED', async () => {
    const file = await jsonlFile('long.jsonl', promptLines(120, 'long'));

    await startJobFromFile(page, url, file, { batchSize: 2, maxConcurrency: 1 });

    // One child at a time: some state of the processor holds exactly one running batch.
    await page.waitForFunction(
      `[...document.querySelectorAll('.state-graph .badge-running')]
        .reduce((sum, badge) => sum + Number(badge.getAttribute('data-count')), 0) === 1`,
      undefined,
      { timeout: 30_000 },
    );
    await page.click('button[data-action="cancel"]');
    await page.waitForSelector('.page-title .status-cancelled', { timeout: 60_000 });
    const cancelled = Number(await page.textContent('[data-stat="cancelled"] b'));
    expect(cancelled).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
