import { describe, expect, test } from '@jest/globals';
import { actionsOf, logicalId, statementsOfRole, synth, type Statement } from './support.js';

/** The state machine's own redrive grant (the API's is checked with its other grants in api-and-schedules.test.ts). */
describe('redrive grants', () => {
  const { stack, template } = synth();
  const machineId = logicalId(stack, stack.stateMachine.node.defaultChild);
  /** The ARN pattern `execution:<the state machine's name><suffix>`, as CDK renders it. */
  const executions = (suffix: string) => ({
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':states:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        ':execution:',
        { 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: machineId }] }] },
        suffix,
      ],
    ],
  });
  const granting = (statements: Statement[], action: string) =>
    statements.filter((s) => actionsOf([s]).includes(action));

  test("GIVEN the stack WHEN its state machine's role is read THEN it may redrive only its Distributed Map's child executions (label Batches)", () => {
    const machine = statementsOfRole(stack, template, stack.stateMachine.role);

    expect(granting(machine, 'states:RedriveExecution').map((s) => s.Resource)).toEqual([executions('/Batches:*')]);
  });
});
