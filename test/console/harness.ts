/** What the console's browser tests and `npm run screenshots` share: a served runtime, Chromium, input files. */
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { LocalRuntime, type LocalRuntimeOptions } from '../../local/local-stack.js';

/** Debian's Chromium (or CHROMIUM_PATH): playwright's own browser downloads cannot be used here. */
export function chromiumPath(): string | undefined {
  const candidates = [
    process.env.CHROMIUM_PATH,
    ...(process.env.PATH ?? '')
      .split(delimiter)
      .flatMap((dir) => [join(dir, 'chromium'), join(dir, 'chromium-browser')]),
    '/usr/bin/chromium',
  ];
  return candidates.find((path): path is string => !!path && existsSync(path));
}

export async function launchBrowser(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, args: ['--no-sandbox'] });
}

/** A runtime serving the HTTP API (and so the console) on a free port. */
export async function serveConsole(options: LocalRuntimeOptions = {}): Promise<{ runtime: LocalRuntime; url: string }> {
  const runtime = await LocalRuntime.start({ apiPort: 0, ...options });
  if (!runtime.apiUrl) throw new Error('the runtime started no HTTP API');
  return { runtime, url: runtime.apiUrl };
}

export function promptLines(count: number, prefix = 'ticket'): string[] {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({ id: `${prefix}-${String(i).padStart(4, '0')}`, prompt: `Summarise support ticket ${i}` }),
  );
}

export async function jsonlFile(name: string, lines: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llm-batch-console-'));
  const file = join(dir, name);
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}

/** Starts a job from the console's form; resolves on the job's page with its id. */
export async function startJobFromFile(
  page: Page,
  url: string,
  file: string,
  options: { batchSize?: number; maxConcurrency?: number } = {},
): Promise<string> {
  await page.goto(`${url}/#/new`);
  await page.setInputFiles('input[name=file]', file);
  if (options.batchSize) await page.fill('input[name=batchSize]', String(options.batchSize));
  if (options.maxConcurrency) await page.fill('input[name=maxConcurrency]', String(options.maxConcurrency));
  await page.click('button[type=submit]');
  await page.waitForURL(/#\/jobs\//);
  return decodeURIComponent(new URL(page.url()).hash.slice('#/jobs/'.length));
}

/** The count badges of the graph's states, by state name. */
export async function stateCounts(page: Page): Promise<Record<string, number>> {
  // A string, evaluated in the page: this project's TypeScript has no DOM types.
  return page.evaluate<Record<string, number>>(`Object.fromEntries(
    [...document.querySelectorAll('.state-graph [data-state]')].flatMap((group) => {
      const badge = group.querySelector(':scope > .badge');
      return badge ? [[group.getAttribute('data-state'), Number(badge.getAttribute('data-count'))]] : [];
    }),
  )`);
}
