/** What a loaded definition holds: the rewritten machines and the plans of their local handlers. */

/** setTimeout holds at most 2^31-1 ms; a longer timer fires at once. */
export const MAX_TIMER_SECONDS = 2_147_483;

export type AslState = Record<string, unknown> & { Type: string };
export interface AslMachine {
  StartAt: string;
  States: Record<string, AslState>;
  [field: string]: unknown;
}

export type TaskKind = 'lambda' | 'lambda-invoke' | 'other';

export interface TaskPlan {
  stateName: string;
  resource: string;
  kind: TaskKind;
  timeoutSeconds: number;
}

export interface WaitPlan {
  stateName: string;
  seconds?: number;
  secondsPath?: string;
  timestamp?: string;
  timestampPath?: string;
}

export interface ItemReaderPlan {
  inputType: 'JSON' | 'JSONL';
  parameters: Record<string, unknown>;
  maxItems?: number;
  maxItemsPath?: string;
}

export interface ItemBatcherPlan {
  maxItemsPerBatch?: number;
  maxItemsPerBatchPath?: string;
  maxInputBytesPerBatch?: number;
  maxInputBytesPerBatchPath?: string;
  batchInput?: unknown;
}

export interface DistributedMapPlan {
  stateName: string;
  /** Names the map run and its children, as the Label field does on AWS. */
  label: string;
  itemsPath?: string;
  itemReader?: ItemReaderPlan;
  itemSelector?: unknown;
  itemBatcher?: ItemBatcherPlan;
  maxConcurrency?: number;
  maxConcurrencyPath?: string;
  toleratedFailurePercentage?: number;
  toleratedFailurePercentagePath?: string;
  toleratedFailureCount?: number;
  toleratedFailureCountPath?: string;
  resultWriter?: { parameters: Record<string, unknown> };
  executionType: 'STANDARD' | 'EXPRESS';
  /** The ItemProcessor, rewritten, run as one child execution per item or batch. */
  processor: PreparedMachine;
}

/** One engine state machine: the root, or a Distributed Map's ItemProcessor. */
export interface PreparedMachine {
  definition: AslMachine;
  /** The states of this machine (inline Maps and Parallels included) that run as local handlers. */
  handlerStates: string[];
}

export interface PreparedDefinition {
  root: PreparedMachine;
  /** Task states, at any depth, by name: each needs an implementation. */
  tasks: Map<string, TaskPlan>;
  /** Wait states rewritten into Tasks, by name. */
  waits: Map<string, WaitPlan>;
  /** Distributed Maps rewritten into Tasks, by name. */
  maps: Map<string, DistributedMapPlan>;
}

export const LOCAL_WAIT_RESOURCE = 'arn:aws:states:::local:wait';
export const LOCAL_MAP_RESOURCE = 'arn:aws:states:::local:distributedMap';
