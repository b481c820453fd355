export * from './errors';
export * from './events';
export * from './roles';
export * from './schemas';
