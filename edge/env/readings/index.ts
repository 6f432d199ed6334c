export * from './reading.ts';
export * from './range.ts';
