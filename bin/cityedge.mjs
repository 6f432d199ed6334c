#!/usr/bin/env node
// Entry shim: registers the TypeScript loader (tsx) and runs the CLI.
import { register } from 'tsx/esm/api';
register();
await import('../cli/main.ts');
