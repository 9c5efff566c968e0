import { onExecutionEnded } from '../execution-ended.js';
import { taskHandler } from './task-handler.js';

export const handler = taskHandler('execution-ended', onExecutionEnded);
