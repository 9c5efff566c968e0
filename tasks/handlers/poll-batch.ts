import { taskHandler } from './task-handler.js';

export const handler = taskHandler('pollBatch');
