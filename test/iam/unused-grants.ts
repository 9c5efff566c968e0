import { LOCAL_BUCKET, LOCAL_PRINCIPALS, LOCAL_TABLE } from '../../local/local-stack.js';
import { STATE } from '../../workflows/state-names.js';
import { API_PRINCIPAL, type DeployedPolicies } from './deployed-policies.js';
import type { IamRequest } from './iam-requests.js';
import { actionMatches, evaluate, resourceMatches, type Statement } from './policy-evaluator.js';

interface AllowedUnused {
  /** An action entry of a statement (`dynamodb:Scan`) or a resource entry (`resource <arn pattern>`). */
  grant: string | RegExp;
  /** The principals it applies to (default: every function). */
  only?: readonly string[];
  reason: string;
}

const CDK_TABLE_GRANT = "CDK's grantReadWriteData grants a fixed action list; the code never calls this one";
const SHARED_TABLE_GRANT =
  "every task gets the same table grant (TaskFunction.useTable 'readWrite'); this one never makes the call";
const CDK_PUT_GRANT = "CDK's grantPut adds it with s3:PutObject; the code never sets object locks or tags";

/** Grants no recorded call uses, each with the reason it is there anyway. */
const ALLOWED_UNUSED: readonly AllowedUnused[] = [
  {
    grant: /^logs:(CreateLogStream|PutLogEvents)$/,
    reason: "the Lambda service writes the function's logs to its own log group, not the code",
  },
  {
    grant: /^xray:(PutTraceSegments|PutTelemetryRecords)$/,
    reason: 'active tracing: the Lambda service sends the trace segments',
  },
  {
    grant: /^dynamodb:(GetRecords|GetShardIterator)$/,
    reason: "CDK's grantReadData adds stream reads; the table has no stream",
  },
  { grant: /^dynamodb:(Scan|ConditionCheckItem|DeleteItem|DescribeTable|BatchWriteItem)$/, reason: CDK_TABLE_GRANT },
  {
    grant: 'dynamodb:BatchGetItem',
    only: [STATE.prepareJob, STATE.finalizeJob, STATE.markJobFailed, LOCAL_PRINCIPALS.executionEnded, API_PRINCIPAL],
    reason: SHARED_TABLE_GRANT,
  },
  {
    grant: 'dynamodb:Query',
    only: [STATE.prepareJob, STATE.submitBatch, STATE.pollBatch, STATE.recordBatchFailure],
    reason: SHARED_TABLE_GRANT,
  },
  // Its log entry follows the sweep, which the run with no manifest ends early.
  { grant: 'dynamodb:PutItem', only: [STATE.markJobFailed, STATE.submitBatch], reason: SHARED_TABLE_GRANT },
  {
    grant: 'dynamodb:GetItem',
    only: [STATE.recordBatchFailure],
    reason:
      'in batch mode it reads the batch record to withdraw the provider batch; the failure run here is in responses mode',
  },
  {
    grant: `resource arn:aws:dynamodb:*:*:table/${LOCAL_TABLE}/index/*`,
    only: [
      STATE.prepareJob,
      STATE.submitBatch,
      STATE.pollBatch,
      STATE.recordBatchFailure,
      STATE.finalizeJob,
      STATE.markJobFailed,
      LOCAL_PRINCIPALS.executionEnded,
    ],
    reason: 'CDK grants the table with its indexes; only the API queries the jobs index',
  },
  {
    grant: /^s3:(PutObjectLegalHold|PutObjectRetention|PutObjectTagging|PutObjectVersionTagging)$/,
    reason: CDK_PUT_GRANT,
  },
  {
    grant: 's3:Abort*',
    reason:
      "CDK's grantPut adds it; only finalize-job's results writer calls it, to abort a failed multipart upload, which no run here has",
  },
  { grant: 's3:GetBucket*', reason: "CDK's grantRead adds bucket-level reads; the code reads objects only" },
  {
    grant: 's3:List*',
    only: [STATE.prepareJob, STATE.finalizeJob, LOCAL_PRINCIPALS.executionEnded],
    reason:
      'lets a read of a missing key answer NoSuchKey (a clear error) instead of AccessDenied; no run here reads a missing key as these',
  },
  {
    grant: `resource arn:aws:s3:::${LOCAL_BUCKET}`,
    only: [STATE.prepareJob, STATE.finalizeJob, LOCAL_PRINCIPALS.executionEnded],
    reason: 'the bucket itself, for s3:List* above',
  },
  {
    grant: 's3:PutObject',
    only: [STATE.submitBatch, STATE.pollBatch],
    reason:
      "stores an item's output in S3 when it is over 300 KB (shared/item-outcomes.ts); the mock's answers are short",
  },
  {
    grant: 'secretsmanager:GetSecretValue',
    only: [STATE.recordBatchFailure, STATE.markJobFailed],
    reason:
      'withdraws submitted work from the provider when the job got that far; no run here fails a job with items still at the provider',
  },
  { grant: 'secretsmanager:DescribeSecret', reason: "CDK's Secret.grantRead adds it; the code only reads the value" },
];

