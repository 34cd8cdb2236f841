// The compute domain (training runs, backends, usage). Other domains import it only through this
// file (lint: layers/imports). Minimal for now: what models/ needs to register a run's outputs.
export { getRun, type RunRow } from './runs/service.js';
