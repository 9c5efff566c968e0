import { onExecutionEnded } from '../execution-ended.js';
import { taskHandler } from './task-handler.js';

export const handler = taskHandler('executionEnded', onExecutionEnded);
