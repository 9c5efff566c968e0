/** A Mermaid flowchart of an ASL definition, so a run can be followed away from the console. */

import type { AslMachine } from '../../workflows/asl-shape.js';

function label(text: string): string {
  return text.replace(/"/g, '#quot;');
}

export function toMermaid(definition: AslMachine): string {
  const lines = ['flowchart TD'];
  const ids = new Map<string, string>();
  const idOf = (scope: string, name: string) => {
    const key = `${scope}/${name}`;
    let id = ids.get(key);
    if (!id) {
      id = `s${ids.size}`;
      ids.set(key, id);
    }
    return id;
  };

  const render = (machine: AslMachine, scope: string, indent: string) => {
    const start = `${scope}__start`;
    lines.push(`${indent}${start}(( ))`);
    lines.push(`${indent}${start} --> ${idOf(scope, machine.StartAt)}`);
    for (const [name, state] of Object.entries(machine.States)) {
      const id = idOf(scope, name);
      const processor = state.ItemProcessor ?? state.Iterator;
      if (processor) {
        lines.push(`${indent}subgraph ${id} ["${label(name)} (${state.Type})"]`);
        render(processor, `${scope}/${name}`, `${indent}  `);
        lines.push(`${indent}end`);
      } else if (state.Type === 'Choice') {
        lines.push(`${indent}${id}{"${label(name)}"}`);
      } else if (state.Type === 'Succeed' || state.Type === 'Fail') {
        lines.push(`${indent}${id}(["${label(name)}"])`);
      } else if (state.Type === 'Wait') {
        lines.push(`${indent}${id}[/"${label(name)}"/]`);
      } else {
        lines.push(`${indent}${id}["${label(name)}"]`);
      }
      if (state.Next) lines.push(`${indent}${id} --> ${idOf(scope, state.Next)}`);
      for (const choice of state.Choices ?? []) lines.push(`${indent}${id} -->|yes| ${idOf(scope, choice.Next)}`);
      if (state.Default) lines.push(`${indent}${id} -->|no| ${idOf(scope, state.Default)}`);
      for (const handler of state.Catch ?? [])
        lines.push(`${indent}${id} -.->|catch ${label(handler.ErrorEquals.join(', '))}| ${idOf(scope, handler.Next)}`);
    }
  };
  render(definition, 'root', '  ');
  return `${lines.join('\n')}\n`;
}
