/**
 * dynalite in a worker thread (started by dynamodb.ts): its HTTP endpoint for other clients, and
 * the requests of the main thread's SDK clients, passed as messages (no socket, no HTTP parsing).
 * DynamoDB calls were most of the local runtime's CPU; here they run beside the engine, the task
 * code and the mock provider instead of between them.
 *
 * Self-contained on purpose (node: modules and packages only, erasable TypeScript only): the
 * worker is started from this .ts file by Node itself (tsx's hooks, or Node's type stripping
 * under a test runner), so it cannot lean on the project's `.js` import mapping.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

export interface DynamoWorkerData {
  role: typeof WORKER_ROLE;
  /** On-disk store (LevelDB) instead of memory. */
  path?: string;
  port: number;
}

/** Marks the workerData of this thread: importing the module anywhere else starts nothing. */
export const WORKER_ROLE = 'llm-batch-local-dynamodb';

/**
 * From the main thread: the calls of one turn of its event loop, flat: [id, target, body, id,
 * target, body, ...]. Only X-Amz-Target and the body differ from call to call; the headers
 * dynalite also checks (content type, the shape of a SigV4 Authorization) are added here.
 */
export type DynamoWorkerInbound = { type: 'calls'; calls: (number | string)[] } | { type: 'close' };
/**
 * To the main thread: the answers ready in one turn of this thread's event loop, flat: [id,
 * status, request id, crc32, content type, end offset, ...], their bodies one after another in
 * `bodies` (one transferred buffer).
 */
export type DynamoWorkerMessage =
  | { type: 'ready'; port: number }
  | { type: 'answers'; answers: (number | string)[]; bodies: Uint8Array }
  | { type: 'closed' };

/** Fields per call in DynamoWorkerInbound and per answer in DynamoWorkerMessage. */
export const CALL_FIELDS = 3;
export const ANSWER_FIELDS = 6;
export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';

