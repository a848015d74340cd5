// Which entity each table stores. Columns and codecs come from the schemas (rows.ts).

import { Table } from './rows.ts';
import {
  Absence,
  Assignment,
  AuditEntry,
  Device,
  Gateway,
  Home,
  Organisation,
  Participant,
  Site,
  Token,
  Trial,
  User,
} from './schemas/index.ts';

export const organisations = new Table('organisations', Organisation);
export const sites = new Table('sites', Site);
export const trials = new Table('trials', Trial, { notStored: ['siteIds'] });
export const homes = new Table('homes', Home);
export const participants = new Table('participants', Participant);
export const absences = new Table('absences', Absence);
export const devices = new Table('devices', Device);
export const assignments = new Table('assignments', Assignment);
export const gateways = new Table('gateways', Gateway);
export const users = new Table('users', User);
export const tokens = new Table('api_tokens', Token);
export const auditLog = new Table('audit_log', AuditEntry);
