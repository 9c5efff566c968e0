import type { SFNClient } from '@aws-sdk/client-sfn';
import type { TaskDeps } from '../../shared/deps.js';

/** What the HTTP API needs, passed in so tests hand in mocks. */
export interface ApiDeps extends Pick<TaskDeps, 'store' | 'objects' | 'jobTypes' | 'clock' | 'logger'> {
  sfn: SFNClient;
  stateMachineArn: string;
  /** For the execution's console URL. */
  region: string;
}
