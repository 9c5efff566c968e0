/**
 * DynamoDB's expression languages (condition, key condition, update, projection), parsed once per
 * expression text into trees that name their placeholders (`#name`, `:value`) instead of holding
 * their values: a tree is cached by its text and evaluated over plain document values
 * (evaluate.ts). Hand-written rather than dynalite's parsers because those resolve the values into
 * the tree in AttributeValue form, so every call would pay marshalling, parsing or tree copying:
 * the per-call cost this store exists to remove.
 */
import { ValidationException } from './errors.js';
import { RESERVED_WORDS } from './reserved-words.js';

/** A path segment: an attribute name, a `#name` placeholder, or a list index. */
export type Segment = { name: string } | { ref: string } | number;
export type Path = Segment[];

export type Operand =
  | { kind: 'path'; path: Path }
  | { kind: 'value'; ref: string }
  | { kind: 'size'; path: Path }
  | { kind: 'if_not_exists'; path: Path; fallback: Operand }
  | { kind: 'list_append'; left: Operand; right: Operand }
  | { kind: 'arithmetic'; op: '+' | '-'; left: Operand; right: Operand };

export type Comparator = '=' | '<>' | '<' | '<=' | '>' | '>=';

export type Condition =
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'not'; inner: Condition }
  | { kind: 'compare'; op: Comparator; left: Operand; right: Operand }
  | { kind: 'between'; operand: Operand; low: Operand; high: Operand }
  | { kind: 'in'; operand: Operand; list: Operand[] }
  | { kind: 'function'; name: ConditionFunction; args: Operand[] };

export type ConditionFunction =
  'attribute_exists' | 'attribute_not_exists' | 'attribute_type' | 'begins_with' | 'contains';

export interface Update {
  set: { path: Path; value: Operand }[];
  remove: Path[];
  add: { path: Path; value: Operand }[];
  delete: { path: Path; value: Operand }[];
}

/** A parsed expression and the placeholders it uses (DynamoDB refuses unused and undefined ones). */
export interface Parsed<T> {
  tree: T;
  names: string[];
  values: string[];
}

