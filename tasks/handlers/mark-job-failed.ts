import { markJobFailed } from '../mark-job-failed.js';
import { taskHandler } from './task-handler.js';

export const handler = taskHandler('markJobFailed', markJobFailed);
