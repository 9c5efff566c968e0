import { recordBatchFailure } from '../record-batch-failure.js';
import { taskHandler } from './task-handler.js';

export const handler = taskHandler('recordBatchFailure', recordBatchFailure);
