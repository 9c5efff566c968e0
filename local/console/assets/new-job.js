// Start a job: a JSONL file, a job type and options, sent as POST /jobs with the items inline.
import { ApiError, clearError, h, postJson, showError } from './api.js';

/** The job type a file's first line suggests, as `llm-batch run` guesses it. */
function guessJobType(first) {
  if (first && typeof first === 'object') {
    if ('custom_id' in first) return 'openai-batch';
    if ('prompt' in first) return 'prompt';
    if ('text' in first) return 'classify';
  }
  return 'openai-batch';
}

/** The file's items, with each item's line number; lines that are not JSON are problems, as the CLI reports them. */
function parseJsonl(text, fileName) {
  const items = [];
  const lineOf = [];
  const problems = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((line, index) => {
      if (!line.trim()) return;
      try {
        items.push(JSON.parse(line));
        lineOf.push(index + 1);
      } catch (error) {
        problems.push(`${fileName}: line ${index + 1}: not valid JSON (${error.message})`);
      }
    });
  if (!items.length && !problems.length) problems.push(`${fileName}: no items: the file is empty`);
  return { items, lineOf, problems };
}

/** The API's issues, with `items[i]` turned back into the file's line number. */
function issueLines(error, fileName, lineOf) {
  const issues = error.issues.length ? error.issues : [{ where: error.code, message: error.message }];
  return issues.map(({ where, message }) => {
    const item = /^items\[(\d+)\](.*)$/.exec(where || '');
    const line = item ? lineOf[Number(item[1])] : undefined;
    return line ? `${fileName}: line ${line}${item[2]}: ${message}` : `${where}: ${message}`;
  });
}

const field = (label, input, hint) =>
  h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', { class: 'muted' }, hint) : null);

export function newJobPage(view) {
  const file = h('input', { type: 'file', name: 'file', accept: '.jsonl,.ndjson,.json,.txt', required: true });
  const jobType = h(
    'select',
    { name: 'jobType' },
    h('option', { value: '' }, 'guess from the first line'),
    ['openai-batch', 'prompt', 'classify'].map((name) => h('option', { value: name }, name)),
  );
  const model = h('input', { name: 'model', value: 'gpt-4.1-mini' });
  const mode = h('select', { name: 'mode' }, h('option', {}, 'responses'), h('option', {}, 'batch'));
  const batchSize = h('input', { name: 'batchSize', type: 'number', min: 1, placeholder: 'mode default' });
  const maxConcurrency = h('input', { name: 'maxConcurrency', type: 'number', min: 1, placeholder: 'mode default' });
  const params = h('textarea', { name: 'params', rows: 3, placeholder: '{"labels": ["ok", "spam"]}' });
  const problems = h('ul', { class: 'problems', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Start job');

  const report = (lines) => {
    problems.replaceChildren(...lines.map((line) => h('li', {}, line)));
    problems.hidden = lines.length === 0;
  };

  const form = h(
    'form',
    {
      class: 'new-job',
      onsubmit: async (event) => {
        event.preventDefault();
        report([]);
        clearError();
        const chosen = file.files[0];
        if (!chosen) return report(['choose a JSONL file']);
        const { items, lineOf, problems: bad } = parseJsonl(await chosen.text(), chosen.name);
        if (bad.length) return report(['invalid input, no job was created:', ...bad]);
        const options = { mode: mode.value, model: model.value };
        if (batchSize.value) options.batchSize = Number(batchSize.value);
        if (maxConcurrency.value) options.maxConcurrency = Number(maxConcurrency.value);
        if (params.value.trim()) {
          try {
            options.params = JSON.parse(params.value);
          } catch (error) {
            return report([`params: not valid JSON (${error.message})`]);
          }
        }
        submit.disabled = true;
        try {
          const job = await postJson('/jobs', { jobType: jobType.value || guessJobType(items[0]), options, items });
          location.hash = `#/jobs/${encodeURIComponent(job.jobId)}`;
        } catch (error) {
          if (error instanceof ApiError && error.status >= 400 && error.status < 500)
            report([
              `invalid input, no job was created (${error.status} ${error.code}):`,
              ...issueLines(error, chosen.name, lineOf),
            ]);
          else showError(error, 'POST /jobs');
        } finally {
          submit.disabled = false;
        }
      },
    },
    field('Items (JSONL)', file, 'OpenAI Batch request lines, {"id","prompt"} or {"id","text"} lines'),
    field('Job type', jobType),
    h('div', { class: 'row' }, field('Model', model), field('Mode', mode)),
    h('div', { class: 'row' }, field('Batch size', batchSize), field('Max concurrency', maxConcurrency)),
    field('Params (JSON)', params, 'job-type params, e.g. labels for classify'),
    problems,
    h('div', {}, submit),
  );
  view.append(h('h1', {}, 'Start a job'), form);
  return () => undefined;
}
