// The package's `llm-batch/cdk` entry: the LlmBatch construct for your own CDK app, its props,
// and what a stack of yours may read from it (package.json "exports").
export { LlmBatch, INPUTS_PREFIX, JOBS_PREFIX, OPENAI_KEY_SECRET_NAME, type TaskFunctions } from './llm-batch.js';
export { LLM_BATCH_DEFAULTS, LlmBatchPropsError, type LlmBatchProps } from './llm-batch-props.js';
export type { JobSchedule } from './schedules.js';
export type { ApiAuth } from './stack-config.js';
export { ScheduleConfigError } from './job-schedules.js';
export { CONFIG_FILE_NAME, readScheduleConfig, type ScheduleConfigOptions } from './schedule-config.js';
export type { JobAlarms } from './job-alarms.js';
export type { JobApi } from './job-api.js';
export type { JobSchedules } from './job-schedules.js';
export type { TaskFunction } from './task-function.js';
export type { JobStateMachine } from '../workflows/job-state-machine.js';
