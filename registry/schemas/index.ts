// One TypeBox schema per entity: the TS type (Static), the API's validation and docs, the row
// codec (tables.ts) and the trial file's enums all come from here.

export * from './enums.ts';
export * from './organisations.ts';
export * from './trials.ts';
export * from './homes.ts';
export * from './participants.ts';
export * from './devices.ts';
export * from './gateways.ts';
export * from './users.ts';
export * from './audit.ts';
