export * from './errors';
export * from './events';
export * from './roles';
export * from './schemas';
export * from './frame-limits';
export * from './token-bucket';
