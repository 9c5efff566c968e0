import { finalizeJob } from '../finalize-job.js';
import { taskHandler } from './task-handler.js';

export const handler = taskHandler('finalizeJob', finalizeJob);
