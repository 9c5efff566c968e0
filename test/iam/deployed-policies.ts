import type { CfnResource } from 'aws-cdk-lib';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import type { TaskFunctions } from '../../infra/llm-batch-stack.js';
import {
  LOCAL_ACCOUNT,
  LOCAL_BUCKET,
  LOCAL_PRINCIPALS,
  LOCAL_REGION,
  LOCAL_STATE_MACHINE_ARN,
  LOCAL_TABLE,
} from '../../local/local-stack.js';
import { STATE } from '../../workflows/state-names.js';
import { resources, synth } from '../infra/support.js';
import type { Statement } from './policy-evaluator.js';

/** The principal the test runs the HTTP API handler as (the local runtime serves it unattributed). */
export const API_PRINCIPAL = 'Api';

/** Which deployed function each principal of the local runtime is. */
const FUNCTION_OF: Record<string, keyof TaskFunctions> = {
  [STATE.prepareJob]: 'prepareJob',
  [STATE.submitBatch]: 'submitBatch',
  [STATE.pollBatch]: 'pollBatch',
  [STATE.recordBatchFailure]: 'recordBatchFailure',
  [STATE.finalizeJob]: 'finalizeJob',
  [STATE.markJobFailed]: 'markJobFailed',
  [LOCAL_PRINCIPALS.executionEnded]: 'executionEnded',
  [API_PRINCIPAL]: 'api',
};

/** The ARN the local runtime's secret stands for (the local runtime passes the key itself). */
export const LOCAL_SECRET_ARN = `arn:aws:secretsmanager:${LOCAL_REGION}:${LOCAL_ACCOUNT}:secret:llm-batch/openai-api-key-AbCdEf`;

export interface DeployedPolicies {
  /** The identity-policy statements of each principal's role, intrinsics resolved to the local names. */
  statementsOf(principal: string): Statement[];
  /** Every principal with a role: the eight functions and the state machine. */
  principals: string[];
}

/**
 * The stack as deployed (test/infra/support.ts synth), with every role's policies read from the
 * template and CloudFormation intrinsics resolved to the names the local runtime uses: the table,
 * the bucket, the state machine and the secret map to their local ARNs, the functions to
 * `function:<logical id>`, anything else to an ARN no call can match.
 */
export function deployedPolicies(): DeployedPolicies {
  const { stack, template } = synth();
  const id = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnResource);
  const known: Record<string, { Ref: string; Arn?: string; Name?: string }> = {
    [id(stack.table)]: {
      Ref: LOCAL_TABLE,
      Arn: `arn:aws:dynamodb:${LOCAL_REGION}:${LOCAL_ACCOUNT}:table/${LOCAL_TABLE}`,
    },
    [id(stack.bucket)]: { Ref: LOCAL_BUCKET, Arn: `arn:aws:s3:::${LOCAL_BUCKET}` },
    [id(stack.stateMachine)]: { Ref: LOCAL_STATE_MACHINE_ARN, Name: LOCAL_STATE_MACHINE_ARN.split(':').pop() ?? '' },
    [id(stack.openAiKey)]: { Ref: LOCAL_SECRET_ARN },
  };
  for (const task of Object.values(stack.functions) as { fn: IConstruct }[]) {
    const logicalId = id(task.fn);
    known[logicalId] = { Ref: logicalId, Arn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${logicalId}` };
  }
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': LOCAL_REGION,
    'AWS::AccountId': LOCAL_ACCOUNT,
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const resolve = (node: unknown): unknown =>
    resolveIntrinsics(node, (logicalId, attribute) => {
      const value = pseudo[logicalId] ?? known[logicalId]?.[attribute as 'Ref'];
      return value ?? `arn:unresolved:${logicalId}.${attribute}`;
    });

  const roles: Record<string, IRole | undefined> = { [LOCAL_PRINCIPALS.stateMachine]: stack.stateMachine.role };
  for (const [principal, fn] of Object.entries(FUNCTION_OF)) roles[principal] = stack.functions[fn].role;
  const policies = resources(template, 'AWS::IAM::Policy');
  const roleResources = resources(template, 'AWS::IAM::Role');
  return {
    principals: Object.keys(roles),
    statementsOf(principal) {
      const role = roles[principal];
      if (!role) throw new Error(`no deployed role for principal "${principal}"`);
      const roleId = id(role);
      const { Policies = [], ManagedPolicyArns = [] } = (roleResources[roleId]?.Properties ?? {}) as {
        Policies?: { PolicyDocument: unknown }[];
        ManagedPolicyArns?: unknown[];
      };
      if (ManagedPolicyArns.length > 0)
        throw new Error(`role ${roleId} has managed policies, which this test cannot read`);
      const documents = [
        ...Policies.map((policy) => policy.PolicyDocument),
        ...Object.values(policies)
          .filter((policy) => (policy.Properties.Roles as { Ref?: string }[]).some((ref) => ref.Ref === roleId))
          .map((policy) => policy.Properties.PolicyDocument),
      ];
      return documents.flatMap((document) => (resolve(document) as { Statement: Statement[] }).Statement);
    },
  };
}

type Lookup = (logicalId: string, attribute: string) => string;

/** Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split and Fn::Sub (`${Name}` and `${Name.Attr}` only). */
export function resolveIntrinsics(node: unknown, lookup: Lookup): unknown {
  const go = (value: unknown): unknown => resolveIntrinsics(value, lookup);
  if (Array.isArray(node)) return node.map(go);
  if (typeof node !== 'object' || node === null) return node;
  const value = node as Record<string, unknown>;
  const [key] = Object.keys(value);
  if (Object.keys(value).length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
    const args = go(value[key]);
    switch (key) {
      case 'Ref':
        return lookup(String(args), 'Ref');
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = Array.isArray(args) ? (args as unknown[]) : String(args).split('.');
        return lookup(String(logicalId), String(attribute));
      }
      case 'Fn::Join': {
        const [separator, parts] = args as [string, unknown[]];
        return parts.map(String).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = args as [number | string, unknown[]];
        return list[Number(index)];
      }
      case 'Fn::Split': {
        const [separator, text] = args as [string, string];
        return text.split(separator);
      }
      case 'Fn::Sub':
        return String(args).replace(/\$\{([^}.]+)(?:\.([^}]+))?\}/g, (_, logicalId: string, attribute?: string) =>
          lookup(logicalId, attribute ?? 'Ref'),
        );
      default:
        throw new Error(`unsupported intrinsic ${key}`);
    }
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, go(v)]));
}
