import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../infra/task-function.js';

// `npm pack` produces a package whose bin, exports and types work from a fresh folder. The
// working tree is copied (so the repository never holds dist/), packed (prepack compiles dist/),
// and the tarball is unpacked into a fresh app's node_modules/llm-batch. Its dependencies are
// linked from this project's node_modules: `npm install --offline <tgz>` cannot work here, since
// the npm cache holds the tarballs but not the registry metadata npm resolves them with
// (ENOTCACHED). Only the dependencies the package declares are linked, so an undeclared import fails.
//
// Slow (tsc emits the package, type-checks an app, and synthesizes it with bundling): it runs
// with LLM_BATCH_PACK_TEST=1 (`npm run test:pack`, and .ci/run), not in `npm test`.

const run = process.env.LLM_BATCH_PACK_TEST === '1';
const exec = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'llm-batch-pack-'));
const source = join(work, 'source');
const app = join(work, 'app');
const installed = join(app, 'node_modules', 'llm-batch');
const PACKED = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'bin', 'infra', 'tasks'];
const SOURCES = [...PACKED, 'shared', 'workflows', 'local', 'client'];
/** What an app of yours installs next to llm-batch to synthesize and type-check (see README). */
const APP_DEPENDENCIES = ['cdk-nag', 'tsx', 'esbuild', 'typescript', '@types/node'];

let files: string[] = [];
afterAll(() => rmSync(work, { recursive: true, force: true }));

function link(name: string): void {
  const target = join(app, 'node_modules', name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(join(PROJECT_ROOT, 'node_modules', name), target);
}

beforeAll(async () => {
  if (!run) return;
  for (const entry of SOURCES) cpSync(join(PROJECT_ROOT, entry), join(source, entry), { recursive: true });
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(source, 'node_modules'));
  const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', work], { cwd: source });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (!packed) throw new Error(`npm pack printed no package: ${stdout}`);
  files = packed.files.map((file) => file.path);

  mkdirSync(installed, { recursive: true });
  await exec('tar', ['-xzf', join(work, packed.filename), '-C', installed, '--strip-components=1']);
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const name of [...Object.keys(manifest.dependencies), ...APP_DEPENDENCIES]) link(name);
  mkdirSync(join(app, 'node_modules', '.bin'));
  symlinkSync('../llm-batch/bin/llm-batch.js', join(app, 'node_modules', '.bin', 'llm-batch'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'your-app', private: true, type: 'module' }));
  // An installed app has a lock file; the functions bundle from its node_modules (task-function.ts).
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'your-app', lockfileVersion: 3 }));
  for (const file of ['app.ts', 'llm-batch.config.json'])
    cpSync(join(PROJECT_ROOT, 'examples', 'cdk-app', file), join(app, file));
}, 600_000);

(run ? describe : describe.skip)('the packed tarball, installed in a fresh app (LLM_BATCH_PACK_TEST=1)', () => {
  test('holds the compiled construct with its types, the task sources it bundles, and the bin; no tests', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/llm-batch.js',
        'dist/infra/index.js',
        'dist/infra/index.d.ts',
        'dist/local/cli/main.js',
        'tasks/handlers/submit-batch.ts',
        'shared/config.ts',
        'workflows/task-registry.ts',
      ]),
    );
    expect(files.filter((file) => /^(test|bench|infra|local)\//.test(file) || file === 'package-lock.json')).toEqual(
      [],
    );
  });

  test('`import "llm-batch/cdk"` gives the construct, with plain node', async () => {
    const script =
      "const m = await import('llm-batch/cdk'); console.log(typeof m.LlmBatch, typeof m.readScheduleConfig);";
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: app });

    expect(stdout.trim()).toBe('function function');
  });

  test('`import "llm-batch/client"` gives the API client, with plain node', async () => {
    const script =
      "const m = await import('llm-batch/client'); " +
      "const c = new m.LlmBatchClient({ baseUrl: 'http://127.0.0.1:9', auth: { kind: 'none' } }); " +
      'console.log(typeof c.startJob, m.LlmBatchApiError.name);';
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: app });

    expect(stdout.trim()).toBe('function LlmBatchApiError');
  });

  test("the types check an app's use of the props, and refuse a wrong one", async () => {
    writeFileSync(
      join(app, 'wrong.ts'),
      "import { LlmBatch } from 'llm-batch/cdk';\nimport { Stack } from 'aws-cdk-lib';\n" +
        "new LlmBatch(new Stack(), 'LlmBatch', { recordTtlDays: 'seven' });\n",
    );
    const tsconfig = {
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        target: 'es2023',
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ ...tsconfig, files: ['app.ts', 'wrong.ts'] }));
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await exec(process.execPath, [tsc, '-p', '.'], { cwd: app }).then(
      () => '',
      (error: { stdout: string }) => error.stdout,
    );

    expect(result.trim().split('\n')).toEqual([
      expect.stringMatching(/^wrong\.ts\(3,41\): error TS2322: Type 'string' is not assignable to type 'number'\.$/),
    ]);
  }, 300_000);

  test('the example app synthesizes from it, bundling every function from the installed sources', async () => {
    const out = join(work, 'cdk.out');
    await exec(process.execPath, ['--import', 'tsx', 'app.ts'], { cwd: app, env: { ...process.env, CDK_OUTDIR: out } });
    const assets = JSON.parse(readFileSync(join(out, 'Moderation.assets.json'), 'utf8')) as { files: object };
    const bundles = readdirSync(out).filter((name) => name.startsWith('asset.'));

    expect(Object.keys(assets.files).length).toBeGreaterThanOrEqual(8);
    expect(bundles.length).toBeGreaterThanOrEqual(8);
    for (const bundle of bundles.filter((name) => !name.endsWith('.json')))
      expect(readdirSync(join(out, bundle))).toContain('index.mjs');
  }, 300_000);

  test('the bin runs the compiled CLI: `llm-batch --help`', async () => {
    const { stdout } = await exec(process.execPath, [join(app, 'node_modules', '.bin', 'llm-batch'), '--help'], {
      cwd: app,
    });

    expect(stdout).toContain('Usage: llm-batch <command> [options]');
  });
});
