import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'llm-batch.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  /** The child's output so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the first match of `pattern` in stdout + stderr, as soon as it appears. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  kill(signal: NodeJS.Signals): void;
  /** The exit code and all output, once the child has exited. */
  readonly done: Promise<CliResult>;
}

/**
 * Starts the real `llm-batch` command in a child process, with no OpenAI key (so the mock provider)
 * unless `extraEnv` sets one.
 */
export function startCli(args: string[], timeoutMs = 120_000, extraEnv: NodeJS.ProcessEnv = {}): RunningCli {
  const env = { ...process.env };
  delete env.OPENAI_API_KEY;
  Object.assign(env, extraEnv);
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: (() => void)[] = [];
  const onOutput = () => watchers.forEach((watch) => watch());
  child.stdout.on('data', (chunk: Buffer) => ((stdout += chunk.toString()), onOutput()));
  child.stderr.on('data', (chunk: Buffer) => ((stderr += chunk.toString()), onOutput()));
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`llm-batch ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = `${stdout}${stderr}`.match(pattern);
          if (match) resolve(match);
        };
        watchers.push(check);
        check();
        void done.then(
          () => reject(new Error(`llm-batch ${args.join(' ')} exited before printing ${String(pattern)}\n${stderr}`)),
          reject,
        );
      }),
    kill: (signal) => child.kill(signal),
    done,
  };
}

/** Runs the real `llm-batch` command to its end. */
export function cli(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return startCli(args, timeoutMs).done;
}
