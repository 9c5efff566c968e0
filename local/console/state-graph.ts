/**
 * The state machine as the console draws it: each machine's states and transitions, with a Map's
 * ItemProcessor nested in its state. Read from the rendered definition, so the console shows the
 * states (and names) the engine runs.
 */

import type { AslMachine } from '../../workflows/asl-shape.js';

export type EdgeKind = 'next' | 'choice' | 'default' | 'catch';

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  label?: string;
}

export interface GraphState {
  name: string;
  type: string;
  /** A Map's ItemProcessor (one child execution per batch). */
  processor?: GraphMachine;
}

export interface GraphMachine {
  startAt: string;
  states: GraphState[];
  edges: GraphEdge[];
}

export function stateGraph(definition: AslMachine): GraphMachine {
  const states: GraphState[] = [];
  const edges: GraphEdge[] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    const processor = state.ItemProcessor ?? state.Iterator;
    states.push({ name, type: state.Type, ...(processor ? { processor: stateGraph(processor) } : {}) });
    if (state.Next) edges.push({ from: name, to: state.Next, kind: 'next' });
    for (const choice of state.Choices ?? []) edges.push({ from: name, to: choice.Next, kind: 'choice' });
    if (state.Default) edges.push({ from: name, to: state.Default, kind: 'default', label: 'default' });
    for (const handler of state.Catch ?? [])
      edges.push({ from: name, to: handler.Next, kind: 'catch', label: `catch ${handler.ErrorEquals.join(', ')}` });
  }
  return { startAt: definition.StartAt, states, edges };
}