const nameOf = (grant: string | RegExp) => (typeof grant === 'string' ? grant : grant.source);
const asList = (value: string | string[]) => (Array.isArray(value) ? value : [value]);

/** The grants of one role's statements that no allowed request of the principal uses. */
function unusedGrantsOf(statements: readonly Statement[], requests: readonly IamRequest[]): string[] {
  const allowed = requests.filter((request) => evaluate(statements, request).allowed);
  return statements
    .filter((s) => s.Effect === 'Allow')
    .flatMap((statement) => {
      const resources = asList(statement.Resource);
      const actions = asList(statement.Action);
      const unusedActions = actions.filter(
        (action) =>
          !allowed.some(
            (r) =>
              actionMatches(action, r.action) && resources.some((resource) => resourceMatches(resource, r.resource)),
          ),
      );
      const unusedResources = resources.filter(
        (resource) =>
          !allowed.some(
            (r) => resourceMatches(resource, r.resource) && actions.some((action) => actionMatches(action, r.action)),
          ),
      );
      // A statement nothing uses is reported by its actions alone.
      if (unusedActions.length === actions.length) return unusedActions;
      return [...unusedActions, ...unusedResources.map((resource) => `resource ${resource}`)];
    });
}

function explained(principal: string, grant: string): AllowedUnused | undefined {
  return ALLOWED_UNUSED.find(
    (allowed) =>
      (allowed.only ?? [principal]).includes(principal) &&
      (typeof allowed.grant === 'string'
        ? grant === allowed.grant || resourceMatches(allowed.grant, grant)
        : allowed.grant.test(grant)),
  );
}

/**
 * Every grant of a function role that no recorded call used and ALLOWED_UNUSED does not explain,
 * as `<principal>: <grant>`. The state machine's role is left out: its grants serve Step Functions
 * itself (invoking the functions, child executions, logging), which makes no SDK call here.
 */
export function unusedGrants(policies: DeployedPolicies, requests: readonly IamRequest[]): string[] {
  return policies.principals
    .filter((principal) => principal !== LOCAL_PRINCIPALS.stateMachine)
    .flatMap((principal) =>
      unusedGrantsOf(
        policies.statementsOf(principal),
        requests.filter((r) => r.principal === principal),
      )
        .filter((grant) => !explained(principal, grant))
        .map((grant) => `${principal}: ${grant}`),
    );
}

/** ALLOWED_UNUSED entries that explain nothing any more (remove them). */
export function staleReasons(policies: DeployedPolicies, requests: readonly IamRequest[]): string[] {
  const used = new Set<AllowedUnused>();
  for (const principal of policies.principals.filter((p) => p !== LOCAL_PRINCIPALS.stateMachine)) {
    for (const grant of unusedGrantsOf(
      policies.statementsOf(principal),
      requests.filter((r) => r.principal === principal),
    )) {
      const reason = explained(principal, grant);
      if (reason) used.add(reason);
    }
  }
  return ALLOWED_UNUSED.filter((allowed) => !used.has(allowed)).map((allowed) => nameOf(allowed.grant));
}
