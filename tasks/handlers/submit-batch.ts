import { submitBatch } from '../submit-batch.js';
import { taskHandler } from './task-handler.js';

export const handler = taskHandler('submitBatch', submitBatch);
