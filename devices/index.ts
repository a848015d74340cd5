// devices/: the catalogue and the wire contract. The one module every role imports.
export * from './catalogue.ts';
export * from './contract.ts';
export * from './channels.ts';
export { dataDictionary } from './dictionary.ts';
