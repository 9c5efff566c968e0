import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag 3 reads acknowledgments from construct metadata (`Validations.of(scope).acknowledge`);
 * there is no NagSuppressions and no wildcard matching. A rule that reports one finding per
 * wildcard (IAM5) is acknowledged finding by finding, as `AwsSolutions-IAM5[<finding>]`.
 */

/** The shortest reason we accept: it must say why this case is fine, not just name the rule. */
export const MIN_REASON_LENGTH = 30;

/**
 * Acknowledges an AwsSolutions rule on `scope` and everything under it. Keep the scope as narrow
 * as the finding (the one resource or role), and the reason specific to it.
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  if (!/^AwsSolutions-[A-Z]+[0-9]+(\[.+\])?$/.test(rule)) {
    throw new Error(
      `acknowledge: "${rule}" is not an AwsSolutions rule id (e.g. AwsSolutions-S1 or AwsSolutions-IAM5[Resource::*])`,
    );
  }
  if (reason.trim().length < MIN_REASON_LENGTH) {
    throw new Error(
      `acknowledge ${rule} on ${scope.node.path}: give a reason of at least ${MIN_REASON_LENGTH} characters that says why it is fine here`,
    );
  }
  Validations.of(scope).acknowledge({ id: rule, reason });
}

/** Acknowledges one IAM5 (wildcard) finding, e.g. `Resource::*` or `Action::s3:GetObject*`. */
export function acknowledgeWildcard(scope: IConstruct, finding: string, reason: string): void {
  acknowledge(scope, `AwsSolutions-IAM5[${finding}]`, reason);
}

/**
 * The IAM5 finding for a policy resource, written as cdk-nag writes it: intrinsics become
 * `<LogicalId.Attr>` (GetAtt) and `<LogicalId>` (Ref), joins are concatenated. `suffix` is
 * appended as is, e.g. `nagResource(bucket, bucket.bucketArn, '/jobs/*')`.
 */
export function nagResource(scope: IConstruct, arn: string, suffix = ''): string {
  return `Resource::${flatten(Stack.of(scope).resolve(arn))}${suffix}`;
}

function flatten(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof node !== 'object' || node === null) return JSON.stringify(node);
  const value = node as Record<string, unknown>;
  const join = value['Fn::Join'] as [string, unknown[]] | undefined;
  if (join) return join[1].map(flatten).join(join[0]);
  const getAtt = value['Fn::GetAtt'] as [unknown, unknown] | undefined;
  if (getAtt) return `<${flatten(getAtt[0])}.${flatten(getAtt[1])}>`;
  if (value.Ref !== undefined) return `<${flatten(value.Ref)}>`;
  return JSON.stringify(node);
}

/** Every acknowledgment recorded under `scope`: where, which rule, and the reason given. */
export function acknowledgmentsUnder(scope: IConstruct): { path: string; rule: string; reason: string }[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([rule, reason]) => ({
          path: construct.node.path,
          rule: rule.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}