const FUNCTIONS = new Set<string>([
  'attribute_exists',
  'attribute_not_exists',
  'attribute_type',
  'begins_with',
  'contains',
]);
const TOKEN = /\s*(?:(<>|<=|>=|[=<>()[\],.+-])|([#:]?[A-Za-z_][A-Za-z0-9_]*|[#:][A-Za-z0-9_]+)|(\d+))/y;

type Token = { text: string; kind: 'symbol' | 'word' | 'number' };

class Parser {
  private readonly tokens: Token[] = [];
  private at = 0;
  readonly names = new Set<string>();
  readonly values = new Set<string>();

  constructor(
    private readonly label: string,
    private readonly text: string,
  ) {
    let position = 0;
    for (;;) {
      TOKEN.lastIndex = position;
      const match = TOKEN.exec(text);
      if (!match) break;
      position = TOKEN.lastIndex;
      if (match[1]) this.tokens.push({ text: match[1], kind: 'symbol' });
      else if (match[2]) this.tokens.push({ text: match[2], kind: 'word' });
      else if (match[3]) this.tokens.push({ text: match[3], kind: 'number' });
    }
    const rest = text.slice(position).trim();
    if (rest !== '') this.fail(rest[0]);
    if (this.tokens.length === 0) throw new ValidationException(`Invalid ${label}: The expression can not be empty;`);
  }

  fail(near?: string): never {
    const token = near ?? this.peek()?.text ?? '<EOF>';
    throw new ValidationException(`Invalid ${this.label}: Syntax error; token: "${token}", near: "${this.text}"`);
  }

  peek(offset = 0): Token | undefined {
    return this.tokens[this.at + offset];
  }

  done(): boolean {
    return this.at >= this.tokens.length;
  }

  keyword(word: string): boolean {
    const token = this.peek();
    if (token?.kind === 'word' && token.text.toUpperCase() === word) {
      this.at++;
      return true;
    }
    return false;
  }

  symbol(symbol: string): boolean {
    if (this.peek()?.text === symbol && this.peek()?.kind === 'symbol') {
      this.at++;
      return true;
    }
    return false;
  }

  expect(symbol: string): void {
    if (!this.symbol(symbol)) this.fail();
  }

  condition(): Condition {
    let left = this.conjunction();
    while (this.keyword('OR')) left = { kind: 'or', left, right: this.conjunction() };
    return left;
  }

  private conjunction(): Condition {
    let left = this.negation();
    while (this.keyword('AND')) left = { kind: 'and', left, right: this.negation() };
    return left;
  }

  private negation(): Condition {
    if (this.keyword('NOT')) return { kind: 'not', inner: this.negation() };
    return this.primary();
  }

  private primary(): Condition {
    if (this.symbol('(')) {
      const inner = this.condition();
      this.expect(')');
      return inner;
    }
    const token = this.peek();
    if (token?.kind === 'word' && FUNCTIONS.has(token.text) && this.peek(1)?.text === '(') {
      this.at += 2;
      const args = this.arguments();
      return { kind: 'function', name: token.text as ConditionFunction, args };
    }
    const operand = this.operand();
    if (this.keyword('BETWEEN')) {
      const low = this.operand();
      if (!this.keyword('AND')) this.fail();
      return { kind: 'between', operand, low, high: this.operand() };
    }
    if (this.keyword('IN')) {
      this.expect('(');
      return { kind: 'in', operand, list: this.arguments() };
    }
    const op = this.peek();
    if (op?.kind !== 'symbol' || !['=', '<>', '<', '<=', '>', '>='].includes(op.text)) this.fail();
    this.at++;
    return { kind: 'compare', op: op.text as Comparator, left: operand, right: this.operand() };
  }

  /** Comma-separated operands up to the closing parenthesis (the opening one is read). */
  private arguments(): Operand[] {
    const args = [this.operand()];
    while (this.symbol(',')) args.push(this.operand());
    this.expect(')');
    return args;
  }

  /** A path, a value, or a function of them (size in conditions; if_not_exists, list_append in SET). */
  operand(): Operand {
    const token = this.peek();
    if (token?.kind !== 'word') this.fail();
    if (token.text.startsWith(':')) {
      this.at++;
      this.values.add(token.text);
      return { kind: 'value', ref: token.text };
    }
    if (this.peek(1)?.text === '(' && !token.text.startsWith('#')) {
      this.at += 2;
      const args = this.arguments();
      const [first, second] = args;
      if (token.text === 'size' && args.length === 1 && first?.kind === 'path')
        return { kind: 'size', path: first.path };
      if (token.text === 'if_not_exists' && args.length === 2 && first?.kind === 'path' && second)
        return { kind: 'if_not_exists', path: first.path, fallback: second };
      if (token.text === 'list_append' && args.length === 2 && first && second)
        return { kind: 'list_append', left: first, right: second };
      throw new ValidationException(`Invalid ${this.label}: Invalid function name; function: ${token.text}`);
    }
    return { kind: 'path', path: this.path() };
  }

  path(): Path {
    const path: Path = [this.segment()];
    for (;;) {
      if (this.symbol('.')) path.push(this.segment());
      else if (this.symbol('[')) {
        const index = this.peek();
        if (index?.kind !== 'number') this.fail();
        this.at++;
        path.push(Number(index.text));
        this.expect(']');
      } else return path;
    }
  }

  private segment(): Segment {
    const token = this.peek();
    if (token?.kind !== 'word' || token.text.startsWith(':')) this.fail();
    this.at++;
    if (token.text.startsWith('#')) {
      this.names.add(token.text);
      return { ref: token.text };
    }
    if (RESERVED_WORDS.has(token.text.toUpperCase()))
      throw new ValidationException(
        `Invalid ${this.label}: Attribute name is a reserved keyword; reserved keyword: ${token.text}`,
      );
    return { name: token.text };
  }

  /** SET value: an operand, or two joined by + or -. */
  setValue(): Operand {
    const left = this.operand();
    const op = this.peek();
    if (op?.kind === 'symbol' && (op.text === '+' || op.text === '-')) {
      this.at++;
      return { kind: 'arithmetic', op: op.text, left, right: this.operand() };
    }
    return left;
  }

  update(): Update {
    const update: Update = { set: [], remove: [], add: [], delete: [] };
    const seen = new Set<string>();
    while (!this.done()) {
      const clause = this.peek()?.text.toUpperCase() ?? '';
      if (!['SET', 'REMOVE', 'ADD', 'DELETE'].includes(clause) || !this.keyword(clause)) this.fail();
      if (seen.has(clause))
        throw new ValidationException(
          `Invalid ${this.label}: The "${clause}" section can only be used once in an update expression;`,
        );
      seen.add(clause);
      do {
        const path = this.path();
        if (clause === 'SET') {
          this.expect('=');
          update.set.push({ path, value: this.setValue() });
        } else if (clause === 'REMOVE') update.remove.push(path);
        else update[clause === 'ADD' ? 'add' : 'delete'].push({ path, value: this.operand() });
      } while (this.symbol(','));
    }
    return update;
  }

  projection(): Path[] {
    const paths = [this.path()];
    while (this.symbol(',')) paths.push(this.path());
    return paths;
  }

  finish<T>(tree: T): Parsed<T> {
    if (!this.done()) this.fail();
    return { tree, names: [...this.names], values: [...this.values] };
  }
}

const MAX_CACHED = 2_000;
const caches = new Map<string, Map<string, Parsed<unknown>>>();

/** Parses `text` with `parse`, once per text and kind. */
function cached<T>(label: string, text: string, parse: (parser: Parser) => T): Parsed<T> {
  let cache = caches.get(label);
  if (!cache) caches.set(label, (cache = new Map<string, Parsed<unknown>>()));
  const known = cache.get(text);
  if (known) return known as Parsed<T>;
  const parser = new Parser(label, text);
  const parsed = parser.finish(parse(parser));
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(text, parsed);
  return parsed;
}

export const parseCondition = (text: string, label = 'ConditionExpression'): Parsed<Condition> =>
  cached(label, text, (parser) => parser.condition());
export const parseUpdate = (text: string): Parsed<Update> =>
  cached('UpdateExpression', text, (parser) => parser.update());
export const parseProjection = (text: string): Parsed<Path[]> =>
  cached('ProjectionExpression', text, (parser) => parser.projection());
