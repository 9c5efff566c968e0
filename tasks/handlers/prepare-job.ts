import { prepareJob } from '../prepare-job.js';
import { taskHandler } from './task-handler.js';

export const handler = taskHandler('prepareJob', prepareJob);
