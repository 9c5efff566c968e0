/**
 * A DISTRIBUTED Map's fields, read into the plan its local handler runs (see distributed-map.ts):
 * items source, selector, batcher, concurrency, tolerated failures and result writer. Refuses
 * what that handler cannot honour. The ItemProcessor's states are the loader's to walk.
 */
import { isRecord } from '../../shared/is-record.js';
import { FieldChecks, REFUSED, type Scope } from './definition-checks.js';
import type { AslMachine, AslState, DistributedMapPlan, ItemBatcherPlan, ItemReaderPlan } from './definition-plans.js';

export class DistributedMapPlanReader extends FieldChecks {
  /** `config` is the ItemProcessor's ProcessorConfig; `processor` becomes the plan's child machine. */
  read(
    name: string,
    state: AslState,
    processor: AslMachine,
    config: Record<string, unknown>,
    scope: Scope,
  ): DistributedMapPlan {
    for (const field of [
      'ItemsPath',
      'MaxConcurrencyPath',
      'ToleratedFailurePercentagePath',
      'ToleratedFailureCountPath',
    ]) {
      this.checkPath(name, state, field, scope);
    }
    const selector = state.ItemSelector ?? state.Parameters;
    this.checkTemplate(name, selector, state.ItemSelector !== undefined ? 'ItemSelector' : 'Parameters', scope);
    const executionType = config.ExecutionType ?? 'STANDARD';
    if (executionType !== 'STANDARD' && executionType !== 'EXPRESS') {
      this.refuse(
        name,
        'ItemProcessor.ProcessorConfig.ExecutionType',
        `unknown execution type ${JSON.stringify(executionType)}`,
        scope,
      );
    }
    const plan: DistributedMapPlan = {
      stateName: name,
      label: typeof state.Label === 'string' ? state.Label : name.replace(/[^A-Za-z0-9_-]/g, '-'),
      executionType,
      processor: { definition: processor, handlerStates: [] },
    };
    if (typeof state.ItemsPath === 'string') plan.itemsPath = state.ItemsPath;
    if (selector !== undefined) plan.itemSelector = selector;
    this.numberField(name, state, 'MaxConcurrency', scope, (v) => (plan.maxConcurrency = v), true);
    if (typeof state.MaxConcurrencyPath === 'string') plan.maxConcurrencyPath = state.MaxConcurrencyPath;
    this.numberField(
      name,
      state,
      'ToleratedFailurePercentage',
      scope,
      (v) => (plan.toleratedFailurePercentage = v),
      false,
      100,
    );
    if (typeof state.ToleratedFailurePercentagePath === 'string')
      plan.toleratedFailurePercentagePath = state.ToleratedFailurePercentagePath;
    this.numberField(name, state, 'ToleratedFailureCount', scope, (v) => (plan.toleratedFailureCount = v), true);
    if (typeof state.ToleratedFailureCountPath === 'string')
      plan.toleratedFailureCountPath = state.ToleratedFailureCountPath;
    if (state.ItemReader !== undefined) plan.itemReader = this.itemReader(name, state.ItemReader, scope);
    if (state.ItemBatcher !== undefined) plan.itemBatcher = this.itemBatcher(name, state.ItemBatcher, scope);
    if (state.ResultWriter !== undefined) plan.resultWriter = this.resultWriter(name, state.ResultWriter, scope);
    if (plan.itemReader && plan.itemsPath !== undefined)
      this.refuse(name, 'ItemsPath', 'ItemsPath and ItemReader exclude each other', scope);
    return plan;
  }

