#!/usr/bin/env node
// The testbed CLI. Sources are TypeScript run through Node's built-in type stripping
// (Node >= 22.18), so there is no build step: what is in the repository is what runs.
import '../cli/main.ts';