/** dynalite ships no types: the factory returns an http.Server that also closes its store. */
type DynaliteFactory = (options: {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;
type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;
type MemoryLevelClass = new (options?: Record<string, unknown>) => object;

/** level-transcoder's custom encoding shape (an object instead of an encoding name). */
interface LevelEncoding<T> {
  name: string;
  format: 'buffer';
  encode(value: T): Buffer;
  decode(stored: Buffer): T;
}

/**
 * A Buffer of its own. `Buffer.from(string)` carves small buffers out of a shared 64 KiB pool
 * (Node 24's Buffer.poolSize): every key and value memory-level keeps that way pins its whole
 * slab, so dynalite's in-memory store grew by ~27 KB per job item (270 MB of ArrayBuffers for
 * 10,000 items). Same bytes, same order: keys still compare as UTF-8 bytes, as in DynamoDB.
 */
export function ownBuffer(text: string): Buffer {
  const buffer = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  buffer.write(text);
  return buffer;
}

/**
 * Values from this size up are kept deflated: a finished item's record (its output) is ~2.2 KB of JSON, ~0.8 KB
 * deflated.
 */
export const DEFLATE_FROM_BYTES = 1024;
const RAW = 0;
const DEFLATED = 1;
const DEFLATE_OPTIONS = { level: 1, windowBits: 12 };

export const UNPOOLED_UTF8: LevelEncoding<string> = {
  name: 'llm-batch-unpooled-utf8',
  format: 'buffer',
  encode: (text) => ownBuffer(String(text)),
  decode: (stored) => stored.toString('utf8'),
};

/**
 * Values as JSON in unpooled buffers, a large one deflated (one marker byte first). A 100,000-item
 * job keeps ~135 MB less in the store, for ~30 us per large write and ~15 us per large read.
 */
export const UNPOOLED_JSON: LevelEncoding<unknown> = {
  name: 'llm-batch-unpooled-json',
  format: 'buffer',
  encode: (value) => {
    const json = Buffer.from(JSON.stringify(value), 'utf8'); // short-lived: copied below
    const deflated = json.length >= DEFLATE_FROM_BYTES ? deflateRawSync(json, DEFLATE_OPTIONS) : undefined;
    const body = deflated && deflated.length < json.length ? deflated : json;
    const stored = Buffer.allocUnsafeSlow(body.length + 1);
    stored[0] = body === json ? RAW : DEFLATED;
    body.copy(stored, 1);
    return stored;
  },
  decode: (stored) => {
    const body = stored.subarray(1);
    return JSON.parse(
      (stored[0] === DEFLATED ? inflateRawSync(body, DEFLATE_OPTIONS) : body).toString('utf8'),
    ) as unknown;
  },
};

/** dynalite's PEG expression parsers (db/updateParser, conditionParser, projectionParser). */
interface ExpressionParser {
  parse(input: string, options: { context: ParseContext }): unknown;
}

/** What dynalite's validations hand the parsers (see dynalite validations/index.js). */
interface ParseContext {
  attrNames?: Record<string, string> | null;
  attrVals?: Record<string, Record<string, unknown>> | null;
  unusedAttrNames?: Record<string, boolean>;
  unusedAttrVals?: Record<string, boolean>;
  isKeyCondition?: boolean;
  [field: string]: unknown;
}

interface ParsedTemplate {
  tree: unknown;
  /** The placeholder objects in `tree`, by the value name each stands for. */
  placeholders: Map<object, string>;
  usedNames: string[];
  usedValues: string[];
}

const ATTRIBUTE_TYPES = new Set(['S', 'N', 'B', 'NULL', 'BOOL', 'SS', 'NS', 'BS', 'L', 'M']);
/** Expressions whose checks read values, not only their types: always parsed afresh. */
const VALUE_DEPENDENT = /\bBETWEEN\b|attribute_type/i;
const MAX_TEMPLATES = 1_000;

function attributeType(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 && ATTRIBUTE_TYPES.has(keys[0] ?? '') ? keys[0] : undefined;
}

/** A deep copy of a parse tree with the placeholders swapped for this request's values (shared nodes stay shared). */
function instantiate(
  node: unknown,
  placeholders: Map<object, string>,
  values: Record<string, unknown>,
  copies: Map<object, unknown>,
): unknown {
  if (typeof node !== 'object' || node === null) return node;
  const name = placeholders.get(node);
  if (name !== undefined) return values[name];
  const known = copies.get(node);
  if (known !== undefined) return known;
  if (Array.isArray(node)) {
    const copy: unknown[] = [];
    copies.set(node, copy);
    for (const item of node) copy.push(instantiate(item, placeholders, values, copies));
    return copy;
  }
  const copy = Object.create(Object.getPrototypeOf(node) as object | null) as Record<string, unknown>;
  copies.set(node, copy);
  for (const [key, value] of Object.entries(node)) copy[key] = instantiate(value, placeholders, values, copies);
  return copy;
}

/**
 * Memoizes one of dynalite's expression parsers. Parsing an expression was a third of dynalite's
 * CPU, and the job store sends the same few expressions with new values every time. dynalite
 * resolves `:values` into the parse tree and checks only their types, so the tree of an
 * expression, its names and its values' types is parsed once with placeholder values and then
 * copied with each request's values; the names and values it uses are marked used, as parsing
 * does. A first sighting, a failed parse, and expressions whose checks read values (BETWEEN,
 * attribute_type) go to the parser itself.
 */
export function memoizeParse(original: ExpressionParser['parse']): ExpressionParser['parse'] {
  const templates = new Map<string, ParsedTemplate>();
  return (input, options) => {
    const context = options.context;
    const values = context.attrVals ?? {};
    if (VALUE_DEPENDENT.test(input)) return original(input, options);
    let valueTypes = '';
    for (const [name, value] of Object.entries(values)) {
      const type = attributeType(value);
      if (type === undefined) return original(input, options);
      valueTypes += `${name}=${type};`;
    }
    const key = `${input}\u0000${JSON.stringify(context.attrNames ?? null)}\u0000${valueTypes}\u0000${context.isKeyCondition === true}`;
    const template = templates.get(key);
    if (template) {
      for (const name of template.usedNames) delete context.unusedAttrNames?.[name];
      for (const name of template.usedValues) delete context.unusedAttrVals?.[name];
      return instantiate(template.tree, template.placeholders, values, new Map());
    }
    const result = original(input, options);
    if (typeof result !== 'object' || result === null) return result; // an error message: not kept
    // The template: the same parse on placeholder values of the same types, noting what it uses.
    const placeholders = new Map<object, string>();
    const stand: Record<string, Record<string, unknown>> = {};
    for (const [name, value] of Object.entries(values)) {
      const placeholder = { ...value };
      placeholders.set(placeholder, name);
      stand[name] = placeholder;
    }
    const names = Object.keys(context.attrNames ?? {});
    const unusedAttrNames = Object.fromEntries(names.map((name) => [name, true]));
    const unusedAttrVals = Object.fromEntries(Object.keys(values).map((name) => [name, true]));
    const tree = original(input, {
      ...options,
      context: { ...context, attrVals: stand, unusedAttrNames, unusedAttrVals },
    });
    if (typeof tree !== 'object' || tree === null) return result;
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    templates.set(key, {
      tree,
      placeholders,
      usedNames: names.filter((name) => !(name in unusedAttrNames)),
      usedValues: Object.keys(values).filter((name) => !(name in unusedAttrVals)),
    });
    return result;
  };
}

/**
 * Loads dynalite with memoized expression parsers, and its in-memory store (memory-level, which
 * dynalite creates with `valueEncoding: 'json'` and no way to pass more) keeping keys and values
 * in unpooled buffers, large values deflated. Patched before dynalite's first load in this thread, on the modules
 * dynalite resolves.
 */
function loadDynalite(): DynaliteFactory {
  const require = createRequire(import.meta.url);
  const fromDynalite = createRequire(require.resolve('dynalite'));
  for (const name of ['updateParser', 'conditionParser', 'projectionParser']) {
    const parser = fromDynalite(`./db/${name}`) as ExpressionParser;
    parser.parse = memoizeParse(parser.parse.bind(parser));
  }
  const memoryLevel = fromDynalite('memory-level') as { MemoryLevel: MemoryLevelClass };
  const Original = memoryLevel.MemoryLevel;
  memoryLevel.MemoryLevel = class extends Original {
    constructor(options: Record<string, unknown> = {}) {
      super({
        ...options,
        keyEncoding: UNPOOLED_UTF8,
        ...(options.valueEncoding === 'json' ? { valueEncoding: UNPOOLED_JSON } : {}),
      });
    }
  };
  return require('dynalite') as DynaliteFactory;
}

/** The parts of http.ServerResponse dynalite's handler uses. */
class CapturedResponse {
  statusCode = 200;
  contentType: string | undefined = undefined;
  readonly headers: Record<string, string> = {};
  private readonly done: (statusCode: number, headers: Record<string, string>, body: string) => void;

  constructor(done: (statusCode: number, headers: Record<string, string>, body: string) => void) {
    this.done = done;
  }

  setHeader(name: string, value: string | number): void {
    this.headers[name.toLowerCase()] = String(value);
  }

  end(body?: string): void {
    this.done(this.statusCode, this.headers, body ?? '');
  }
}

type Answer = (statusCode: number, headers: Record<string, string>, body: string) => void;

/** Hands one call to dynalite's request listener, as its http.Server would. */
function dispatch(listener: RequestListener, headers: Record<string, string>, body: string, answer: Answer): void {
  const incoming = Object.assign(new EventEmitter(), { method: 'POST', url: '/', headers });
  try {
    listener(incoming as unknown as IncomingMessage, new CapturedResponse(answer) as unknown as ServerResponse);
    if (body) incoming.emit('data', Buffer.from(body, 'utf8'));
    incoming.emit('end');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    answer(
      500,
      { 'content-type': JSON_CONTENT_TYPE },
      JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message }),
    );
  }
}

