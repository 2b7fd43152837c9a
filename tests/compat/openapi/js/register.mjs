// `node --import ./register.mjs`: installs loader.mjs (see there).
import { register } from 'node:module';

register('./loader.mjs', import.meta.url);
