import { App, type CfnResource, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { LlmBatchStack } from '../../infra/llm-batch-stack.js';
import type { JobSchedule } from '../../infra/schedules.js';
import { readStackConfig } from '../../infra/stack-config.js';

/** An app that does not bundle (no esbuild run) and renders resultWriterV2 as deployed. */
export function testApp(context: Record<string, unknown> = {}): App {
  return new App({
    context: {
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true,
      ...context,
    },
  });
}

/** The stack as app.ts builds it in `app`, from the app's context and optional schedules. */
export function buildStack(app: App, schedules: readonly JobSchedule[] = []): LlmBatchStack {
  return new LlmBatchStack(app, 'LlmBatch', {
    config: readStackConfig(app.node.getAllContext() as Record<string, unknown>),
    schedules,
  });
}

/** The stack from context (as `-c` passes it) and optional schedules, with its template. */
export function synth(context: Record<string, unknown> = {}, schedules: readonly JobSchedule[] = []) {
  const app = testApp(context);
  const stack = buildStack(app, schedules);
  return { app, stack, template: Template.fromStack(stack) };
}

export interface CfnJson {
  Type: string;
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

export function resources(template: Template, type: string): Record<string, CfnJson> {
  return template.findResources(type) as Record<string, CfnJson>;
}

export function logicalId(stack: Stack, element: unknown): string {
  return stack.getLogicalId(element as CfnResource);
}

export function actionsOf(statements: Statement[]): string[] {
  return statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

/** The statements of every IAM policy attached to the role. */
export function statementsOfRole(stack: Stack, template: Template, role: IRole | undefined): Statement[] {
  if (!role) throw new Error('no role');
  const roleId = logicalId(stack, role.node.defaultChild);
  return Object.values(resources(template, 'AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
