/** The parts of a rendered ASL definition that the graph drawings read (console and Mermaid). */
export interface AslState {
  Type: string;
  Next?: string;
  Default?: string;
  Choices?: { Next: string }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  ItemProcessor?: AslMachine;
  Iterator?: AslMachine;
}

export interface AslMachine {
  StartAt: string;
  States: Record<string, AslState>;
}
