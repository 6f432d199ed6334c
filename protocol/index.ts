export * from './topics.ts';
export * from './ids.ts';
export * from './schemas.ts';
export * from './validate.ts';
