// Opens ingest's dead-letter store read-side for the CLI (`testbed dead-letters`).
import { DeadLetterStore } from '../ingest/dead-letters.ts';

export function openDeadLetters(dataDir: string): DeadLetterStore {
  return new DeadLetterStore(dataDir);
}
