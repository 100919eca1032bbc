/** Entry point of `npm start`: runs the main job and turns errors into a message and an exit code. */
import { main } from './main.js';

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    const err = e as Error;
    const usage = err.name === 'UsageError';
    process.stderr.write(`\nerror: ${err.message}${usage ? '\n(see --help)' : ''}\n`);
    process.exit(usage ? 2 : 1);
  },
);
