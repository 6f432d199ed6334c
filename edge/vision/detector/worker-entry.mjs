// Worker bootstrap: registers the tsx loader inside this worker thread, then runs worker.ts.
import { register } from 'tsx/esm/api';
register();
await import('./worker.ts');
