import { renderJobWorkflowAsl } from './render-asl.js';

// `npm run asl`: the definition the stack deploys, as plain ASL.
process.stdout.write(`${JSON.stringify(renderJobWorkflowAsl(), null, 2)}\n`);
