import { UnknownJobTypeError } from '../errors.js';
import { classifyJobType } from './classify.js';
import type { JobType } from './job-type.js';
import { openaiBatchJobType } from './openai-batch.js';
import { promptJobType } from './prompt.js';

/** Job types by name. */
export class JobTypeRegistry {
  readonly #types = new Map<string, JobType>();

  /** Throws if a job type with that name is already registered. */
  register(type: JobType): void {
    if (this.#types.has(type.name)) {
      throw new Error(`job type "${type.name}" is already registered`);
    }
    this.#types.set(type.name, type);
  }

  /** Throws UnknownJobTypeError (listing the registered names) for a name not registered. */
  get(name: string): JobType {
    const type = this.#types.get(name);
    if (!type) throw new UnknownJobTypeError(name, this.names());
    return type;
  }

  /** Registered names, in registration order. */
  names(): string[] {
    return [...this.#types.keys()];
  }
}

/** A registry holding the built-in job types: openai-batch, prompt and classify. */
export function createDefaultRegistry(): JobTypeRegistry {
  const registry = new JobTypeRegistry();
  registry.register(openaiBatchJobType);
  registry.register(promptJobType);
  registry.register(classifyJobType);
  return registry;
}
