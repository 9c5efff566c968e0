import { pollBatch } from '../poll-batch.js';
import { taskHandler } from './task-handler.js';

export const handler = taskHandler('pollBatch', pollBatch);