/** The headers of an in-process call: what an SDK client sends, less what dynalite never reads. */
function callHeaders(target: string, now: string): Record<string, string> {
  return {
    'content-type': JSON_CONTENT_TYPE,
    'x-amz-target': target,
    'x-amz-date': now,
    authorization: `AWS4-HMAC-SHA256 Credential=local/${now.slice(0, 8)}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=local`,
  };
}

function start(port: NonNullable<typeof parentPort>, data: DynamoWorkerData): void {
  const dynalite = loadDynalite();
  const server = dynalite({
    ...(data.path ? { path: data.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  const listener = server.listeners('request')[0] as RequestListener | undefined;
  if (!listener) throw new Error('dynalite has no request handler');
  // Answers go back in batches: one message per turn of the event loop, the bodies in one buffer.
  let answers: (number | string)[] = [];
  let texts: string[] = [];
  const flush = () => {
    const bodies = new Uint8Array(texts.reduce((total, text) => total + Buffer.byteLength(text), 0));
    const encoder = new TextEncoder();
    let offset = 0;
    texts.forEach((text, i) => {
      offset += encoder.encodeInto(text, bodies.subarray(offset)).written;
      answers[i * ANSWER_FIELDS + ANSWER_FIELDS - 1] = offset;
    });
    port.postMessage({ type: 'answers', answers, bodies } satisfies DynamoWorkerMessage, [bodies.buffer]);
    answers = [];
    texts = [];
  };
  const answerTo =
    (id: number): Answer =>
    (statusCode, headers, body) => {
      answers.push(
        id,
        statusCode,
        headers['x-amzn-requestid'] ?? '',
        headers['x-amz-crc32'] ?? '',
        headers['content-type'] ?? JSON_CONTENT_TYPE,
        0,
      );
      if (texts.push(body) === 1) setImmediate(flush);
    };
  port.on('message', (message: DynamoWorkerInbound) => {
    if (message.type === 'calls') {
      const { calls } = message;
      const now = new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''); // X-Amz-Date's basic format
      for (let i = 0; i < calls.length; i += CALL_FIELDS) {
        dispatch(listener, callHeaders(String(calls[i + 1]), now), String(calls[i + 2]), answerTo(Number(calls[i])));
      }
    } else {
      server.closeAllConnections();
      server.close(() => {
        port.postMessage({ type: 'closed' } satisfies DynamoWorkerMessage);
        port.close();
      });
    }
  });
  server.listen(data.port, '127.0.0.1', () =>
    port.postMessage({ type: 'ready', port: (server.address() as AddressInfo).port } satisfies DynamoWorkerMessage),
  );
}

if (parentPort && (workerData as Partial<DynamoWorkerData> | null)?.role === WORKER_ROLE)
  start(parentPort, workerData as DynamoWorkerData);