  private itemReader(name: string, reader: unknown, scope: Scope): ItemReaderPlan {
    if (!isRecord(reader)) return this.refuse(name, 'ItemReader', 'must be an object', scope);
    for (const field of Object.keys(reader)) {
      if (!['Resource', 'ReaderConfig', 'Parameters'].includes(field))
        this.refuse(name, `ItemReader.${field}`, REFUSED[field] ?? 'not honoured', scope);
    }
    if (reader.Resource !== 'arn:aws:states:::s3:getObject') {
      this.refuse(
        name,
        'ItemReader.Resource',
        `only arn:aws:states:::s3:getObject (a JSON or JSONL object) is read locally, not ${JSON.stringify(reader.Resource)}`,
        scope,
      );
    }
    const config = isRecord(reader.ReaderConfig) ? reader.ReaderConfig : {};
    for (const field of Object.keys(config)) {
      if (!['InputType', 'MaxItems', 'MaxItemsPath'].includes(field)) {
        this.refuse(
          name,
          `ItemReader.ReaderConfig.${field}`,
          'only InputType JSON/JSONL and MaxItems(Path) are honoured locally',
          scope,
        );
      }
    }
    const inputType = config.InputType ?? 'JSON';
    if (inputType !== 'JSON' && inputType !== 'JSONL') {
      this.refuse(
        name,
        'ItemReader.ReaderConfig.InputType',
        `only JSON and JSONL are read locally, not ${JSON.stringify(inputType)}`,
        scope,
      );
    }
    const parameters = isRecord(reader.Parameters) ? reader.Parameters : {};
    for (const field of Object.keys(parameters)) {
      if (!['Bucket', 'Bucket.$', 'Key', 'Key.$'].includes(field))
        this.refuse(name, `ItemReader.Parameters.${field}`, 'only Bucket and Key are honoured locally', scope);
    }
    if (!('Bucket' in parameters || 'Bucket.$' in parameters) || !('Key' in parameters || 'Key.$' in parameters)) {
      this.refuse(name, 'ItemReader.Parameters', 'needs Bucket and Key', scope);
    }
    this.checkTemplate(name, parameters, 'ItemReader.Parameters', scope);
    const plan: ItemReaderPlan = { inputType, parameters };
    this.numberField(name, config, 'MaxItems', scope, (v) => (plan.maxItems = v), true);
    this.checkPath(name, config, 'MaxItemsPath', scope, 'ItemReader.ReaderConfig.MaxItemsPath');
    if (typeof config.MaxItemsPath === 'string') plan.maxItemsPath = config.MaxItemsPath;
    return plan;
  }

  private itemBatcher(name: string, batcher: unknown, scope: Scope): ItemBatcherPlan {
    if (!isRecord(batcher)) return this.refuse(name, 'ItemBatcher', 'must be an object', scope);
    const plan: ItemBatcherPlan = {};
    for (const field of Object.keys(batcher)) {
      if (
        ![
          'MaxItemsPerBatch',
          'MaxItemsPerBatchPath',
          'MaxInputBytesPerBatch',
          'MaxInputBytesPerBatchPath',
          'BatchInput',
        ].includes(field)
      ) {
        this.refuse(name, `ItemBatcher.${field}`, REFUSED[field] ?? 'not honoured', scope);
      }
    }
    this.numberField(name, batcher, 'MaxItemsPerBatch', scope, (v) => (plan.maxItemsPerBatch = v), true);
    this.numberField(name, batcher, 'MaxInputBytesPerBatch', scope, (v) => (plan.maxInputBytesPerBatch = v), true);
    for (const field of ['MaxItemsPerBatchPath', 'MaxInputBytesPerBatchPath'])
      this.checkPath(name, batcher, field, scope, `ItemBatcher.${field}`);
    if (typeof batcher.MaxItemsPerBatchPath === 'string') plan.maxItemsPerBatchPath = batcher.MaxItemsPerBatchPath;
    if (typeof batcher.MaxInputBytesPerBatchPath === 'string')
      plan.maxInputBytesPerBatchPath = batcher.MaxInputBytesPerBatchPath;
    if (batcher.BatchInput !== undefined) {
      this.checkTemplate(name, batcher.BatchInput, 'ItemBatcher.BatchInput', scope);
      plan.batchInput = batcher.BatchInput;
    }
    return plan;
  }

  private resultWriter(name: string, writer: unknown, scope: Scope): { parameters: Record<string, unknown> } {
    if (!isRecord(writer)) return this.refuse(name, 'ResultWriter', 'must be an object', scope);
    for (const field of Object.keys(writer)) {
      if (!['Resource', 'Parameters'].includes(field))
        this.refuse(name, `ResultWriter.${field}`, REFUSED[field] ?? 'not honoured', scope);
    }
    if (writer.Resource !== 'arn:aws:states:::s3:putObject') {
      this.refuse(
        name,
        'ResultWriter.Resource',
        `only arn:aws:states:::s3:putObject is written locally, not ${JSON.stringify(writer.Resource)}`,
        scope,
      );
    }
    const parameters = isRecord(writer.Parameters) ? writer.Parameters : {};
    for (const field of Object.keys(parameters)) {
      if (!['Bucket', 'Bucket.$', 'Prefix', 'Prefix.$'].includes(field))
        this.refuse(name, `ResultWriter.Parameters.${field}`, 'only Bucket and Prefix are honoured locally', scope);
    }
    if (!('Bucket' in parameters || 'Bucket.$' in parameters))
      this.refuse(name, 'ResultWriter.Parameters', 'needs a Bucket', scope);
    this.checkTemplate(name, parameters, 'ResultWriter.Parameters', scope);
    return { parameters };
  }
}
